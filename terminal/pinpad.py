"""The terminal's PIN pad (pure): its DUKPT initial key and KSN, one transaction per request.

It never holds a BDK. Each request advances the KSN once; that transaction's keys encrypt the
PIN and MAC the message (:class:`wire.sealing.TransactionKeys`).
"""

from __future__ import annotations

from cards.crypto import dukpt_aes, dukpt_tdes
from wire.sealing import TerminalKey, TransactionKeys, transaction_keys

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

    def exhaust(self) -> None:
        """Fault injection: move the KSN to the last usable counter, as after a PIN pad's whole
        life of transactions; the next one raises DukptExhaustedError until the terminal is
        re-keyed."""
        if self._key.flavour == "aes":
            # 16 one bits at the top: the next counter would need a 33rd bit.
            self._ksn = self._ksn[:8] + (0xFFFF0000).to_bytes(4, "big")
        else:
            # 10 one bits at the top of the 21-bit counter.
            last = ((1 << dukpt_tdes.MAX_ONE_BITS) - 1) << (21 - dukpt_tdes.MAX_ONE_BITS)
            value = int.from_bytes(self._ksn, "big") & ~dukpt_tdes.COUNTER_MASK
            self._ksn = (value | last).to_bytes(10, "big")

    def next_transaction(self) -> TransactionKeys:
        """Advance the KSN and derive that transaction's PIN and MAC keys."""
        module = dukpt_aes if self._key.flavour == "aes" else dukpt_tdes
        self._ksn = module.next_ksn(self._ksn)
        return transaction_keys(self._key.flavour, self._key.initial_key, self._ksn)
