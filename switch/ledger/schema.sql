-- tpesim ledger v1 (SQLite). Integer minor units; one currency per account.
CREATE TABLE IF NOT EXISTS accounts (
    id             TEXT PRIMARY KEY,
    kind           TEXT NOT NULL CHECK (kind IN ('cardholder', 'merchant', 'issuer')),
    currency       TEXT NOT NULL,
    debits_posted  INTEGER NOT NULL DEFAULT 0 CHECK (debits_posted >= 0),
    credits_posted INTEGER NOT NULL DEFAULT 0 CHECK (credits_posted >= 0),
    -- "debits must not exceed credits" for cardholders: no overdraft, enforced by the database.
    CHECK (kind != 'cardholder' OR debits_posted <= credits_posted)
);

CREATE TABLE IF NOT EXISTS transfers (
    seq               INTEGER PRIMARY KEY,
    id                TEXT NOT NULL UNIQUE,
    kind              TEXT NOT NULL CHECK (kind IN ('opening', 'purchase', 'reversal')),
    debit_account     TEXT NOT NULL REFERENCES accounts (id),
    credit_account    TEXT NOT NULL REFERENCES accounts (id),
    amount            INTEGER NOT NULL CHECK (amount > 0),
    currency          TEXT NOT NULL,
    card_id           TEXT,
    tid               TEXT,
    stan              INTEGER,
    transmission_time TEXT,
    issuer_day        TEXT,
    reverses          TEXT UNIQUE REFERENCES transfers (id),
    rrn               TEXT,
    created_at        TEXT NOT NULL,
    CHECK (debit_account != credit_account)
);
CREATE INDEX IF NOT EXISTS transfers_card_day ON transfers (card_id, issuer_day);

-- History is append-only.
CREATE TRIGGER IF NOT EXISTS transfers_append_only_update BEFORE UPDATE ON transfers
BEGIN SELECT RAISE(ABORT, 'transfers are append-only'); END;
CREATE TRIGGER IF NOT EXISTS transfers_append_only_delete BEFORE DELETE ON transfers
BEGIN SELECT RAISE(ABORT, 'transfers are append-only'); END;

-- One row per request idempotency key (TID, STAN, DE7): the stored response is replayed.
CREATE TABLE IF NOT EXISTS requests (
    tid               TEXT NOT NULL,
    stan              INTEGER NOT NULL,
    transmission_time TEXT NOT NULL,
    mti               TEXT NOT NULL,
    digest            TEXT NOT NULL,
    response_code     TEXT NOT NULL,
    response          BLOB NOT NULL,
    transfer_id       TEXT REFERENCES transfers (id),
    created_at        TEXT NOT NULL,
    PRIMARY KEY (tid, stan, transmission_time)
);
CREATE TRIGGER IF NOT EXISTS requests_append_only_update BEFORE UPDATE ON requests
BEGIN SELECT RAISE(ABORT, 'requests are append-only'); END;

-- Reversals that arrived before (or without) their original: the original must never post.
CREATE TABLE IF NOT EXISTS orphan_reversals (
    tid               TEXT NOT NULL,
    stan              INTEGER NOT NULL,
    transmission_time TEXT NOT NULL,
    created_at        TEXT NOT NULL,
    PRIMARY KEY (tid, stan, transmission_time)
);

CREATE TABLE IF NOT EXISTS terminal_sessions (
    tid        TEXT PRIMARY KEY,
    signed_on  INTEGER NOT NULL,
    updated_at TEXT NOT NULL
);

-- Per card: consecutive wrong PINs (reset by a right PIN; at the product's limit the card answers
-- 75 until the issuer unblocks it) and the last application transaction counter (ATC) of an
-- ARQC that verified (a cryptogram with an ATC not above it is a replay). Updated in the same
-- transaction as the stored response.
CREATE TABLE IF NOT EXISTS card_security (
    card_id      TEXT PRIMARY KEY,
    pin_failures INTEGER NOT NULL CHECK (pin_failures >= 0),
    last_atc     INTEGER CHECK (last_atc BETWEEN 0 AND 65535),
    updated_at   TEXT NOT NULL
);
