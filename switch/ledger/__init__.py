"""Ledger v1: double-entry accounts and transfers in SQLite, and its invariant checker."""

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

__all__ = [
    "AccountKind",
    "DuplicateRequestError",
    "InsufficientFundsError",
    "Ledger",
    "LedgerAccount",
    "LedgerReport",
    "StoredRequest",
    "Transfer",
    "TransferKind",
    "check_ledger",
    "issuer_account_id",
    "merchant_account_id",
    "opening_transfers",
    "purchase_transfer",
    "reversal_transfer",
]
