"""Ledger: double-entry accounts and transfers in SQLite, its invariant checker, and the pure
two-phase transfer rules (``switch.ledger.twophase``) the storage backends grow into."""

from switch.ledger.check import LedgerReport, check_ledger
from switch.ledger.rules import (
    AccountKind,
    LedgerAccount,
    Transfer,
    TransferKind,
    issuer_account_id,
    merchant_account_id,
    opening_transfers,
    purchase_transfer,
    reversal_transfer,
)
from switch.ledger.store import DuplicateRequestError, InsufficientFundsError, Ledger, StoredRequest
from switch.ledger.twophase import AccountSpec, Balances, Book, HoldState, Outcome, TransferRequest

__all__ = [
    "AccountKind",
    "AccountSpec",
    "Balances",
    "Book",
    "DuplicateRequestError",
    "HoldState",
    "InsufficientFundsError",
    "Ledger",
    "LedgerAccount",
    "LedgerReport",
    "Outcome",
    "StoredRequest",
    "Transfer",
    "TransferKind",
    "TransferRequest",
    "check_ledger",
    "issuer_account_id",
    "merchant_account_id",
    "opening_transfers",
    "purchase_transfer",
    "reversal_transfer",
]
