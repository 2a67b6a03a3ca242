-- tpesim ledger v2 (SQLite): two-phase transfers, TigerBeetle style. Integer minor units; one
-- currency per account. The database itself enforces the transfer rules (switch.ledger.twophase
-- is the reference model they must agree with): every transfer is one INSERT; triggers refuse
-- what the rules refuse (the RAISE message is the outcome's name) and keep the counters.
PRAGMA user_version = 6;

CREATE TABLE IF NOT EXISTS accounts (
    id              TEXT PRIMARY KEY,
    kind            TEXT NOT NULL CHECK (kind IN ('cardholder', 'merchant', 'issuer', 'acquirer', 'fx')),
    currency        TEXT NOT NULL,
    -- Who owns the account in settlement: an issuer for its cardholders, a merchant, an acquirer.
    participant     TEXT NOT NULL,
    -- "debits must not exceed credits" (cardholders): checked when a hold is made, so posting
    -- or voiding it can never break it.
    debits_must_not_exceed_credits INTEGER NOT NULL DEFAULT 0,
    debits_pending  INTEGER NOT NULL DEFAULT 0 CHECK (debits_pending >= 0),
    debits_posted   INTEGER NOT NULL DEFAULT 0 CHECK (debits_posted >= 0),
    credits_pending INTEGER NOT NULL DEFAULT 0 CHECK (credits_pending >= 0),
    credits_posted  INTEGER NOT NULL DEFAULT 0 CHECK (credits_posted >= 0),
    CHECK (NOT debits_must_not_exceed_credits OR debits_posted + debits_pending <= credits_posted)
);

-- Every transfer ever made, append-only. ``phase``: single (posted at once), pending (a hold,
-- expiring ``timeout_s`` after ``at_us`` on the switch clock), post / void / expire (resolve
-- the hold ``pending_id``; a post may take less than the hold, the rest is released).
CREATE TABLE IF NOT EXISTS transfers (
    seq               INTEGER PRIMARY KEY,
    id                TEXT NOT NULL UNIQUE,
    kind              TEXT NOT NULL CHECK (kind IN (
        'opening', 'purchase', 'preauth', 'completion', 'refund', 'reversal', 'expiry',
        'clearing', 'fee', 'interchange', 'true_up', 'qr', 'fx', 'adjustment')),
    phase             TEXT NOT NULL CHECK (phase IN (
        'single', 'pending', 'post', 'void', 'expire', 'clear')),
    pending_id        TEXT REFERENCES transfers (id),
    debit_account     TEXT NOT NULL REFERENCES accounts (id),
    credit_account    TEXT NOT NULL REFERENCES accounts (id),
    amount            INTEGER NOT NULL CHECK (amount > 0),
    currency          TEXT NOT NULL,
    timeout_s         INTEGER NOT NULL DEFAULT 0 CHECK (timeout_s >= 0),
    at_us             INTEGER NOT NULL,
    -- A hold's deadline on the switch clock (at_us + timeout_s seconds); NULL: never expires.
    expires_us        INTEGER,
    digest            TEXT NOT NULL,
    card_id           TEXT,
    tid               TEXT,
    stan              INTEGER,
    transmission_time TEXT,
    issuer_day        TEXT,
    business_day      TEXT,
    rrn               TEXT,
    -- The settlement run of a clearing transfer ('clear': it posts in full every hold listed
    -- for it in cleared_holds, all between its two accounts).
    settlement_run    TEXT,
    -- 1: written by a batch whose rules were checked set-based in the same transaction, with the
    -- counters moved in aggregate (the per-row triggers stand aside); NULL: row by row.
    batch             INTEGER CHECK (batch IS NULL OR batch = 1),
    CHECK ((phase = 'clear') = (settlement_run IS NOT NULL AND kind = 'clearing')),
    CHECK (debit_account != credit_account),
    CHECK ((phase IN ('post', 'void', 'expire')) = (pending_id IS NOT NULL)),
    CHECK (expires_us IS NULL OR (phase = 'pending' AND expires_us = at_us + timeout_s * 1000000))
);
-- A hold resolves at most once: post XOR void XOR expire.
CREATE UNIQUE INDEX IF NOT EXISTS transfers_one_resolution ON transfers (pending_id)
    WHERE pending_id IS NOT NULL;
CREATE INDEX IF NOT EXISTS transfers_card_day ON transfers (card_id, issuer_day)
    WHERE phase = 'pending';
CREATE INDEX IF NOT EXISTS transfers_business_day ON transfers (business_day, tid);
-- Holds by deadline: the expiry sweep reads the window since its previous sweep.
CREATE INDEX IF NOT EXISTS transfers_deadline ON transfers (expires_us)
    WHERE expires_us IS NOT NULL;

-- Holds a settlement run posted in full, one row per hold (narrow and keyed by the hold's seq, so
-- clearing a million holds is cheap); the money moved in the run's 'clear' transfer, one per
-- (accounts, card) line. A cleared hold is resolved: it can no longer be posted, voided or expired.
CREATE TABLE IF NOT EXISTS cleared_holds (
    hold_seq    INTEGER PRIMARY KEY,
    clearing_id TEXT NOT NULL
);
CREATE TRIGGER IF NOT EXISTS cleared_holds_append_only_update BEFORE UPDATE ON cleared_holds
BEGIN SELECT RAISE(ABORT, 'cleared holds are append-only'); END;
CREATE TRIGGER IF NOT EXISTS cleared_holds_append_only_delete BEFORE DELETE ON cleared_holds
BEGIN SELECT RAISE(ABORT, 'cleared holds are append-only'); END;

-- Transfers refused: a retry with the same id gets the same refusal (a decline stays a decline).
CREATE TABLE IF NOT EXISTS failed_transfers (
    id      TEXT PRIMARY KEY,
    digest  TEXT NOT NULL,
    outcome TEXT NOT NULL,
    at_us   INTEGER NOT NULL
);

-- The rules, one CASE per kind of transfer so each insert runs one short trigger program; the
-- checks run in the reference model's order and the first that fails names the outcome.
CREATE TRIGGER IF NOT EXISTS transfers_rules_new BEFORE INSERT ON transfers
    WHEN NEW.pending_id IS NULL AND NEW.phase != 'clear' AND NEW.batch IS NULL
BEGIN
    SELECT CASE
        WHEN EXISTS (SELECT 1 FROM transfers WHERE id = NEW.id) THEN RAISE(ABORT, 'exists')
        WHEN EXISTS (SELECT 1 FROM failed_transfers WHERE id = NEW.id)
            THEN RAISE(ABORT, 'id_already_failed')
        WHEN d.id IS NULL OR c.id IS NULL THEN RAISE(ABORT, 'account_not_found')
        WHEN NEW.debit_account = NEW.credit_account THEN RAISE(ABORT, 'accounts_must_differ')
        WHEN NEW.amount <= 0 THEN RAISE(ABORT, 'amount_must_be_positive')
        WHEN d.currency != NEW.currency OR c.currency != NEW.currency
            THEN RAISE(ABORT, 'currency_mismatch')
        WHEN d.debits_must_not_exceed_credits
            AND d.credits_posted - d.debits_posted - d.debits_pending < NEW.amount
            THEN RAISE(ABORT, 'exceeds_credits')
    END
    FROM (SELECT 1) LEFT JOIN accounts d ON d.id = NEW.debit_account
    LEFT JOIN accounts c ON c.id = NEW.credit_account;
END;

CREATE TRIGGER IF NOT EXISTS transfers_rules_resolution BEFORE INSERT ON transfers
    WHEN NEW.pending_id IS NOT NULL AND NEW.batch IS NULL
BEGIN
    SELECT CASE
        WHEN EXISTS (SELECT 1 FROM transfers WHERE id = NEW.id) THEN RAISE(ABORT, 'exists')
        WHEN EXISTS (SELECT 1 FROM failed_transfers WHERE id = NEW.id)
            THEN RAISE(ABORT, 'id_already_failed')
        WHEN h.id IS NULL THEN RAISE(ABORT, 'pending_not_found')
        WHEN r.phase = 'post' OR EXISTS (SELECT 1 FROM cleared_holds WHERE hold_seq = h.seq)
            THEN RAISE(ABORT, 'pending_already_posted')
        WHEN r.phase = 'void' THEN RAISE(ABORT, 'pending_already_voided')
        WHEN r.phase = 'expire' THEN RAISE(ABORT, 'pending_expired')
        WHEN NEW.phase = 'post' AND NEW.amount > h.amount
            THEN RAISE(ABORT, 'exceeds_pending_amount')
        WHEN (NEW.phase != 'post' AND NEW.amount != h.amount)
            OR h.debit_account != NEW.debit_account OR h.credit_account != NEW.credit_account
            OR h.currency != NEW.currency
            THEN RAISE(ABORT, 'resolution_differs_from_pending')
        WHEN NEW.debit_account = NEW.credit_account THEN RAISE(ABORT, 'accounts_must_differ')
        WHEN NEW.amount <= 0 THEN RAISE(ABORT, 'amount_must_be_positive')
    END
    FROM (SELECT 1) LEFT JOIN transfers h ON h.id = NEW.pending_id AND h.phase = 'pending'
    LEFT JOIN transfers r ON r.pending_id = NEW.pending_id;
END;

CREATE TRIGGER IF NOT EXISTS transfers_single AFTER INSERT ON transfers
    WHEN NEW.phase = 'single' AND NEW.batch IS NULL
BEGIN
    UPDATE accounts SET debits_posted = debits_posted + NEW.amount WHERE id = NEW.debit_account;
    UPDATE accounts SET credits_posted = credits_posted + NEW.amount WHERE id = NEW.credit_account;
END;

CREATE TRIGGER IF NOT EXISTS transfers_pending AFTER INSERT ON transfers
    WHEN NEW.phase = 'pending' AND NEW.batch IS NULL
BEGIN
    UPDATE accounts SET debits_pending = debits_pending + NEW.amount WHERE id = NEW.debit_account;
    UPDATE accounts SET credits_pending = credits_pending + NEW.amount
        WHERE id = NEW.credit_account;
END;

CREATE TRIGGER IF NOT EXISTS transfers_resolve AFTER INSERT ON transfers
    WHEN NEW.pending_id IS NOT NULL AND NEW.batch IS NULL
BEGIN
    UPDATE accounts SET
        debits_pending = debits_pending - (SELECT amount FROM transfers WHERE id = NEW.pending_id),
        debits_posted = debits_posted + CASE NEW.phase WHEN 'post' THEN NEW.amount ELSE 0 END
        WHERE id = NEW.debit_account;
    UPDATE accounts SET
        credits_pending = credits_pending - (SELECT amount FROM transfers WHERE id = NEW.pending_id),
        credits_posted = credits_posted + CASE NEW.phase WHEN 'post' THEN NEW.amount ELSE 0 END
        WHERE id = NEW.credit_account;
END;

CREATE TRIGGER IF NOT EXISTS transfers_clear AFTER INSERT ON transfers WHEN NEW.phase = 'clear'
BEGIN
    UPDATE accounts SET debits_pending = debits_pending - NEW.amount,
        debits_posted = debits_posted + NEW.amount WHERE id = NEW.debit_account;
    UPDATE accounts SET credits_pending = credits_pending - NEW.amount,
        credits_posted = credits_posted + NEW.amount WHERE id = NEW.credit_account;
END;

-- History is append-only: corrections are new transfers, never edits.
CREATE TRIGGER IF NOT EXISTS transfers_append_only_update BEFORE UPDATE ON transfers
BEGIN SELECT RAISE(ABORT, 'transfers are append-only'); END;
CREATE TRIGGER IF NOT EXISTS transfers_append_only_delete BEFORE DELETE ON transfers
BEGIN SELECT RAISE(ABORT, 'transfers are append-only'); END;
CREATE TRIGGER IF NOT EXISTS failed_transfers_append_only BEFORE UPDATE ON failed_transfers
BEGIN SELECT RAISE(ABORT, 'failed transfers are append-only'); END;

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
CREATE TRIGGER IF NOT EXISTS requests_append_only_delete BEFORE DELETE ON requests
BEGIN SELECT RAISE(ABORT, 'requests are append-only'); END;

-- Refunds that name their sale (DE90 of the 0200): which sale's hold each gives money back
-- from. The checker holds every sale's standing refunds within what it captured.
CREATE TABLE IF NOT EXISTS refunds (
    refund_id   TEXT PRIMARY KEY REFERENCES transfers (id),
    original_id TEXT NOT NULL REFERENCES transfers (id)
);
CREATE INDEX IF NOT EXISTS refunds_original ON refunds (original_id);
CREATE TRIGGER IF NOT EXISTS refunds_append_only_update BEFORE UPDATE ON refunds
BEGIN SELECT RAISE(ABORT, 'refunds are append-only'); END;
CREATE TRIGGER IF NOT EXISTS refunds_append_only_delete BEFORE DELETE ON refunds
BEGIN SELECT RAISE(ABORT, 'refunds are append-only'); END;

-- Reversals that arrived before (or without) their original: the original must never post.
CREATE TABLE IF NOT EXISTS orphan_reversals (
    tid               TEXT NOT NULL,
    stan              INTEGER NOT NULL,
    transmission_time TEXT NOT NULL,
    created_at        TEXT NOT NULL,
    PRIMARY KEY (tid, stan, transmission_time)
);

-- Stand-in approvals (STIP): the switch approved for an unavailable issuer and held the amount
-- on the issuer's stand-in account; each is an 0120 advice queued for the issuer. When the issuer
-- is back it is replayed: the issuer trues the sale up from the cardholder's account (what is
-- there) and its own funds (the shortfall, the cost of stand-in). Both tables are append-only.
CREATE TABLE IF NOT EXISTS standin_advices (
    hold_id     TEXT PRIMARY KEY REFERENCES transfers (id),
    issuer      TEXT NOT NULL,
    card_id     TEXT NOT NULL,
    account     TEXT NOT NULL REFERENCES accounts (id),
    amount      INTEGER NOT NULL CHECK (amount > 0),
    issuer_day  TEXT NOT NULL,
    queued_at   TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS standin_advices_card ON standin_advices (card_id, issuer_day);
CREATE TABLE IF NOT EXISTS standin_replays (
    hold_id     TEXT PRIMARY KEY REFERENCES standin_advices (hold_id),
    trued       INTEGER NOT NULL CHECK (trued >= 0),
    shortfall   INTEGER NOT NULL CHECK (shortfall >= 0),
    replayed_at TEXT NOT NULL
);
CREATE TRIGGER IF NOT EXISTS standin_advices_append_only BEFORE UPDATE ON standin_advices
BEGIN SELECT RAISE(ABORT, 'stand-in advices are append-only'); END;
CREATE TRIGGER IF NOT EXISTS standin_replays_append_only BEFORE UPDATE ON standin_replays
BEGIN SELECT RAISE(ABORT, 'stand-in replays are append-only'); END;

CREATE TABLE IF NOT EXISTS terminal_sessions (
    tid        TEXT PRIMARY KEY,
    signed_on  INTEGER NOT NULL,
    updated_at TEXT NOT NULL
);

-- Per card: consecutive wrong PINs (reset by a right PIN; at the product's limit the card answers
-- 75 until the issuer unblocks it: tpesim cards unblock) and the last application transaction counter (ATC) of an
-- ARQC that verified (a cryptogram with an ATC not above it is a replay). Updated in the same
-- transaction as the stored response.
CREATE TABLE IF NOT EXISTS card_security (
    card_id      TEXT PRIMARY KEY,
    pin_failures INTEGER NOT NULL CHECK (pin_failures >= 0),
    last_atc     INTEGER CHECK (last_atc BETWEEN 0 AND 65535),
    updated_at   TEXT NOT NULL,
    -- Blocked by the issuer's back office (62 until unblocked; card_events says who and why).
    blocked      INTEGER NOT NULL DEFAULT 0 CHECK (blocked IN (0, 1))
);

-- The issuer's back office (switch/flows/back_office.py): every unblock, block and balance set on a
-- card, with why (detail, JSON), who and when. Append-only: the audit trail of card_security's
-- blocked flag and of the adjustment transfers.
CREATE TABLE IF NOT EXISTS card_events (
    seq        INTEGER PRIMARY KEY AUTOINCREMENT,
    card_id    TEXT NOT NULL,
    action     TEXT NOT NULL CHECK (action IN ('unblock', 'block', 'set-balance')),
    detail     TEXT NOT NULL,
    actor      TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS card_events_card ON card_events (card_id, seq);
CREATE TRIGGER IF NOT EXISTS card_events_append_only_update BEFORE UPDATE ON card_events
BEGIN SELECT RAISE(ABORT, 'card events are append-only'); END;
CREATE TRIGGER IF NOT EXISTS card_events_append_only_delete BEFORE DELETE ON card_events
BEGIN SELECT RAISE(ABORT, 'card events are append-only'); END;

-- Terminal batch closes (0500): the terminal's totals, the ledger's, and the verdict.
CREATE TABLE IF NOT EXISTS batch_closes (
    tid           TEXT NOT NULL,
    business_day  TEXT NOT NULL,
    stan          INTEGER NOT NULL,
    in_balance    INTEGER NOT NULL,
    terminal      TEXT NOT NULL,
    ledger        TEXT NOT NULL,
    differences   TEXT NOT NULL,
    created_at    TEXT NOT NULL,
    -- The terminal's batch number (DE60; NULL when the 0500 carried none), the last transfer
    -- (seq) of its terminal and day the close covered (a later close of the same day reconciles
    -- only what came after it), and the digest of what the terminal claimed (totals, journal):
    -- the same batch closed again gets the same verdict.
    batch_number  INTEGER,
    last_seq      BIGINT NOT NULL DEFAULT 0,
    digest        TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (tid, business_day, stan)
);
CREATE INDEX IF NOT EXISTS batch_closes_number ON batch_closes (tid, batch_number);

-- Settlement runs: each clears what was pending for a business day. Every transfer that moves
-- money between participants belongs to exactly one run: clearing transfers by their
-- settlement_run column, completions, late-reversal corrections, fees and interchange by a row
-- here. A run's net positions sum to zero per currency.
CREATE TABLE IF NOT EXISTS settlement_items (
    transfer_id TEXT PRIMARY KEY REFERENCES transfers (id),
    run         TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS settlement_items_run ON settlement_items (run);
CREATE TRIGGER IF NOT EXISTS settlement_items_append_only BEFORE UPDATE ON settlement_items
BEGIN SELECT RAISE(ABORT, 'settlement items are append-only'); END;

-- Each settlement run's report (the JSON document tpesim settle writes), stored with the run, so
-- a settled day can be reported again without clearing anything (tpesim settle --report-only).
CREATE TABLE IF NOT EXISTS settlement_reports (
    run          TEXT PRIMARY KEY,
    business_day TEXT NOT NULL,
    document     TEXT NOT NULL
);
CREATE TRIGGER IF NOT EXISTS settlement_reports_append_only_update BEFORE UPDATE ON settlement_reports
BEGIN SELECT RAISE(ABORT, 'settlement reports are append-only'); END;
CREATE TRIGGER IF NOT EXISTS settlement_reports_append_only_delete BEFORE DELETE ON settlement_reports
BEGIN SELECT RAISE(ABORT, 'settlement reports are append-only'); END;

CREATE TABLE IF NOT EXISTS settlement_positions (
    run           TEXT NOT NULL,
    business_day  TEXT NOT NULL,
    participant   TEXT NOT NULL,
    currency      TEXT NOT NULL,
    position      INTEGER NOT NULL,
    PRIMARY KEY (run, participant, currency)
);
CREATE TRIGGER IF NOT EXISTS settlement_append_only_update BEFORE UPDATE ON settlement_positions
BEGIN SELECT RAISE(ABORT, 'settlement positions are append-only'); END;
CREATE TRIGGER IF NOT EXISTS settlement_append_only_delete BEFORE DELETE ON settlement_positions
BEGIN SELECT RAISE(ABORT, 'settlement positions are append-only'); END;
