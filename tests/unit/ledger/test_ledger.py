"""The ledger, on SQLite and on PostgreSQL (the ``backend`` fixture): holds, voids and posts
through the card flows, database-enforced rules, and an invariant checker whose every check is
shown to fail on a deliberately corrupted row."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime, time
from pathlib import Path

import pytest

from cards import default_card_set
from switch.ledger import (
    CHECKS,
    DuplicateRequestError,
    InsufficientFundsError,
    Outcome,
    Phase,
    Transfer,
    check_ledger,
    merchant_account,
)
from switch.ledger.checker.check import QR_MTI
from switch.ledger.postgres.store import PgLedger
from switch.ledger.postings import (
    business_day,
    completion_post,
    preauth_hold,
    purchase_hold,
    qr_payment,
    reversal_of_hold,
)
from switch.ledger.rules import HOLD_TIMEOUT_S, TransferKind
from tests.ledgers import AnyLedger, LedgerBackend
from wire.clock import ManualClock

CARDS = default_card_set()
KEY = ("DZAL0001", 42, "1123140322")
MERCHANT = merchant_account("DZ0000000000101", "DZD")
DAY = date(2026, 11, 23)
START = datetime(2026, 11, 23, 13, 3, 22, tzinfo=UTC)


def buy(
    amount: int,
    key: tuple[str, int, str] = KEY,
    account: str = "CCP-0001001",
    *,
    preauth: bool = False,
) -> Transfer:
    make = preauth_hold if preauth else purchase_hold
    return make(
        key=key,
        card_id="EDH-VALID",
        cardholder_account=account,
        merchant_account=MERCHANT.id,
        amount=amount,
        currency="DZD",
        issuer_day=DAY,
        business_day=DAY,
        rrn="632714000042",
    )


async def record(
    ledger: AnyLedger, transfer: Transfer, key: tuple[str, int, str] = KEY, mti: str = "0200"
) -> None:
    """Record an approved request with its transfer (the merchant account made if needed)."""
    await ledger.record(
        key,
        mti=mti,
        digest=f"{key}",
        response_code="00",
        response=b"{}",
        transfers=[transfer],
        accounts=[MERCHANT],
    )


def test_business_day_is_the_terminals_local_day_with_a_cutoff() -> None:
    """23:30 UTC is already the next day in Algiers (UTC+1); a 22:00 cut-off moves 22:30 local
    to the next business day."""
    late = datetime(2026, 11, 23, 23, 30, tzinfo=UTC)
    assert business_day("Africa/Algiers", late) == date(2026, 11, 24)
    assert business_day("Africa/Algiers", START) == DAY
    evening = datetime(2026, 11, 23, 21, 30, tzinfo=UTC)
    assert business_day("Africa/Tunis", evening).isoformat() == "2026-11-23"
    assert business_day("Africa/Tunis", evening, cutoff=time(22, 0)) == date(2026, 11, 24)


def test_reversal_of_a_pending_hold_voids_it_and_after_clearing_corrects_it() -> None:
    hold = buy(5_000)
    void = reversal_of_hold(hold, None, key=("DZAL0001", 43, "1123140400"))
    assert (void.phase, void.pending_id, void.amount) == (Phase.VOID, hold.id, 5_000)
    posted = Transfer(
        "clear:x", TransferKind.CLEARING, Phase.POST, hold.debit_account, hold.credit_account,
        5_000, "DZD", pending_id=hold.id,
    )  # fmt: skip
    correction = reversal_of_hold(hold, posted, key=("DZAL0001", 43, "1123140400"))
    assert correction.phase is Phase.SINGLE and correction.pending_id is None
    assert (correction.debit_account, correction.credit_account) == (MERCHANT.id, "CCP-0001001")
    with pytest.raises(ValueError, match="already"):
        reversal_of_hold(hold, void, key=KEY)


async def test_opening_balances_post_once(backend: LedgerBackend) -> None:
    """Opening balances are posted on creation and not again on reopening."""
    for _ in range(2):
        async with backend.open(CARDS) as ledger:
            assert await ledger.available("CCP-0001001") == 15_000_000
    report = await backend.check()
    assert report.ok and report.postings == 0


async def test_a_purchase_holds_and_its_reversal_releases(backend: LedgerBackend) -> None:
    """A purchase holds the amount (available drops, nothing posted); its reversal voids it."""
    async with backend.open(CARDS) as ledger:
        hold = buy(250_000)
        await record(ledger, hold)
        assert await ledger.available("CCP-0001001") == 15_000_000 - 250_000
        balances = await ledger.balances("CCP-0001001")
        assert balances is not None and balances.debits_pending == 250_000
        assert await ledger.spent_on_day("EDH-VALID", DAY) == 250_000
        stored = await ledger.stored_request(KEY)
        assert stored is not None and stored.transfer_id == hold.id
        reversal_key = ("DZAL0001", 43, "1123140400")
        await record(ledger, reversal_of_hold(hold, None, key=reversal_key), reversal_key, "0400")
        assert await ledger.available("CCP-0001001") == 15_000_000
        assert await ledger.spent_on_day("EDH-VALID", DAY) == 0
        resolution = await ledger.resolution_of(hold.id)
        assert resolution is not None and resolution.phase is Phase.VOID
    report = await backend.check()
    assert report.ok, report.render()
    assert (report.postings, report.approvals, report.reversals) == (2, 1, 1)


async def test_partial_completion_releases_the_rest(backend: LedgerBackend) -> None:
    """A pre-authorization of 100 DA completed for 60 DA posts 60 DA and gives 40 DA back."""
    async with backend.open(CARDS) as ledger:
        hold = buy(10_000, preauth=True)
        await record(ledger, hold, mti="0100")
        completion = completion_post(
            hold, key=("DZAL0001", 44, "1123150000"), amount=6_000, business_day=DAY
        )
        await record(ledger, completion, ("DZAL0001", 44, "1123150000"), "0220")
        assert await ledger.available("CCP-0001001") == 15_000_000 - 6_000
        assert await ledger.spent_on_day("EDH-VALID", DAY) == 6_000
        too_much = completion_post(hold, key=KEY, amount=20_000, business_day=DAY)
        assert await ledger.apply([too_much]) == [Outcome.EXISTS_WITH_DIFFERENT_FIELDS]
    assert (await backend.check()).ok


async def test_a_qr_payment_moves_the_money_at_once(backend: LedgerBackend) -> None:
    """A QR payment posts cardholder → merchant in one step (no hold, nothing to clear), counts
    toward the card's QR spending of the day (not its card spending), and the database refuses
    one the account cannot pay."""
    key = ("QR", 7, "1123140322")

    def qr(amount: int, account: str = "CCP-0001001", k: tuple[str, int, str] = key) -> Transfer:
        return qr_payment(key=k, card_id="EDH-VALID", cardholder_account=account,
                          merchant_account=MERCHANT.id, amount=amount, currency="DZD",
                          issuer_day=DAY, business_day=DAY, rrn="632714000007")  # fmt: skip

    async with backend.open(CARDS) as ledger:
        await record(ledger, qr(50_000), key, QR_MTI)
        balances = await ledger.balances("CCP-0001001")
        assert balances is not None
        assert (balances.debits_posted, balances.debits_pending) == (50_000, 0)
        assert await ledger.qr_spent_on_day("EDH-VALID", DAY) == 50_000
        assert await ledger.spent_on_day("EDH-VALID", DAY) == 0
        other = ("QR", 8, "1123140322")
        with pytest.raises(InsufficientFundsError):
            await record(ledger, qr(1_251, "CCP-0001005", other), other, QR_MTI)
    report = await backend.check()
    assert report.ok, report.render()


async def test_holds_expire_on_the_switch_clock(backend: LedgerBackend) -> None:
    """A hold left alone is released after its window, not a microsecond before."""
    clock = ManualClock(START)
    async with backend.open(CARDS, clock) as ledger:
        hold = buy(7_000)
        await record(ledger, hold)
        clock.advance(HOLD_TIMEOUT_S - 1)
        assert await ledger.expire_due() == []
        clock.advance(1)
        assert await ledger.expire_due() == [hold.id]
        assert await ledger.available("CCP-0001001") == 15_000_000
        late = reversal_of_hold(hold, None, key=("DZAL0001", 45, "1128140322"))
        assert await ledger.apply([late]) == [Outcome.PENDING_EXPIRED]
    assert (await backend.check()).ok


async def test_database_refuses_overdraft_and_double_holds(backend: LedgerBackend) -> None:
    """The schema, not luck, stops an overdraft and a second hold of one request."""
    async with backend.open(CARDS) as ledger:
        with pytest.raises(InsufficientFundsError):
            await record(ledger, buy(1_251, account="CCP-0001005"))
        assert await ledger.stored_request(KEY) is None  # rolled back whole
        await record(ledger, buy(1_000))
        with pytest.raises(DuplicateRequestError):
            await ledger.record(KEY, mti="0200", digest="x", response_code="00", response=b"{}")
    assert (await backend.check()).ok


async def test_history_is_append_only(backend: LedgerBackend) -> None:
    """UPDATE and DELETE on transfers are refused by triggers."""
    async with backend.open(CARDS):
        pass
    for statement in ("UPDATE transfers SET amount = 1", "DELETE FROM transfers"):
        with pytest.raises(backend.integrity_error, match="append-only"):
            await backend.raw([statement])


@pytest.fixture
async def sound_ledger(backend: LedgerBackend) -> LedgerBackend:
    """A ledger with an approved purchase still held, a reversed one and a completion."""
    async with backend.open(CARDS, ManualClock(START)) as ledger:
        await record(ledger, buy(1_000))
        reversed_key = ("DZAL0001", 50, "1123140500")
        reversed_hold = buy(2_000, reversed_key)
        await record(ledger, reversed_hold, reversed_key)
        reversal_key = ("DZAL0001", 51, "1123140600")
        reversal = reversal_of_hold(reversed_hold, None, key=reversal_key)
        await record(ledger, reversal, reversal_key, "0400")
    report = await backend.check()
    assert report.ok, report.render()
    return backend


HOLD = "purchase:DZAL0001:000042:1123140322"
CORRUPTIONS: dict[str, list[str]] = {
    "conservation": [
        "UPDATE accounts SET credits_posted = credits_posted + 7 WHERE id = 'CCP-0001001'"
    ],
    "counters": [
        "UPDATE accounts SET debits_posted = debits_posted + 5, "
        "credits_posted = credits_posted + 5 WHERE id = 'CCP-0001001'"
    ],
    "no negative balance": [
        "PRAGMA ignore_check_constraints = ON",
        "UPDATE accounts SET debits_posted = credits_posted + 1 WHERE id = 'CCP-0001001'",
    ],
    "exactly once": [f"INSERT INTO failed_transfers VALUES ('{HOLD}', 'x', 'exceeds_credits', 0)"],
    "hold resolves once": [
        "DROP INDEX transfers_one_resolution",
        "DROP TRIGGER transfers_rules_resolution",
        "DROP TRIGGER transfers_resolve",
        "INSERT INTO transfers (id, kind, phase, pending_id, debit_account, credit_account, "
        "amount, currency, at_us, digest) SELECT 'again', 'reversal', 'void', pending_id, "
        "debit_account, credit_account, amount, currency, at_us, '' FROM transfers "
        "WHERE phase = 'void'",
    ],
    "expiry on switch clock": [
        "INSERT INTO transfers (id, kind, phase, debit_account, credit_account, amount, currency, "
        "at_us, digest) VALUES ('much-later', 'opening', 'single', 'issuer:algerie-poste:DZD', "
        "'CCP-0001001', 1, 'DZD', 4000000000000000, '')"
    ],
    "reversal releases hold": [
        "INSERT INTO orphan_reversals VALUES ('DZAL0001', 42, '1123140322', 'now')"
    ],
    "approvals are durable": [
        "INSERT INTO requests VALUES ('DZAL0001', 99, '1123150000', '0200', 'x', '00', x'7b7d', "
        "NULL, 'now')"
    ],
    "settlement": [
        "INSERT INTO settlement_positions VALUES ('r1', '2026-11-23', 'merchant:X', 'DZD', 5)"
    ],
    "monotonic time": [
        "INSERT INTO transfers (id, kind, phase, debit_account, credit_account, amount, currency, "
        "at_us, digest) VALUES ('early', 'opening', 'single', 'issuer:algerie-poste:DZD', "
        "'CCP-0001001', 1, 'DZD', 0, '')"
    ],
    "append only": ["DROP TRIGGER requests_append_only_update"],
    "stand-in trued up": [
        f"INSERT INTO standin_advices VALUES ('{HOLD}', 'algerie-poste', 'EDH-VALID', "
        "'CCP-0001001', 1000, '2026-11-23', 'now')"
    ],
    "fx legs follow their hold": [  # a merchant's leg of a payment abroad with no hold
        "INSERT INTO transfers (id, kind, phase, debit_account, credit_account, amount, currency, "
        "at_us, digest) SELECT 'fx:purchase:DZAL0001:000099:1123150000', 'fx', 'pending', "
        "'issuer:algerie-poste:DZD', 'CCP-0001001', 1, 'DZD', MAX(at_us) + 1, '' FROM transfers"
    ],
    "refunds within their sale": [  # a refund of the held sale, one centime over it
        "INSERT INTO transfers (id, kind, phase, debit_account, credit_account, amount, currency, "
        "at_us, digest, card_id, tid) SELECT 'refund:DZAL0001:000043:1123140400', 'refund', "
        "'pending', credit_account, debit_account, amount + 1, currency, "
        "(SELECT MAX(at_us) FROM transfers) + 1, '', card_id, tid FROM transfers "
        f"WHERE id = '{HOLD}'",
        f"INSERT INTO refunds VALUES ('refund:DZAL0001:000043:1123140400', '{HOLD}')",
    ],
}


PG_CORRUPTIONS: dict[str, list[str]] = {
    "no negative balance": [
        "ALTER TABLE accounts DROP CONSTRAINT debits_within_credits",
        CORRUPTIONS["no negative balance"][1],
    ],
    "hold resolves once": [
        "DROP INDEX transfers_one_resolution",
        "DROP TRIGGER transfers_rules_resolution ON transfers",
        "DROP TRIGGER transfers_counters ON transfers",
        CORRUPTIONS["hold resolves once"][3],
    ],
    "approvals are durable": [
        "INSERT INTO requests VALUES ('DZAL0001', 99, '1123150000', '0200', 'x', '00', "
        "'\\x7b7d'::bytea, NULL, 'now')"
    ],
    "append only": ["DROP TRIGGER requests_append_only_update ON requests"],
}
"""The same corruptions in PostgreSQL's words, where they differ."""


