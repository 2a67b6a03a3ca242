"""Ledger v1 on real SQLite: postings, database-enforced rules, and the checker."""

from __future__ import annotations

import sqlite3
from datetime import date
from pathlib import Path

import pytest

from cards import default_card_set
from switch.ledger import (
    AccountKind,
    DuplicateRequestError,
    InsufficientFundsError,
    Ledger,
    LedgerAccount,
    Transfer,
    TransferKind,
    check_ledger,
    purchase_transfer,
    reversal_transfer,
)

CARDS = default_card_set()
KEY = ("DZAL0001", 42, "1123140322")
MERCHANT = LedgerAccount("merchant:DZ0000000000101:DZD", AccountKind.MERCHANT, "DZD")


def buy(amount: int, key: tuple[str, int, str] = KEY, account: str = "CCP-0001001") -> Transfer:
    return purchase_transfer(
        key=key,
        card_id="EDH-VALID",
        cardholder_account=account,
        merchant_account=MERCHANT.id,
        amount=amount,
        currency="DZD",
        day=date(2026, 11, 23),
        rrn="632714000042",
    )


async def post(
    ledger: Ledger, transfer: Transfer, key: tuple[str, int, str] = KEY, mti: str = "0200"
) -> None:
    """Record an approved request with its transfer (a new merchant account if needed)."""
    merchant = MERCHANT if transfer.kind is TransferKind.PURCHASE else None
    await ledger.record(
        key,
        mti=mti,
        digest=f"{key}",
        response_code="00",
        response=b"{}",
        transfer=transfer,
        merchant=merchant,
    )


def test_transfer_rules_refuse_nonsense() -> None:
    """A transfer moves a positive amount between two different accounts."""
    with pytest.raises(ValueError, match="positive"):
        buy(0)
    with pytest.raises(ValueError, match="differ"):
        Transfer("t", TransferKind.PURCHASE, "A", "A", 1, "DZD")


def test_reversal_mirrors_the_purchase() -> None:
    """A reversal swaps the accounts of its purchase, same amount, and names it."""
    purchase = buy(5_000)
    reversal = reversal_transfer(purchase, key=("DZAL0001", 43, "1123140400"))
    assert (reversal.debit_account, reversal.credit_account) == (
        purchase.credit_account,
        purchase.debit_account,
    )
    assert (reversal.amount, reversal.reverses) == (5_000, purchase.id)
    with pytest.raises(ValueError, match="only a purchase"):
        reversal_transfer(reversal, key=KEY)


async def test_opening_balances_post_once(tmp_path: Path) -> None:
    """Opening balances are posted on creation and not again on reopening."""
    path = tmp_path / "ledger.db"
    for _ in range(2):
        async with await Ledger.open(path, CARDS) as ledger:
            assert await ledger.available("CCP-0001001") == 15_000_000
    report = check_ledger(path)
    assert report.ok and report.postings == 0


async def test_purchase_and_reversal_move_balances(tmp_path: Path) -> None:
    """A purchase debits the cardholder and credits the merchant; its reversal undoes it."""
    path = tmp_path / "ledger.db"
    async with await Ledger.open(path, CARDS) as ledger:
        purchase = buy(250_000)
        await post(ledger, purchase)
        assert await ledger.available("CCP-0001001") == 15_000_000 - 250_000
        assert await ledger.spent_on_day("EDH-VALID", date(2026, 11, 23)) == 250_000
        stored = await ledger.stored_request(KEY)
        assert stored is not None and stored.transfer_id == purchase.id
        reversal_key = ("DZAL0001", 43, "1123140400")
        await post(ledger, reversal_transfer(purchase, key=reversal_key), reversal_key, mti="0400")
        assert await ledger.available("CCP-0001001") == 15_000_000
        assert await ledger.spent_on_day("EDH-VALID", date(2026, 11, 23)) == 0
        assert await ledger.reversal_of(purchase.id) == f"reversal:{purchase.id}"
    report = check_ledger(path)
    assert report.ok, report.render()
    assert (report.postings, report.approvals, report.reversals) == (2, 1, 1)


async def test_database_refuses_overdraft_and_double_posting(tmp_path: Path) -> None:
    """The schema, not luck, stops an overdraft and a second posting of one request."""
    path = tmp_path / "ledger.db"
    async with await Ledger.open(path, CARDS) as ledger:
        with pytest.raises(InsufficientFundsError):
            await post(ledger, buy(1_251, account="CCP-0001005"))
        assert await ledger.stored_request(KEY) is None  # rolled back whole
        await post(ledger, buy(1_000))
        with pytest.raises(DuplicateRequestError):
            await post(ledger, buy(1_000))
    assert check_ledger(path).ok


async def test_history_is_append_only(tmp_path: Path) -> None:
    """UPDATE and DELETE on transfers are refused by triggers."""
    path = tmp_path / "ledger.db"
    async with await Ledger.open(path, CARDS):
        pass
    with sqlite3.connect(path) as db:
        for statement in ("UPDATE transfers SET amount = 1", "DELETE FROM transfers"):
            with pytest.raises(sqlite3.IntegrityError, match="append-only"):
                db.execute(statement)


async def test_checker_finds_tampering(tmp_path: Path) -> None:
    """A counter that disagrees with the transfers, or a lost posting, is reported."""
    path = tmp_path / "ledger.db"
    async with await Ledger.open(path, CARDS) as ledger:
        await post(ledger, buy(1_000))
    with sqlite3.connect(path) as db:
        db.execute(
            "UPDATE accounts SET credits_posted = credits_posted + 7 WHERE id = 'CCP-0001001'"
        )
        db.execute(
            "INSERT INTO requests VALUES ('DZAL0001', 99, '1123150000', '0200', 'x', "
            "'00', x'7b7d', NULL, 'now')"
        )
        db.execute("DROP TRIGGER transfers_append_only_delete")
    report = check_ledger(path)
    assert not report.ok and not report.balanced
    text = report.render()
    assert "debits" in text and "CCP-0001001" in text
    assert "approval DZAL0001/99 has no purchase posting" in text
    assert "transfers_append_only_delete is missing" in text


def test_checker_needs_an_existing_ledger(tmp_path: Path) -> None:
    """Checking a missing file is an error, not an empty success."""
    with pytest.raises(FileNotFoundError):
        check_ledger(tmp_path / "absent.db")
