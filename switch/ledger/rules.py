"""Ledger posting rules (pure): which transfer each business event makes.

Double entry: every transfer debits one account and credits another by the same positive
amount of one currency. Cardholder accounts are credit-normal (their balance is credits minus
debits) and may never go below zero; issuer funding accounts are debit-normal.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date
from enum import StrEnum

from cards.catalog import CardSet

__all__ = [
    "AccountKind",
    "LedgerAccount",
    "Transfer",
    "TransferKind",
    "issuer_account_id",
    "merchant_account_id",
    "opening_transfers",
    "purchase_transfer",
    "reversal_transfer",
]


class AccountKind(StrEnum):
    CARDHOLDER = "cardholder"
    MERCHANT = "merchant"
    ISSUER = "issuer"


class TransferKind(StrEnum):
    OPENING = "opening"
    """Funds an account with its opening balance from the issuer."""
    PURCHASE = "purchase"
    """Debits the cardholder and credits the merchant (0200 approved)."""
    REVERSAL = "reversal"
    """Mirrors a purchase back (0400 accepted)."""


@dataclass(frozen=True, slots=True)
class LedgerAccount:
    """An account: id, kind and its single currency."""

    id: str
    kind: AccountKind
    currency: str


@dataclass(frozen=True, slots=True)
class Transfer:
    """One double-entry transfer of ``amount`` minor units of ``currency``.

    ``id`` is unique and idempotent; a purchase's id is derived from the request's idempotency
    key, so the same request can never post twice. ``reverses`` names the transfer undone.
    """

    id: str
    kind: TransferKind
    debit_account: str
    credit_account: str
    amount: int
    currency: str
    card_id: str | None = None
    tid: str | None = None
    stan: int | None = None
    transmission_time: str | None = None
    issuer_day: date | None = None
    reverses: str | None = None
    rrn: str | None = None

    def __post_init__(self) -> None:
        if self.amount <= 0:
            raise ValueError(f"transfer {self.id}: amount must be positive")
        if self.debit_account == self.credit_account:
            raise ValueError(f"transfer {self.id}: debit and credit accounts must differ")


def merchant_account_id(mid: str, currency: str) -> str:
    return f"merchant:{mid.strip()}:{currency}"


def issuer_account_id(issuer: str, currency: str) -> str:
    return f"issuer:{issuer}:{currency}"


def opening_transfers(cards: CardSet) -> tuple[list[LedgerAccount], list[Transfer]]:
    """Accounts of the card set and the transfers that give them their opening balances."""
    accounts: dict[str, LedgerAccount] = {}
    transfers: list[Transfer] = []
    issuer_of: dict[str, str] = {}
    for card in cards.cards:
        issuer_of.setdefault(card.account, cards.products[card.product].issuer)
    for account in cards.accounts.values():
        accounts[account.id] = LedgerAccount(account.id, AccountKind.CARDHOLDER, account.currency)
        issuer = issuer_of.get(account.id, "unassigned")
        funding = issuer_account_id(issuer, account.currency)
        accounts.setdefault(funding, LedgerAccount(funding, AccountKind.ISSUER, account.currency))
        if account.balance > 0:
            transfers.append(
                Transfer(
                    id=f"open:{account.id}",
                    kind=TransferKind.OPENING,
                    debit_account=funding,
                    credit_account=account.id,
                    amount=account.balance,
                    currency=account.currency,
                )
            )
    return list(accounts.values()), transfers


def purchase_transfer(
    *,
    key: tuple[str, int, str],
    card_id: str,
    cardholder_account: str,
    merchant_account: str,
    amount: int,
    currency: str,
    day: date,
    rrn: str,
) -> Transfer:
    """The posting of an approved purchase: cardholder → merchant."""
    tid, stan, transmission_time = key
    return Transfer(
        id=f"purchase:{tid}:{stan:06d}:{transmission_time}",
        kind=TransferKind.PURCHASE,
        debit_account=cardholder_account,
        credit_account=merchant_account,
        amount=amount,
        currency=currency,
        card_id=card_id,
        tid=tid,
        stan=stan,
        transmission_time=transmission_time,
        issuer_day=day,
        rrn=rrn,
    )


def reversal_transfer(original: Transfer, *, key: tuple[str, int, str]) -> Transfer:
    """The exact mirror of ``original`` (a purchase), made by the reversal with ``key``."""
    if original.kind is not TransferKind.PURCHASE:
        raise ValueError(f"only a purchase can be reversed, not {original.kind}")
    tid, stan, transmission_time = key
    return replace(
        original,
        id=f"reversal:{original.id}",
        kind=TransferKind.REVERSAL,
        debit_account=original.credit_account,
        credit_account=original.debit_account,
        tid=tid,
        stan=stan,
        transmission_time=transmission_time,
        reverses=original.id,
    )
