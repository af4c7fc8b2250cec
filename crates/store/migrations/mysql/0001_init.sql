-- boxoffice schema, MySQL 8 / MariaDB 10.11+ dialect: the SQLite schema translated. Times are
-- BIGINT milliseconds since the Unix epoch.
--
-- MySQL differs from the other dialects in ways this file has to spell out:
-- * Indexed text needs a length: ids are 32 hex characters, seat ids at most 64, Idempotency-Keys
--   at most 255, e-mail addresses at most 254. Unindexed free text is TEXT; layouts and stored
--   responses are MEDIUMTEXT because TEXT stops at 64 KiB.
-- * Strings compare byte for byte, as in SQLite and PostgreSQL: `utf8mb4_bin` rather than a
--   case-insensitive default. The migration runner swaps in the server's NO PAD binary collation
--   (`utf8mb4_0900_bin` on MySQL, `utf8mb4_nopad_bin` on MariaDB) where it exists, so that trailing
--   spaces count too.
-- * Foreign keys are table constraints: MySQL ignores REFERENCES written on a column.
-- * DDL commits as it goes, so every statement is written to be re-run: a migration interrupted
--   half way completes on the next start.
-- * `key` is a reserved word, quoted with backticks.
-- UNIQUE columns that may be NULL (`in_flight_hold_id`, `valid_seat`) accept any number of NULLs,
-- as in the other dialects.

