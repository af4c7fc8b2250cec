-- The door: the gate a ticket was first scanned at. `checked_in_at` is that scan's time, which
-- for a scan made offline is when the device scanned it, not when the server heard of it.
-- Tickets checked in before this migration have none and count at the gate called "main".
-- `BO2` codes carry the event and the seat and an Ed25519 signature: up to 221 characters.
ALTER TABLE tickets
    ADD COLUMN gate VARCHAR(64) NULL,
    MODIFY code VARCHAR(255) NOT NULL;
