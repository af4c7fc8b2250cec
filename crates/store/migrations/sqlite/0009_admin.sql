-- The organiser's app. An event is published (listed, shown and sold) or a draft that only admins
-- see; events made before this migration stay published. `revision` grows with every edit, so
-- that each instance's in-memory catalogue notices an edit made on another one.
ALTER TABLE events ADD COLUMN published INTEGER NOT NULL DEFAULT 1;
ALTER TABLE events ADD COLUMN revision INTEGER NOT NULL DEFAULT 1;
