-- Every per-purchase statement costs the same in a 50,000-seat stadium as in a 500-seat hall.
-- Seats of a hold are addressed by primary key now; the index on hold_id only cost every seat
-- update one more index entry.
ALTER TABLE seats DROP INDEX seats_by_hold;
-- A buyer's active holds are those not ended (`ended_at IS NULL`, an index condition), so that a
-- buyer with a thousand orders behind them costs what a new one does.
ALTER TABLE holds DROP INDEX holds_by_buyer, ADD INDEX holds_by_buyer (user_id, event_id, ended_at);
-- The payment reconciler's batch of pending payments, and the webhook's lookup by intent id,
-- would otherwise read every payment of the sale.
CREATE INDEX payments_pending ON payments (status, created_at);
CREATE INDEX payments_by_reference ON payments (provider_ref);
-- A refund finds the order's charge; the audit matches sold seats to their tickets.
CREATE INDEX ledger_by_order ON ledger (order_id);
CREATE INDEX tickets_by_seat ON tickets (event_id, seat_id);
