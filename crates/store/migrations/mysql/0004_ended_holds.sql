-- Released and expired holds are deleted once older than the retention setting: the pruner finds
-- them by when they ended. (The foreign key already gives payments an index on hold_id.)
CREATE INDEX holds_by_end ON holds (status, ended_at);
