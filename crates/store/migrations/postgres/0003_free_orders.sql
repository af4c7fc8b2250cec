-- Free orders are paid without a provider and leave a zero charge in the ledger, so that every
-- paid order has its charge: amounts may be zero, never negative.
ALTER TABLE ledger DROP CONSTRAINT IF EXISTS ledger_amount_cents_check;
ALTER TABLE ledger ADD CONSTRAINT ledger_amount_not_negative CHECK (amount_cents >= 0);
