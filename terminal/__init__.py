"""Simulated payment terminals (TPE): state machine, requests, receipts and the MQTT shell.

Imports ``wire`` (the protocol terminals speak) and ``cards``; never ``switch`` (a peer) nor
``tpesim`` (docs/architecture.md; ``lint-imports`` checks it).
"""

from terminal.builder import CHIP_WITH_PIN, PURCHASE, CardPresentation, RequestBuilder
from terminal.machine import TRANSITIONS, Event, InvalidTransitionError, State, TerminalMachine
from terminal.receipt import ReceiptData, render_receipt
from terminal.shell.tpe import Terminal, TerminalError, TerminalStats, TransactionOutcome
from terminal.traffic import PlannedPurchase, plan_traffic

__all__ = [
    "CHIP_WITH_PIN",
    "PURCHASE",
    "TRANSITIONS",
    "CardPresentation",
    "Event",
    "InvalidTransitionError",
    "PlannedPurchase",
    "ReceiptData",
    "RequestBuilder",
    "State",
    "Terminal",
    "TerminalError",
    "TerminalMachine",
    "TerminalStats",
    "TransactionOutcome",
    "plan_traffic",
    "render_receipt",
]
