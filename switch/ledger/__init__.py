"""Ledger: two-phase double-entry accounts and transfers in SQLite or PostgreSQL, the pure rules
they follow (``twophase``, ``rules``, ``postings``), and the invariant checker."""

from switch.ledger.checker.check import CHECKS, LedgerReport, check_ledger
from switch.ledger.errors import DuplicateRequestError, InsufficientFundsError, LedgerRefusalError
from switch.ledger.reads import StoredRequest
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
from switch.ledger.sqlite.store import Ledger
from switch.ledger.twophase import AccountSpec, Balances, Book, HoldState, Outcome, TransferRequest
from switch.ledger.where import AnyLedger, LedgerLocation, check_location, open_ledger

__all__ = [
    "CHECKS",
    "AccountKind",
    "AccountSpec",
    "AnyLedger",
    "Balances",
    "Book",
    "DuplicateRequestError",
    "HoldState",
    "InsufficientFundsError",
    "Ledger",
    "LedgerAccount",
    "LedgerLocation",
    "LedgerRefusalError",
    "LedgerReport",
    "Outcome",
    "Phase",
    "StoredRequest",
    "Transfer",
    "TransferKind",
    "TransferRequest",
    "check_ledger",
    "check_location",
    "issuer_account_id",
    "merchant_account",
    "merchant_account_id",
    "open_ledger",
    "opening_transfers",
]
