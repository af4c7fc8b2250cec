-- Nothing changes on MariaDB: migration 0005 already gave each of the hold caps' counts its own
-- index (PostgreSQL and SQLite catch up in their 0006). The runner applies one statement per
-- version, so this one does nothing.
DO 0;
