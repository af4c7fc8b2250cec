-- boxoffice schema, PostgreSQL dialect (14+): the SQLite schema translated. Times are BIGINT
-- milliseconds since the Unix epoch; every integer is BIGINT because the code reads them as i64.

CREATE TABLE users (
    id            TEXT PRIMARY KEY,
    email         TEXT NOT NULL UNIQUE,
    name          TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    role          TEXT NOT NULL CHECK (role IN ('buyer', 'staff', 'admin')),
    created_at    BIGINT NOT NULL
);

CREATE TABLE sessions (
    token_hash TEXT PRIMARY KEY,
    user_id    TEXT NOT NULL REFERENCES users (id),
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX sessions_by_expiry ON sessions (expires_at);

CREATE TABLE settings (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

CREATE TABLE venues (
    id         TEXT PRIMARY KEY,
    name       TEXT NOT NULL,
    layout     TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE TABLE events (
    id            TEXT PRIMARY KEY,
    venue_id      TEXT NOT NULL REFERENCES venues (id),
    name          TEXT NOT NULL,
    starts_at     BIGINT NOT NULL,
    sale_opens_at BIGINT NOT NULL,
    currency      TEXT NOT NULL,
    created_at    BIGINT NOT NULL
);

CREATE TABLE categories (
    id          TEXT PRIMARY KEY,
    event_id    TEXT NOT NULL REFERENCES events (id),
    name        TEXT NOT NULL,
    price_cents BIGINT NOT NULL CHECK (price_cents >= 0),
    currency    TEXT NOT NULL,
    position    BIGINT NOT NULL,
    UNIQUE (event_id, name)
);

-- One row per seat and event. `hold_id` is the hold that reserved or bought the seat: NULL exactly
-- when the seat is available. `version` grows with every change; `updated_at` is stamped by the
-- database's clock so that reconciliation can find recent changes.
CREATE TABLE seats (
    event_id    TEXT NOT NULL REFERENCES events (id),
    id          TEXT NOT NULL,
    category_id TEXT NOT NULL REFERENCES categories (id),
    state       TEXT NOT NULL DEFAULT 'available' CHECK (state IN ('available', 'held', 'sold')),
    hold_id     TEXT,
    version     BIGINT NOT NULL DEFAULT 1,
    updated_at  BIGINT NOT NULL,
    PRIMARY KEY (event_id, id),
    CHECK ((state = 'available') = (hold_id IS NULL))
);
CREATE INDEX seats_by_hold ON seats (hold_id);
CREATE INDEX seats_by_change ON seats (event_id, updated_at);

CREATE TABLE holds (
    id         TEXT PRIMARY KEY,
    event_id   TEXT NOT NULL REFERENCES events (id),
    user_id    TEXT NOT NULL REFERENCES users (id),
    status     TEXT NOT NULL CHECK (status IN ('active', 'released', 'expired', 'converted')),
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    ended_at   BIGINT
);
CREATE INDEX holds_by_expiry ON holds (status, expires_at);
CREATE INDEX holds_by_buyer ON holds (user_id, event_id, status);

CREATE TABLE hold_seats (
    hold_id  TEXT NOT NULL REFERENCES holds (id),
    event_id TEXT NOT NULL,
    seat_id  TEXT NOT NULL,
    PRIMARY KEY (hold_id, seat_id)
);

-- The first response to each (user, Idempotency-Key), replayed for retries; kept at least 24 h.
CREATE TABLE idempotency_keys (
    user_id     TEXT NOT NULL,
    idem_key    TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    status_code BIGINT,
    response    TEXT,
    created_at  BIGINT NOT NULL,
    PRIMARY KEY (user_id, idem_key)
);
CREATE INDEX idempotency_by_age ON idempotency_keys (created_at);

-- Payment attempts. `in_flight_hold_id` equals `hold_id` while the attempt is pending or succeeded
-- and is NULL otherwise: its uniqueness means one hold can never be charged by two attempts.
CREATE TABLE payments (
    id                TEXT PRIMARY KEY,
    hold_id           TEXT NOT NULL REFERENCES holds (id),
    user_id           TEXT NOT NULL REFERENCES users (id),
    idem_key          TEXT NOT NULL,
    amount_cents      BIGINT NOT NULL CHECK (amount_cents >= 0),
    currency          TEXT NOT NULL,
    status            TEXT NOT NULL CHECK (status IN ('pending', 'succeeded', 'declined', 'failed', 'refunded')),
    provider          TEXT NOT NULL,
    provider_ref      TEXT,
    card_last4        TEXT NOT NULL,
    in_flight_hold_id TEXT UNIQUE,
    created_at        BIGINT NOT NULL,
    updated_at        BIGINT NOT NULL,
    UNIQUE (user_id, idem_key)
);

CREATE TABLE orders (
    id          TEXT PRIMARY KEY,
    user_id     TEXT NOT NULL REFERENCES users (id),
    hold_id     TEXT NOT NULL UNIQUE REFERENCES holds (id),
    event_id    TEXT NOT NULL REFERENCES events (id),
    payment_id  TEXT NOT NULL UNIQUE REFERENCES payments (id),
    status      TEXT NOT NULL CHECK (status IN ('paid', 'refunded', 'partially_refunded')),
    total_cents BIGINT NOT NULL CHECK (total_cents >= 0),
    currency    TEXT NOT NULL,
    created_at  BIGINT NOT NULL
);
CREATE INDEX orders_by_buyer ON orders (user_id, created_at);

-- `valid_seat` is event_id/seat_id while the ticket is valid and NULL once refunded: at most one
-- valid ticket per seat, enforced by the database (the same column in every dialect, although
-- PostgreSQL could use a partial index).
CREATE TABLE tickets (
    id            TEXT PRIMARY KEY,
    order_id      TEXT NOT NULL REFERENCES orders (id),
    event_id      TEXT NOT NULL REFERENCES events (id),
    seat_id       TEXT NOT NULL,
    price_cents   BIGINT NOT NULL CHECK (price_cents >= 0),
    code          TEXT NOT NULL UNIQUE,
    valid_seat    TEXT UNIQUE,
    checked_in_at BIGINT,
    created_at    BIGINT NOT NULL
);
CREATE INDEX tickets_by_order ON tickets (order_id);

CREATE TABLE ledger (
    id           TEXT PRIMARY KEY,
    payment_id   TEXT NOT NULL REFERENCES payments (id),
    order_id     TEXT REFERENCES orders (id),
    kind         TEXT NOT NULL CHECK (kind IN ('charge', 'refund')),
    amount_cents BIGINT NOT NULL CHECK (amount_cents > 0),
    currency     TEXT NOT NULL,
    provider_ref TEXT NOT NULL,
    created_at   BIGINT NOT NULL
);
CREATE INDEX ledger_by_payment ON ledger (payment_id);