CREATE TABLE IF NOT EXISTS users (
    id            VARCHAR(32) NOT NULL PRIMARY KEY,
    email         VARCHAR(254) NOT NULL UNIQUE,
    name          TEXT NOT NULL,
    password_hash VARCHAR(255) NOT NULL,
    role          VARCHAR(16) NOT NULL CHECK (role IN ('buyer', 'staff', 'admin')),
    created_at    BIGINT NOT NULL
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

CREATE TABLE IF NOT EXISTS sessions (
    token_hash VARCHAR(64) NOT NULL PRIMARY KEY,
    user_id    VARCHAR(32) NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    FOREIGN KEY (user_id) REFERENCES users (id),
    INDEX sessions_by_expiry (expires_at)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

CREATE TABLE IF NOT EXISTS settings (
    `key`   VARCHAR(100) NOT NULL PRIMARY KEY,
    `value` TEXT NOT NULL
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

CREATE TABLE IF NOT EXISTS venues (
    id         VARCHAR(32) NOT NULL PRIMARY KEY,
    name       TEXT NOT NULL,
    layout     MEDIUMTEXT NOT NULL,
    created_at BIGINT NOT NULL
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

CREATE TABLE IF NOT EXISTS events (
    id            VARCHAR(32) NOT NULL PRIMARY KEY,
    venue_id      VARCHAR(32) NOT NULL,
    name          TEXT NOT NULL,
    starts_at     BIGINT NOT NULL,
    sale_opens_at BIGINT NOT NULL,
    currency      VARCHAR(3) NOT NULL,
    created_at    BIGINT NOT NULL,
    FOREIGN KEY (venue_id) REFERENCES venues (id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

CREATE TABLE IF NOT EXISTS categories (
    id          VARCHAR(32) NOT NULL PRIMARY KEY,
    event_id    VARCHAR(32) NOT NULL,
    name        VARCHAR(255) NOT NULL,
    price_cents BIGINT NOT NULL CHECK (price_cents >= 0),
    currency    VARCHAR(3) NOT NULL,
    position    BIGINT NOT NULL,
    UNIQUE (event_id, name),
    FOREIGN KEY (event_id) REFERENCES events (id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

-- One row per seat and event. `hold_id` is the hold that reserved or bought the seat: NULL exactly
-- when the seat is available. `version` grows with every change; `updated_at` is stamped by the
-- database's clock so that reconciliation can find recent changes.
CREATE TABLE IF NOT EXISTS seats (
    event_id    VARCHAR(32) NOT NULL,
    id          VARCHAR(64) NOT NULL,
    category_id VARCHAR(32) NOT NULL,
    state       VARCHAR(16) NOT NULL DEFAULT 'available' CHECK (state IN ('available', 'held', 'sold')),
    hold_id     VARCHAR(32),
    version     BIGINT NOT NULL DEFAULT 1,
    updated_at  BIGINT NOT NULL,
    PRIMARY KEY (event_id, id),
    CHECK ((state = 'available') = (hold_id IS NULL)),
    FOREIGN KEY (event_id) REFERENCES events (id),
    FOREIGN KEY (category_id) REFERENCES categories (id),
    INDEX seats_by_hold (hold_id),
    INDEX seats_by_change (event_id, updated_at)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

CREATE TABLE IF NOT EXISTS holds (
    id         VARCHAR(32) NOT NULL PRIMARY KEY,
    event_id   VARCHAR(32) NOT NULL,
    user_id    VARCHAR(32) NOT NULL,
    status     VARCHAR(16) NOT NULL CHECK (status IN ('active', 'released', 'expired', 'converted')),
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    ended_at   BIGINT,
    FOREIGN KEY (event_id) REFERENCES events (id),
    FOREIGN KEY (user_id) REFERENCES users (id),
    INDEX holds_by_expiry (status, expires_at),
    INDEX holds_by_buyer (user_id, event_id, status)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

CREATE TABLE IF NOT EXISTS hold_seats (
    hold_id  VARCHAR(32) NOT NULL,
    event_id VARCHAR(32) NOT NULL,
    seat_id  VARCHAR(64) NOT NULL,
    PRIMARY KEY (hold_id, seat_id),
    FOREIGN KEY (hold_id) REFERENCES holds (id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

-- The first response to each (user, Idempotency-Key), replayed for retries; kept at least 24 h.
CREATE TABLE IF NOT EXISTS idempotency_keys (
    user_id     VARCHAR(32) NOT NULL,
    idem_key    VARCHAR(255) NOT NULL,
    fingerprint VARCHAR(64) NOT NULL,
    status_code BIGINT,
    response    MEDIUMTEXT,
    created_at  BIGINT NOT NULL,
    PRIMARY KEY (user_id, idem_key),
    INDEX idempotency_by_age (created_at)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

-- Payment attempts. `in_flight_hold_id` equals `hold_id` while the attempt is pending or succeeded
-- and is NULL otherwise: its uniqueness means one hold can never be charged by two attempts.
CREATE TABLE IF NOT EXISTS payments (
    id                VARCHAR(32) NOT NULL PRIMARY KEY,
    hold_id           VARCHAR(32) NOT NULL,
    user_id           VARCHAR(32) NOT NULL,
    idem_key          VARCHAR(255) NOT NULL,
    amount_cents      BIGINT NOT NULL CHECK (amount_cents >= 0),
    currency          VARCHAR(3) NOT NULL,
    status            VARCHAR(16) NOT NULL CHECK (status IN ('pending', 'succeeded', 'declined', 'failed', 'refunded')),
    provider          VARCHAR(64) NOT NULL,
    provider_ref      VARCHAR(255),
    card_last4        VARCHAR(4) NOT NULL,
    in_flight_hold_id VARCHAR(32) UNIQUE,
    created_at        BIGINT NOT NULL,
    updated_at        BIGINT NOT NULL,
    UNIQUE (user_id, idem_key),
    FOREIGN KEY (hold_id) REFERENCES holds (id),
    FOREIGN KEY (user_id) REFERENCES users (id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

CREATE TABLE IF NOT EXISTS orders (
    id          VARCHAR(32) NOT NULL PRIMARY KEY,
    user_id     VARCHAR(32) NOT NULL,
    hold_id     VARCHAR(32) NOT NULL UNIQUE,
    event_id    VARCHAR(32) NOT NULL,
    payment_id  VARCHAR(32) NOT NULL UNIQUE,
    status      VARCHAR(24) NOT NULL CHECK (status IN ('paid', 'refunded', 'partially_refunded')),
    total_cents BIGINT NOT NULL CHECK (total_cents >= 0),
    currency    VARCHAR(3) NOT NULL,
    created_at  BIGINT NOT NULL,
    FOREIGN KEY (user_id) REFERENCES users (id),
    FOREIGN KEY (hold_id) REFERENCES holds (id),
    FOREIGN KEY (event_id) REFERENCES events (id),
    FOREIGN KEY (payment_id) REFERENCES payments (id),
    INDEX orders_by_buyer (user_id, created_at)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

-- `valid_seat` is event_id/seat_id while the ticket is valid and NULL once refunded: at most one
-- valid ticket per seat, enforced by the database (MySQL has no partial indexes).
CREATE TABLE IF NOT EXISTS tickets (
    id            VARCHAR(32) NOT NULL PRIMARY KEY,
    order_id      VARCHAR(32) NOT NULL,
    event_id      VARCHAR(32) NOT NULL,
    seat_id       VARCHAR(64) NOT NULL,
    price_cents   BIGINT NOT NULL CHECK (price_cents >= 0),
    code          VARCHAR(128) NOT NULL UNIQUE,
    valid_seat    VARCHAR(128) UNIQUE,
    checked_in_at BIGINT,
    created_at    BIGINT NOT NULL,
    FOREIGN KEY (order_id) REFERENCES orders (id),
    FOREIGN KEY (event_id) REFERENCES events (id),
    INDEX tickets_by_order (order_id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

CREATE TABLE IF NOT EXISTS ledger (
    id           VARCHAR(32) NOT NULL PRIMARY KEY,
    payment_id   VARCHAR(32) NOT NULL,
    order_id     VARCHAR(32),
    kind         VARCHAR(16) NOT NULL CHECK (kind IN ('charge', 'refund')),
    amount_cents BIGINT NOT NULL CHECK (amount_cents > 0),
    currency     VARCHAR(3) NOT NULL,
    provider_ref VARCHAR(255) NOT NULL,
    created_at   BIGINT NOT NULL,
    FOREIGN KEY (payment_id) REFERENCES payments (id),
    FOREIGN KEY (order_id) REFERENCES orders (id),
    INDEX ledger_by_payment (payment_id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;