def test_every_invariant_has_a_corruption_test() -> None:
    assert set(CORRUPTIONS) == set(CHECKS)


@pytest.mark.parametrize("check", sorted(CORRUPTIONS))
async def test_each_check_catches_its_corruption(sound_ledger: LedgerBackend, check: str) -> None:
    """Corrupting one row (behind the database's back) makes exactly that check fail."""
    corruption = CORRUPTIONS[check]
    if sound_ledger.name == "postgresql":
        corruption = PG_CORRUPTIONS.get(check, corruption)
    await sound_ledger.raw(corruption)
    report = await sound_ledger.check()
    assert not report.ok
    assert check in report.failed(), report.render()
    assert f"FAIL {check}" in report.render()


def test_checker_needs_an_existing_ledger(tmp_path: Path) -> None:
    """Checking a missing file is an error, not an empty success."""
    with pytest.raises(FileNotFoundError):
        check_ledger(tmp_path / "absent.db")


async def test_postgresql_events_at_once_share_commits_and_a_refusal_stays_alone(
    pg_backend: LedgerBackend,
) -> None:
    """Group commit on PostgreSQL: purchases recorded at once commit in fewer transactions than
    events; a duplicate among them is refused alone, its group's other events stand; once
    answered, each is committed (a second connection sees it)."""
    async with pg_backend.open(CARDS) as ledger, pg_backend.open() as other:
        assert isinstance(ledger, PgLedger)
        groups, events = ledger.writes.groups, ledger.writes.events
        keys = [("DZAL0001", 100 + n, f"11231409{n:02d}") for n in range(12)]
        results = await asyncio.gather(
            *(record(ledger, buy(1_000, key), key) for key in keys),
            record(ledger, buy(1_000, keys[3]), keys[3]),
            return_exceptions=True,
        )
        assert [type(r).__name__ for r in results] == ["NoneType"] * 12 + ["DuplicateRequestError"]
        assert ledger.writes.events - events == 12
        assert 1 <= ledger.writes.groups - groups < 12
        assert await other.available("CCP-0001001") == 15_000_000 - 12_000
    assert (await pg_backend.check()).ok


