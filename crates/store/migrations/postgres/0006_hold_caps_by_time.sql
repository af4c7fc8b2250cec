-- The hold caps again, so that a buyer's history costs nothing on PostgreSQL too. Migration 0005
-- left the counts here on `holds_by_buyer` (user, event, ended_at): the active holds across all
-- events were found by reading every hold of the buyer's, and the holds made this hour one by
-- one, so a long sale slowed down as its buyers bought (250 orders each: about 500 buffers read
-- on every new hold). Now:
-- * the active holds, in one event or in all, by `ended_at IS NULL` right after the buyer, as on
--   MariaDB; this replaces `holds_by_buyer`;
-- * the holds made, the buyer's newest first, read back no further than the cap.
-- No index starts with (user, event) any more. For an event created after the last ANALYZE the
-- planner expects no rows, every such index looks equally cheap, and the one it picked walked
-- the buyer's whole history in the event (the plan test caught it).
DROP INDEX holds_by_buyer;
CREATE INDEX holds_active_by_buyer ON holds (user_id, ended_at, event_id);
CREATE INDEX holds_made_by_buyer ON holds (user_id, created_at, event_id);
