-- Released and expired holds are deleted once older than the retention setting: the pruner finds
-- them by when they ended, and checks that no payment refers to one before deleting it.
CREATE INDEX holds_by_end ON holds (status, ended_at);
CREATE INDEX payments_by_hold ON payments (hold_id);
