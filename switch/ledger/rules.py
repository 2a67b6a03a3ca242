"""Ledger posting rules (pure): which accounts exist and which transfer each business event makes.

Double entry: every transfer debits one account and credits another by the same positive amount
of one currency. Card payments are two-phase (``switch.ledger.twophase``): an approved 0200
purchase or 0100 pre-authorization is a *hold* on the cardholder's account; clearing (or an 0220
completion) *posts* it, a reversal *voids* it, and it *expires* after the product's hold window.
Cardholder accounts are credit-normal and may never go below zero; issuer funding accounts are
debit-normal.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import date
from enum import StrEnum

from cards.catalog import CardSet
from switch.ledger.twophase import TransferRequest

__all__ = [
    "HOLD_TIMEOUT_S",
    "AccountKind",
    "LedgerAccount",
    "Phase",
    "Transfer",
    "TransferKind",
    "acquirer_account",
    "fx_account",
    "fx_leg_id",
    "issuer_account_id",
    "merchant_account",
    "merchant_account_id",
    "opening_transfers",
    "pays_exchange_desk",
]

HOLD_TIMEOUT_S = 5 * 24 * 3600
"""How long a card-present hold lives before it expires (Visa card-present: 5 days)."""


class AccountKind(StrEnum):
    CARDHOLDER = "cardholder"
    MERCHANT = "merchant"
    ISSUER = "issuer"
    ACQUIRER = "acquirer"
    FX = "fx"
    """The card scheme's exchange desk, one account per currency: a payment in a currency
    other than the card's goes cardholder → desk in the card's currency and desk → merchant
    in the merchant's."""


class TransferKind(StrEnum):
    """The business event a transfer records."""

    OPENING = "opening"
    """Funds a cardholder account with its opening balance from the issuer."""
    PURCHASE = "purchase"
    """0200 approved: hold cardholder → merchant until clearing."""
    PREAUTH = "preauth"
    """0100 approved: hold cardholder → merchant until an 0220 completion."""
    COMPLETION = "completion"
    """0220: posts a pre-authorization hold, in full or in part."""
    REFUND = "refund"
    """0200 with processing code 20: hold merchant → cardholder until clearing."""
    REVERSAL = "reversal"
    """0400: voids the hold of the original."""
    EXPIRY = "expiry"
    """The hold's window passed on the switch clock: released."""
    CLEARING = "clearing"
    """Day's end: posts a purchase or refund hold."""
    QR = "qr"
    """A QR payment (BaridiPay style): cardholder account → merchant, posted at once."""
    FX = "fx"
    """The merchant's side of a purchase in another currency than the card's: held exchange
    desk → merchant, in the merchant's currency, beside the purchase hold (cardholder → desk,
    in the card's), and voided, expired or cleared with it."""
    FEE = "fee"
    """Clearing: the merchant discount, merchant → acquirer."""
    INTERCHANGE = "interchange"
    """Clearing: the interchange fee, acquirer → issuer."""
    TRUE_UP = "true_up"
    """A stand-in approval replayed to its issuer: cardholder (or, for what the cardholder
    lacks, the issuer's own funds) → the issuer's stand-in account."""
    ADJUSTMENT = "adjustment"
    """The issuer's back office sets a card account's balance: issuer → cardholder (up) or
    cardholder → issuer (down), posted at once (switch.flows.back_office)."""


class Phase(StrEnum):
    SINGLE = "single"
    PENDING = "pending"
    POST = "post"
    VOID = "void"
    EXPIRE = "expire"
    CLEAR = "clear"
    """A settlement run's post, in full, of every hold listed for it in ``cleared_holds``."""


@dataclass(frozen=True, slots=True)
class LedgerAccount:
    """An account: id, kind, its single currency and the settlement participant owning it."""

    id: str
    kind: AccountKind
    currency: str
    participant: str

    @property
    def debits_must_not_exceed_credits(self) -> bool:
        return self.kind is AccountKind.CARDHOLDER


