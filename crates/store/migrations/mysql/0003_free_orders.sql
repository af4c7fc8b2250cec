-- Free orders are paid without a provider and leave a zero charge in the ledger, so that every
-- paid order has its charge: amounts may be zero, never negative. In MariaDB a column's CHECK
-- belongs to the column definition, so redefining the column drops it.
ALTER TABLE ledger MODIFY amount_cents BIGINT NOT NULL;
ALTER TABLE ledger ADD CONSTRAINT ledger_amount_not_negative CHECK (amount_cents >= 0);
