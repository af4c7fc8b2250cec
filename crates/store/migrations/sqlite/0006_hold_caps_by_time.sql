-- The counts of a buyer's active holds ask for `ended_at IS NULL`, and SQLite uses a partial
-- index only when the query names its predicate: migration 0005's `status = 'active'` was never
-- chosen for them.
DROP INDEX holds_active_by_buyer;
CREATE INDEX holds_active_by_buyer ON holds (user_id, event_id) WHERE ended_at IS NULL;
