"""What a terminal and the switch share, and nothing else: the protocol (message models, JSON
and ISO 8583 codecs, topics, trace events, response codes), the MQTT transport behind one
interface, clocks and task helpers, the terminal registry and the magic test amounts, the batch
journal, and transaction keys with message sealing. Above ``cards``; below ``terminal`` and
``switch``, which import each other never.
"""

from wire.clock import Clock, ManualClock, SystemClock
from wire.magic import MagicAmounts, MagicOutcome, magic_amounts
from wire.registry import Merchant, Registry, RegistryError, TerminalProfile, default_registry

__all__ = [
    "Clock",
    "MagicAmounts",
    "MagicOutcome",
    "ManualClock",
    "Merchant",
    "Registry",
    "RegistryError",
    "SystemClock",
    "TerminalProfile",
    "default_registry",
    "magic_amounts",
]
