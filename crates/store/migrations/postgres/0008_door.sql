-- The door: the gate a ticket was first scanned at. `checked_in_at` is that scan's time, which
-- for a scan made offline is when the device scanned it, not when the server heard of it.
-- Tickets checked in before this migration have none and count at the gate called "main".
ALTER TABLE tickets ADD COLUMN gate TEXT;