@dataclass(frozen=True, slots=True)
class Transfer:
    """One transfer of ``amount`` minor units of ``currency``, with what it is about.

    ``id`` is unique and idempotent (a purchase's id derives from the request's idempotency key,
    so one request can never hold twice). A resolution (post / void / expire) names its hold in
    ``pending_id`` and moves between the hold's accounts; a post of amount 0 takes the whole
    hold. ``business_day`` is the settlement day (the terminal's local day on the switch clock).
    """

    id: str
    kind: TransferKind
    phase: Phase
    debit_account: str
    credit_account: str
    amount: int
    currency: str
    pending_id: str | None = None
    timeout_s: int = 0
    card_id: str | None = None
    tid: str | None = None
    stan: int | None = None
    transmission_time: str | None = None
    issuer_day: date | None = None
    business_day: date | None = None
    rrn: str | None = None

    @property
    def digest(self) -> str:
        """Fingerprint of what the transfer asks for: a replay must match it exactly."""
        text = (
            f"{self.id}|{self.kind.value}|{self.phase.value}|{self.pending_id}|"
            f"{self.debit_account}|{self.credit_account}|{self.amount}|{self.currency}|"
            f"{self.timeout_s}"
        )
        return hashlib.sha256(text.encode()).hexdigest()[:32]

    @classmethod
    def from_request(cls, request: TransferRequest, kind: TransferKind) -> Transfer:
        """A transfer carrying only a two-phase request (the reference model's vocabulary)."""
        return cls(
            id=request.id,
            kind=kind,
            phase=Phase.SINGLE if request.kind == "single" else Phase(request.kind),
            debit_account=request.debit,
            credit_account=request.credit,
            amount=request.amount,
            currency=request.currency,
            pending_id=request.pending_id or None,
            timeout_s=request.timeout_s,
        )


def merchant_account_id(mid: str, currency: str) -> str:
    return f"merchant:{mid.strip()}:{currency}"


def merchant_account(mid: str, currency: str) -> LedgerAccount:
    """The account a merchant (DE42) is paid into, in ``currency``."""
    return LedgerAccount(
        merchant_account_id(mid, currency),
        AccountKind.MERCHANT,
        currency,
        f"merchant:{mid.strip()}",
    )


def acquirer_account(acquirer: str, currency: str) -> LedgerAccount:
    """The acquirer's fee account: merchant discounts in, interchange out."""
    return LedgerAccount(
        f"acquirer:{acquirer}:{currency}", AccountKind.ACQUIRER, currency, f"acquirer:{acquirer}"
    )


_FX_ACCOUNT_PREFIX = "fx:"


def fx_account(currency: str) -> LedgerAccount:
    """The scheme exchange desk's account in ``currency``."""
    return LedgerAccount(f"{_FX_ACCOUNT_PREFIX}{currency}", AccountKind.FX, currency, "scheme:fx")


def pays_exchange_desk(hold: Transfer) -> bool:
    """Whether ``hold`` is the card's side of a payment abroad (it has a merchant's leg)."""
    return hold.credit_account.startswith(_FX_ACCOUNT_PREFIX)


def fx_leg_id(hold_id: str) -> str:
    """The id of the merchant's leg of the foreign-currency purchase hold ``hold_id``."""
    return f"{TransferKind.FX.value}:{hold_id}"


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
        issuer = issuer_of.get(account.id, "unassigned")
        participant = f"issuer:{issuer}"
        accounts[account.id] = LedgerAccount(
            account.id, AccountKind.CARDHOLDER, account.currency, participant
        )
        funding = issuer_account_id(issuer, account.currency)
        accounts.setdefault(
            funding, LedgerAccount(funding, AccountKind.ISSUER, account.currency, participant)
        )
        if account.balance > 0:
            transfers.append(
                Transfer(
                    id=f"open:{account.id}",
                    kind=TransferKind.OPENING,
                    phase=Phase.SINGLE,
                    debit_account=funding,
                    credit_account=account.id,
                    amount=account.balance,
                    currency=account.currency,
                )
            )
    return list(accounts.values()), transfers