async def test_a_cancelled_postgresql_writer_leaves_its_event_whole(
    pg_backend: LedgerBackend,
) -> None:
    """A caller cancelled while its event is under way stops waiting; the event still runs to
    its end in the group and commits with it, and the next event's group commits after it."""
    later = ("DZAL0001", 43, "1123140400")
    async with pg_backend.open(CARDS) as ledger, pg_backend.open() as other:
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0):
                await record(ledger, buy(1_000))
        await record(ledger, buy(2_000, later), later)
        assert await other.stored_request(KEY) is not None
        assert await other.available("CCP-0001001") == 15_000_000 - 3_000
    assert (await pg_backend.check()).ok


async def test_two_writers_of_one_postgresql_ledger_post_a_request_once(
    pg_backend: LedgerBackend,
) -> None:
    """Two workers' connections store the same request at the same moment: one posts, the other
    is told it is a duplicate; two holds that together overdraw an account: one is refused. The
    database decides (unique keys, the account's check), whichever writer comes second."""
    async with pg_backend.open(CARDS) as first, pg_backend.open() as second:
        outcomes = await asyncio.gather(
            record(first, buy(1_000)), record(second, buy(1_000)), return_exceptions=True
        )
        assert sorted(type(o).__name__ for o in outcomes) == ["DuplicateRequestError", "NoneType"]
        one, two = ("DZAL0001", 60, "1123140700"), ("DZAL0002", 61, "1123140800")
        overdraw = await asyncio.gather(
            record(first, buy(1_000, one, "CCP-0001005"), one),
            record(second, buy(1_000, two, "CCP-0001005"), two),
            return_exceptions=True,
        )
        assert sorted(type(o).__name__ for o in overdraw) == ["InsufficientFundsError", "NoneType"]
        assert await first.available("CCP-0001005") == 250
    assert (await pg_backend.check()).ok
