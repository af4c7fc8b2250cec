-- Free orders are paid without a provider and leave a zero charge in the ledger, so that every
-- paid order has its charge: amounts may be zero, never negative. SQLite cannot change a CHECK
-- in place, so the table is rebuilt.
CREATE TABLE ledger_new (
    id           TEXT PRIMARY KEY,
    payment_id   TEXT NOT NULL REFERENCES payments (id),
    order_id     TEXT REFERENCES orders (id),
    kind         TEXT NOT NULL CHECK (kind IN ('charge', 'refund')),
    amount_cents INTEGER NOT NULL CHECK (amount_cents >= 0),
    currency     TEXT NOT NULL,
    provider_ref TEXT NOT NULL,
    created_at   INTEGER NOT NULL
);
INSERT INTO ledger_new (id, payment_id, order_id, kind, amount_cents, currency, provider_ref, created_at)
    SELECT id, payment_id, order_id, kind, amount_cents, currency, provider_ref, created_at FROM ledger;
DROP TABLE ledger;
ALTER TABLE ledger_new RENAME TO ledger;
-- The rebuilt table needs its indexes again (0002 added the one by order).
CREATE INDEX ledger_by_payment ON ledger (payment_id);
CREATE INDEX ledger_by_order ON ledger (order_id);
