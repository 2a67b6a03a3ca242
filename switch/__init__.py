"""The switch: authorization engine, ledger, security module and the MQTT service around them.

Pure parts (``switch.rules.authorization``, ``switch.ledger.rules``, ``switch.security``) do no I/O;
``switch.processor``, ``switch.ledger.sqlite.store`` and ``switch.service`` are the async shell. It
speaks the protocol of ``wire``; imports nothing from ``terminal`` or ``tpesim``.
"""

from switch.processor import Processor, Reply, SwitchStats
from switch.rules.authorization import CardholderPosition, Decision, authorize, issuer_day
from switch.service import SwitchService
from switch.startup import running_switch

__all__ = [
    "CardholderPosition",
    "Decision",
    "Processor",
    "Reply",
    "SwitchService",
    "SwitchStats",
    "authorize",
    "issuer_day",
    "running_switch",
]
