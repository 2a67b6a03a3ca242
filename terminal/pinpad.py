"""The terminal's PIN pad (pure): its DUKPT initial key and KSN, one transaction per request.

It never holds a BDK. Each request advances the KSN once; that transaction's keys encrypt the
PIN and MAC the message (:class:`switch.security.transaction.TransactionKeys`).
"""

from __future__ import annotations

from cards.crypto import dukpt_aes, dukpt_tdes
from switch.security.hsm import TerminalKey
from switch.security.transaction import TransactionKeys, transaction_keys

__all__ = ["PinPad"]


class PinPad:
    """One terminal's secure module: each call to :meth:`next_transaction` uses a fresh KSN."""

    def __init__(self, key: TerminalKey) -> None:
        self._key = key
        self._ksn = key.initial_ksn

    @property
    def ksn(self) -> bytes:
        """The KSN of the last transaction (the initial KSN before the first)."""
        return self._ksn

    def __repr__(self) -> str:
        return f"<PinPad {self._key.flavour} ksn={self._ksn.hex().upper()}>"

    def next_transaction(self) -> TransactionKeys:
        """Advance the KSN and derive that transaction's PIN and MAC keys."""
        module = dukpt_aes if self._key.flavour == "aes" else dukpt_tdes
        self._ksn = module.next_ksn(self._ksn)
        return transaction_keys(self._key.flavour, self._key.initial_key, self._ksn)
