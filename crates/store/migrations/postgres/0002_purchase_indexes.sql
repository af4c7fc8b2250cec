-- Every per-purchase statement costs the same in a 50,000-seat stadium as in a 500-seat hall.
--
-- Seats are found by one unique key, `seat_key` (event id, '/', seat id), instead of the pair
-- (event_id, id). With the pair, a planner that believes an event has few rows (an event created
-- after the last ANALYZE, which a busy sale's statistics do not know) prefers to read the event's
-- rows by `event_id` alone and filter for the seat ids: the whole event, on every hold. A
-- predicate on the unique key alone leaves no such plan. Event ids never contain '/', so the key
-- is unique exactly when the pair is; the key is also the form `tickets.valid_seat` uses.
ALTER TABLE seats ADD COLUMN seat_key TEXT GENERATED ALWAYS AS (event_id || '/' || id) STORED;
ALTER TABLE seats DROP CONSTRAINT seats_pkey;
ALTER TABLE seats ADD CONSTRAINT seats_pkey PRIMARY KEY (seat_key);
-- Seats of a hold are addressed by their keys now; the index on hold_id only cost every seat
-- update one more index entry.
DROP INDEX seats_by_hold;

-- Holds: few are active at any moment, but every hold was active once, and each left an entry in
-- any index on `status` that stays until vacuum. With `status` leading an index, a planner whose
-- statistics say "no hold is active" reads all those entries to find one buyer's holds. The
-- sweeper gets a partial index of its own. A buyer's active holds are those not ended
-- (`ended_at IS NULL`, an index condition), so that a buyer with a thousand orders behind them
-- costs what a new one does.
DROP INDEX holds_by_expiry;
CREATE INDEX holds_expiring ON holds (expires_at) WHERE status = 'active';
DROP INDEX holds_by_buyer;
CREATE INDEX holds_by_buyer ON holds (user_id, event_id, ended_at);

-- The payment reconciler's batch of pending payments, and the webhook's lookup by intent id,
-- would otherwise read every payment of the sale.
CREATE INDEX payments_pending ON payments (status, created_at);
CREATE INDEX payments_by_reference ON payments (provider_ref);
-- A refund finds the order's charge; the audit matches sold seats to their tickets.
CREATE INDEX ledger_by_order ON ledger (order_id);
CREATE INDEX tickets_by_seat ON tickets (event_id, seat_id);
