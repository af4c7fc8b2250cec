-- The e-mail outbox: a message is a row written in the same transaction as the sale or refund it
-- tells of, so that no committed sale goes unmailed and no rolled-back one is mailed. A background
-- task on any instance claims due rows with a lease, sends them and marks them sent.
-- `due_at` is when the row may next be claimed: its next attempt while pending, the end of its
-- lease while an instance sends it, NULL once it is sent or has failed for good; the claim reads
-- only the index of the due rows, however many were sent before. `lease` names the claim that
-- holds the row, so that an instance whose lease ran out cannot mark another's attempt.
-- `payload` is the facts the message is written from (JSON), fixed when the sale commits.
CREATE TABLE outbox (
    id             TEXT PRIMARY KEY,
    kind           TEXT NOT NULL CHECK (kind IN ('order_confirmation', 'refund_notice', 'payment_refunded')),
    order_id       TEXT REFERENCES orders (id),
    recipient      TEXT NOT NULL,
    recipient_name TEXT NOT NULL,
    payload        TEXT NOT NULL,
    status         TEXT NOT NULL CHECK (status IN ('pending', 'sent', 'failed')),
    due_at         INTEGER,
    lease          TEXT,
    attempts       INTEGER NOT NULL DEFAULT 0,
    last_error     TEXT,
    created_at     INTEGER NOT NULL,
    sent_at        INTEGER
);
CREATE INDEX outbox_due ON outbox (due_at);
CREATE INDEX outbox_by_order ON outbox (order_id);
