-- tpesim ledger v3 on PostgreSQL: the same tables, columns and rules as schema.sql (SQLite),
-- in PostgreSQL's dialect. Money and switch-clock microseconds are BIGINT; days and times stay
-- ISO texts, as in SQLite, so both backends read and write the same values. The rule triggers
-- raise SQLSTATE 23000 with the outcome's name as the message, as SQLite's RAISE(ABORT) does.
-- Idempotent: run at every open.

CREATE TABLE IF NOT EXISTS ledger_meta (
    schema_version INTEGER NOT NULL
);

-- The ledger's clock: the latest switch-clock time (µs) given to a transaction. Every write
-- transaction moves it first (GREATEST with its worker's clock) and holds its row lock until it
-- commits, so with several workers timestamps still never go back in commit order.
CREATE TABLE IF NOT EXISTS ledger_clock (
    last_us BIGINT NOT NULL
);

CREATE TABLE IF NOT EXISTS accounts (
    id              TEXT PRIMARY KEY,
    kind            TEXT NOT NULL CHECK (kind IN ('cardholder', 'merchant', 'issuer', 'acquirer', 'fx')),
    currency        TEXT NOT NULL,
    participant     TEXT NOT NULL,
    debits_must_not_exceed_credits INTEGER NOT NULL DEFAULT 0,
    debits_pending  BIGINT NOT NULL DEFAULT 0 CHECK (debits_pending >= 0),
    debits_posted   BIGINT NOT NULL DEFAULT 0 CHECK (debits_posted >= 0),
    credits_pending BIGINT NOT NULL DEFAULT 0 CHECK (credits_pending >= 0),
    credits_posted  BIGINT NOT NULL DEFAULT 0 CHECK (credits_posted >= 0),
    -- Named so a refusal reads "exceeds_credits": concurrent writers (switch workers) each pass
    -- the rule trigger, and this check, evaluated on the locked row, refuses the second.
    CONSTRAINT debits_within_credits CHECK (
        debits_must_not_exceed_credits = 0 OR debits_posted + debits_pending <= credits_posted)
);

CREATE TABLE IF NOT EXISTS transfers (
    seq               BIGSERIAL PRIMARY KEY,
    id                TEXT NOT NULL CONSTRAINT transfers_id_unique UNIQUE,
    kind              TEXT NOT NULL CHECK (kind IN (
        'opening', 'purchase', 'preauth', 'completion', 'refund', 'reversal', 'expiry',
        'clearing', 'fee', 'interchange', 'true_up', 'qr', 'fx', 'adjustment')),
    phase             TEXT NOT NULL CHECK (phase IN (
        'single', 'pending', 'post', 'void', 'expire', 'clear')),
    pending_id        TEXT REFERENCES transfers (id),
    debit_account     TEXT NOT NULL REFERENCES accounts (id),
    credit_account    TEXT NOT NULL REFERENCES accounts (id),
    amount            BIGINT NOT NULL CHECK (amount > 0),
    currency          TEXT NOT NULL,
    timeout_s         BIGINT NOT NULL DEFAULT 0 CHECK (timeout_s >= 0),
    at_us             BIGINT NOT NULL,
    expires_us        BIGINT,
    digest            TEXT NOT NULL,
    card_id           TEXT,
    tid               TEXT,
    stan              INTEGER,
    transmission_time TEXT,
    issuer_day        TEXT,
    business_day      TEXT,
    rrn               TEXT,
    settlement_run    TEXT,
    batch             INTEGER CHECK (batch IS NULL OR batch = 1),
    CHECK ((phase = 'clear') = (settlement_run IS NOT NULL AND kind = 'clearing')),
    CHECK (debit_account <> credit_account),
    CHECK ((phase IN ('post', 'void', 'expire')) = (pending_id IS NOT NULL)),
    CHECK (expires_us IS NULL OR (phase = 'pending' AND expires_us = at_us + timeout_s * 1000000))
);
-- A hold resolves at most once, whichever worker tries: the database decides, not luck.
CREATE UNIQUE INDEX IF NOT EXISTS transfers_one_resolution ON transfers (pending_id)
    WHERE pending_id IS NOT NULL;
CREATE INDEX IF NOT EXISTS transfers_card_day ON transfers (card_id, issuer_day)
    WHERE phase = 'pending';
CREATE INDEX IF NOT EXISTS transfers_business_day ON transfers (business_day, tid);
CREATE INDEX IF NOT EXISTS transfers_deadline ON transfers (expires_us)
    WHERE expires_us IS NOT NULL;

CREATE TABLE IF NOT EXISTS cleared_holds (
    hold_seq    BIGINT PRIMARY KEY,
    clearing_id TEXT NOT NULL
);

CREATE TABLE IF NOT EXISTS failed_transfers (
    id      TEXT PRIMARY KEY,
    digest  TEXT NOT NULL,
    outcome TEXT NOT NULL,
    at_us   BIGINT NOT NULL
);

CREATE TABLE IF NOT EXISTS requests (
    tid               TEXT NOT NULL,
    stan              INTEGER NOT NULL,
    transmission_time TEXT NOT NULL,
    mti               TEXT NOT NULL,
    digest            TEXT NOT NULL,
    response_code     TEXT NOT NULL,
    response          BYTEA NOT NULL,
    transfer_id       TEXT REFERENCES transfers (id),
    created_at        TEXT NOT NULL,
    PRIMARY KEY (tid, stan, transmission_time)
);

-- Refunds that name their sale (DE90 of the 0200): which sale's hold each gives money back
-- from. The checker holds every sale's standing refunds within what it captured.
CREATE TABLE IF NOT EXISTS refunds (
    refund_id   TEXT PRIMARY KEY REFERENCES transfers (id),
    original_id TEXT NOT NULL REFERENCES transfers (id)
);
CREATE INDEX IF NOT EXISTS refunds_original ON refunds (original_id);

CREATE TABLE IF NOT EXISTS orphan_reversals (
    tid               TEXT NOT NULL,
    stan              INTEGER NOT NULL,
    transmission_time TEXT NOT NULL,
    created_at        TEXT NOT NULL,
    PRIMARY KEY (tid, stan, transmission_time)
);

CREATE TABLE IF NOT EXISTS standin_advices (
    hold_id     TEXT PRIMARY KEY REFERENCES transfers (id),
    issuer      TEXT NOT NULL,
    card_id     TEXT NOT NULL,
    account     TEXT NOT NULL REFERENCES accounts (id),
    amount      BIGINT NOT NULL CHECK (amount > 0),
    issuer_day  TEXT NOT NULL,
    queued_at   TEXT NOT NULL,
    -- Queue order (SQLite's rowid); last, so the shared positional INSERT leaves it out.
    seq         BIGSERIAL
);
CREATE INDEX IF NOT EXISTS standin_advices_card ON standin_advices (card_id, issuer_day);
CREATE TABLE IF NOT EXISTS standin_replays (
    hold_id     TEXT PRIMARY KEY REFERENCES standin_advices (hold_id),
    trued       BIGINT NOT NULL CHECK (trued >= 0),
    shortfall   BIGINT NOT NULL CHECK (shortfall >= 0),
    replayed_at TEXT NOT NULL
);

CREATE TABLE IF NOT EXISTS terminal_sessions (
    tid        TEXT PRIMARY KEY,
    signed_on  INTEGER NOT NULL,
    updated_at TEXT NOT NULL
);

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
    seq        BIGSERIAL PRIMARY KEY,
    card_id    TEXT NOT NULL,
    action     TEXT NOT NULL CHECK (action IN ('unblock', 'block', 'set-balance')),
    detail     TEXT NOT NULL,
    actor      TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS card_events_card ON card_events (card_id, seq);

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

CREATE TABLE IF NOT EXISTS settlement_items (
    transfer_id TEXT PRIMARY KEY REFERENCES transfers (id),
    run         TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS settlement_items_run ON settlement_items (run);

-- Each settlement run's report (the JSON document tpesim settle writes), stored with the run, so
-- a settled day can be reported again without clearing anything (tpesim settle --report-only).
CREATE TABLE IF NOT EXISTS settlement_reports (
    run          TEXT PRIMARY KEY,
    business_day TEXT NOT NULL,
    document     TEXT NOT NULL
);

CREATE TABLE IF NOT EXISTS settlement_positions (
    run           TEXT NOT NULL,
    business_day  TEXT NOT NULL,
    participant   TEXT NOT NULL,
    currency      TEXT NOT NULL,
    position      BIGINT NOT NULL,
    PRIMARY KEY (run, participant, currency)
);

-- The rules, in the reference model's order: the first that fails names the outcome.
-- First for every transfer: its id is neither taken nor refused before.
CREATE OR REPLACE FUNCTION tpesim_id_unused(transfer_id TEXT) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM transfers WHERE id = transfer_id) THEN
        RAISE EXCEPTION 'exists' USING ERRCODE = '23000';
    END IF;
    IF EXISTS (SELECT 1 FROM failed_transfers WHERE id = transfer_id) THEN
        RAISE EXCEPTION 'id_already_failed' USING ERRCODE = '23000';
    END IF;
END $$;

CREATE OR REPLACE FUNCTION tpesim_rules_new() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    d accounts;
    c accounts;
BEGIN
    PERFORM tpesim_id_unused(NEW.id);
    SELECT * INTO d FROM accounts WHERE id = NEW.debit_account;
    SELECT * INTO c FROM accounts WHERE id = NEW.credit_account;
    IF d.id IS NULL OR c.id IS NULL THEN
        RAISE EXCEPTION 'account_not_found' USING ERRCODE = '23000';
    ELSIF NEW.debit_account = NEW.credit_account THEN
        RAISE EXCEPTION 'accounts_must_differ' USING ERRCODE = '23000';
    ELSIF NEW.amount <= 0 THEN
        RAISE EXCEPTION 'amount_must_be_positive' USING ERRCODE = '23000';
    ELSIF d.currency <> NEW.currency OR c.currency <> NEW.currency THEN
        RAISE EXCEPTION 'currency_mismatch' USING ERRCODE = '23000';
    ELSIF d.debits_must_not_exceed_credits <> 0
        AND d.credits_posted - d.debits_posted - d.debits_pending < NEW.amount THEN
        RAISE EXCEPTION 'exceeds_credits' USING ERRCODE = '23000';
    END IF;
    RETURN NEW;
END $$;

CREATE OR REPLACE FUNCTION tpesim_rules_resolution() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    h transfers;
    resolved TEXT;
BEGIN
    PERFORM tpesim_id_unused(NEW.id);
    SELECT * INTO h FROM transfers WHERE id = NEW.pending_id AND phase = 'pending';
    SELECT phase INTO resolved FROM transfers WHERE pending_id = NEW.pending_id;
    IF h.id IS NULL THEN
        RAISE EXCEPTION 'pending_not_found' USING ERRCODE = '23000';
    ELSIF resolved = 'post' OR EXISTS (SELECT 1 FROM cleared_holds WHERE hold_seq = h.seq) THEN
        RAISE EXCEPTION 'pending_already_posted' USING ERRCODE = '23000';
    ELSIF resolved = 'void' THEN
        RAISE EXCEPTION 'pending_already_voided' USING ERRCODE = '23000';
    ELSIF resolved = 'expire' THEN
        RAISE EXCEPTION 'pending_expired' USING ERRCODE = '23000';
    ELSIF NEW.phase = 'post' AND NEW.amount > h.amount THEN
        RAISE EXCEPTION 'exceeds_pending_amount' USING ERRCODE = '23000';
    ELSIF (NEW.phase <> 'post' AND NEW.amount <> h.amount)
        OR h.debit_account <> NEW.debit_account OR h.credit_account <> NEW.credit_account
        OR h.currency <> NEW.currency THEN
        RAISE EXCEPTION 'resolution_differs_from_pending' USING ERRCODE = '23000';
    ELSIF NEW.debit_account = NEW.credit_account THEN
        RAISE EXCEPTION 'accounts_must_differ' USING ERRCODE = '23000';
    ELSIF NEW.amount <= 0 THEN
        RAISE EXCEPTION 'amount_must_be_positive' USING ERRCODE = '23000';
    END IF;
    RETURN NEW;
END $$;

-- The counters. A resolution releases what its hold took from pending, and posts its amount.
CREATE OR REPLACE FUNCTION tpesim_counters() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    held BIGINT := 0;
    posted BIGINT := 0;
BEGIN
    IF NEW.phase = 'single' THEN
        posted := NEW.amount;
    ELSIF NEW.phase = 'pending' THEN
        held := -NEW.amount;
    ELSIF NEW.phase = 'clear' THEN
        held := NEW.amount;
        posted := NEW.amount;
    ELSE
        SELECT amount INTO held FROM transfers WHERE id = NEW.pending_id;
        IF NEW.phase = 'post' THEN
            posted := NEW.amount;
        END IF;
    END IF;
    UPDATE accounts SET debits_pending = debits_pending - held,
        debits_posted = debits_posted + posted WHERE id = NEW.debit_account;
    UPDATE accounts SET credits_pending = credits_pending - held,
        credits_posted = credits_posted + posted WHERE id = NEW.credit_account;
    RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION tpesim_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% are append-only', replace(TG_TABLE_NAME, '_', ' ') USING ERRCODE = '23000';
END $$;

CREATE OR REPLACE TRIGGER transfers_rules_new BEFORE INSERT ON transfers FOR EACH ROW
    WHEN (NEW.pending_id IS NULL AND NEW.phase <> 'clear' AND NEW.batch IS NULL)
    EXECUTE FUNCTION tpesim_rules_new();
CREATE OR REPLACE TRIGGER transfers_rules_resolution BEFORE INSERT ON transfers FOR EACH ROW
    WHEN (NEW.pending_id IS NOT NULL AND NEW.batch IS NULL)
    EXECUTE FUNCTION tpesim_rules_resolution();
CREATE OR REPLACE TRIGGER transfers_counters AFTER INSERT ON transfers FOR EACH ROW
    WHEN (NEW.batch IS NULL)
    EXECUTE FUNCTION tpesim_counters();

-- History is append-only; the triggers have SQLite's names, which the checker looks for.
CREATE OR REPLACE TRIGGER transfers_append_only_update BEFORE UPDATE ON transfers
    FOR EACH ROW EXECUTE FUNCTION tpesim_append_only();
CREATE OR REPLACE TRIGGER transfers_append_only_delete BEFORE DELETE ON transfers
    FOR EACH ROW EXECUTE FUNCTION tpesim_append_only();
CREATE OR REPLACE TRIGGER cleared_holds_append_only_update BEFORE UPDATE ON cleared_holds
    FOR EACH ROW EXECUTE FUNCTION tpesim_append_only();
CREATE OR REPLACE TRIGGER cleared_holds_append_only_delete BEFORE DELETE ON cleared_holds
    FOR EACH ROW EXECUTE FUNCTION tpesim_append_only();
CREATE OR REPLACE TRIGGER failed_transfers_append_only BEFORE UPDATE ON failed_transfers
    FOR EACH ROW EXECUTE FUNCTION tpesim_append_only();
CREATE OR REPLACE TRIGGER requests_append_only_update BEFORE UPDATE ON requests
    FOR EACH ROW EXECUTE FUNCTION tpesim_append_only();
CREATE OR REPLACE TRIGGER requests_append_only_delete BEFORE DELETE ON requests
    FOR EACH ROW EXECUTE FUNCTION tpesim_append_only();
CREATE OR REPLACE TRIGGER standin_advices_append_only BEFORE UPDATE ON standin_advices
    FOR EACH ROW EXECUTE FUNCTION tpesim_append_only();
CREATE OR REPLACE TRIGGER standin_replays_append_only BEFORE UPDATE ON standin_replays
    FOR EACH ROW EXECUTE FUNCTION tpesim_append_only();
CREATE OR REPLACE TRIGGER settlement_items_append_only BEFORE UPDATE ON settlement_items
    FOR EACH ROW EXECUTE FUNCTION tpesim_append_only();
CREATE OR REPLACE TRIGGER settlement_append_only_update BEFORE UPDATE ON settlement_positions
    FOR EACH ROW EXECUTE FUNCTION tpesim_append_only();
CREATE OR REPLACE TRIGGER settlement_append_only_delete BEFORE DELETE ON settlement_positions
    FOR EACH ROW EXECUTE FUNCTION tpesim_append_only();
CREATE OR REPLACE TRIGGER refunds_append_only_update BEFORE UPDATE ON refunds
    FOR EACH ROW EXECUTE FUNCTION tpesim_append_only();
CREATE OR REPLACE TRIGGER refunds_append_only_delete BEFORE DELETE ON refunds
    FOR EACH ROW EXECUTE FUNCTION tpesim_append_only();
CREATE OR REPLACE TRIGGER card_events_append_only_update BEFORE UPDATE ON card_events
    FOR EACH ROW EXECUTE FUNCTION tpesim_append_only();
CREATE OR REPLACE TRIGGER card_events_append_only_delete BEFORE DELETE ON card_events
    FOR EACH ROW EXECUTE FUNCTION tpesim_append_only();
CREATE OR REPLACE TRIGGER settlement_reports_append_only_update BEFORE UPDATE ON settlement_reports
    FOR EACH ROW EXECUTE FUNCTION tpesim_append_only();
CREATE OR REPLACE TRIGGER settlement_reports_append_only_delete BEFORE DELETE ON settlement_reports
    FOR EACH ROW EXECUTE FUNCTION tpesim_append_only();
