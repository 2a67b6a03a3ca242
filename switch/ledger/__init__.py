"""Ledger: two-phase double-entry accounts and transfers in SQLite, the pure rules they follow
(``twophase``, ``rules``, ``postings``), and the invariant checker."""

from switch.ledger.check import CHECKS, LedgerReport, check_ledger
from switch.ledger.rules import (
    AccountKind,
    LedgerAccount,
    Phase,
    Transfer,
    TransferKind,
    issuer_account_id,
    merchant_account,
    merchant_account_id,
    opening_transfers,
)
from switch.ledger.store import (
    DuplicateRequestError,
    InsufficientFundsError,
    Ledger,
    LedgerRefusalError,
    StoredRequest,
)
from switch.ledger.twophase import AccountSpec, Balances, Book, HoldState, Outcome, TransferRequest

__all__ = [
    "CHECKS",
    "AccountKind",
    "AccountSpec",
    "Balances",
    "Book",
    "DuplicateRequestError",
    "HoldState",
    "InsufficientFundsError",
    "Ledger",
    "LedgerAccount",
    "LedgerRefusalError",
    "LedgerReport",
    "Outcome",
    "Phase",
    "StoredRequest",
    "Transfer",
    "TransferKind",
    "TransferRequest",
    "check_ledger",
    "issuer_account_id",
    "merchant_account",
    "merchant_account_id",
    "opening_transfers",
]
