"""The switch: protocol, authorization engine, ledger and the MQTT service around them.

Pure parts (``switch.protocol``, ``switch.authorization``, ``switch.ledger.rules``,
``switch.registry``, ``switch.magic``) do no I/O; ``switch.processor``, ``switch.ledger.store``
and ``switch.service`` are the async shell. Imports nothing from ``terminal`` or ``tpesim``.
"""

from switch.authorization import CardholderPosition, Decision, authorize, issuer_day
from switch.clock import Clock, ManualClock, SystemClock
from switch.magic import MagicAmounts, MagicOutcome, magic_amounts
from switch.processor import Processor, Reply, SwitchStats
from switch.registry import Merchant, Registry, RegistryError, TerminalProfile, default_registry
from switch.service import SwitchService
from switch.startup import running_switch

__all__ = [
    "CardholderPosition",
    "Clock",
    "Decision",
    "MagicAmounts",
    "MagicOutcome",
    "ManualClock",
    "Merchant",
    "Processor",
    "Registry",
    "RegistryError",
    "Reply",
    "SwitchService",
    "SwitchStats",
    "SystemClock",
    "TerminalProfile",
    "authorize",
    "default_registry",
    "issuer_day",
    "magic_amounts",
    "running_switch",
]
