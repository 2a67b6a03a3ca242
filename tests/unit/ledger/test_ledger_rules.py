"""The ledger's pure posting rules: the fingerprint a replay is matched on (stored in every
ledger, so it must not change between versions), a reference-model request carried as a
transfer, and the opening balances (an empty account gets no transfer: the ledger refuses an
amount that is not positive)."""

from __future__ import annotations

import hashlib
from dataclasses import replace

from cards import default_card_set
from switch.ledger.rules import Phase, Transfer, TransferKind, opening_transfers
from switch.ledger.twophase import TransferRequest

CARDS = default_card_set()


def test_the_fingerprint_is_the_stored_one() -> None:
    """SHA-256 of the fields a replay must match, pipe-joined, first 32 hex digits: the value
    every existing ledger holds for this transfer."""
    transfer = Transfer("t1", TransferKind.PURCHASE, Phase.PENDING, "a", "b", 5, "DZD",
                        timeout_s=3)  # fmt: skip
    text = "t1|purchase|pending|None|a|b|5|DZD|3"
    assert transfer.digest == hashlib.sha256(text.encode()).hexdigest()[:32]
    assert transfer.digest == "7dcea193a50a3f7917602349fc3613fc"


def test_a_model_request_becomes_the_same_transfer() -> None:
    hold = Transfer.from_request(
        TransferRequest("h", "pending", "card", "shop", 500, "DZD", timeout_s=30),
        TransferKind.PURCHASE,
    )
    assert (hold.phase, hold.pending_id, hold.timeout_s, hold.amount) == (
        Phase.PENDING, None, 30, 500)  # fmt: skip
    single = Transfer.from_request(TransferRequest("s", "single", "a", "b", 5, "DZD"),
                                   TransferKind.QR)  # fmt: skip
    assert (single.phase, single.pending_id) == (Phase.SINGLE, None)
    post = Transfer.from_request(TransferRequest("p", "post", pending_id="h"),
                                 TransferKind.COMPLETION)  # fmt: skip
    assert (post.phase, post.pending_id) == (Phase.POST, "h")


def test_only_accounts_with_money_get_an_opening_transfer() -> None:
    account = next(iter(CARDS.accounts.values()))
    for balance, expected in ((0, []), (1, [1]), (250, [250])):
        funded = account.model_copy(update={"balance": balance})
        changed = replace(CARDS, accounts={account.id: funded})
        accounts, transfers = opening_transfers(changed)
        assert [t.amount for t in transfers] == expected
        assert {a.id for a in accounts} >= {account.id}
    accounts, transfers = opening_transfers(CARDS)
    assert len(transfers) == len(CARDS.accounts)
    assert all(t.phase is Phase.SINGLE and t.kind is TransferKind.OPENING for t in transfers)
