-- A hold's caps ask, on every hold, whether the buyer let a hold for the event go lately: an
-- index of just the released and expired holds answers it, however many orders the buyer has.
-- (The counts of active holds stay on `holds_by_buyer`: on PostgreSQL every index that held a
-- hold while it was active keeps its dead entry until vacuum, and another index only gave the
-- planner more ways to read them; see ARCHITECTURE.md, "Not yet".)
CREATE INDEX holds_let_go_by_buyer ON holds (user_id, event_id, ended_at)
    WHERE status IN ('released', 'expired');
