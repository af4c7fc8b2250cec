-- A hold's caps count the buyer's active holds across every event, the holds they made in the
-- event this hour, and the holds they let go lately, in one statement on every hold. Each part
-- reads an index of just what it counts, so that an agency's thousands of orders cost nothing
-- (MariaDB has no partial indexes: `ended_at IS NULL` leads instead).
CREATE INDEX holds_active_by_buyer ON holds (user_id, ended_at, event_id);
CREATE INDEX holds_made_by_buyer ON holds (user_id, event_id, created_at);
CREATE INDEX holds_let_go_by_buyer ON holds (user_id, event_id, status, ended_at);
