"""MQTT topic names, in one place. See docs/protocol.md for who publishes what."""

from __future__ import annotations

import re

__all__ = [
    "CONTROL_FILTER",
    "CONTROL_PREFIX",
    "ISSUER_CONTROL_FILTER",
    "REQUEST_FILTER",
    "SHARED_REQUEST_FILTER",
    "SWITCH_CONTROL",
    "SWITCH_STATUS",
    "TERMINAL_CONTROL_FILTER",
    "TRACE_FILTER",
    "issuer_control",
    "issuer_status",
    "request",
    "response",
    "status",
    "terminal_control",
    "terminal_of_request_topic",
    "trace",
]

REQUEST_FILTER = "tpe/+/req"
"""What a single switch subscribes to: every terminal's requests."""
SHARED_REQUEST_FILTER = "$share/switch/tpe/+/req"
"""What switch workers subscribe to when they share the load (MQTT 5 shared subscription)."""
SWITCH_STATUS = "switch/status"
"""Retained liveness of the switch: ``online`` / ``offline`` (its Last Will)."""
TRACE_FILTER = "sim/trace/#"
CONTROL_FILTER = "sim/control/#"
CONTROL_PREFIX = "sim/control/"
ISSUER_CONTROL_FILTER = "sim/control/issuer/+"
"""What the switch listens to for issuer faults: ``up``, ``down``, ``slow:SECONDS``."""


SWITCH_CONTROL = "sim/control/switch"
"""Operator → switch: ``restart`` or ``restart:SECONDS`` (down that long, then back)."""
TERMINAL_CONTROL_FILTER = "sim/control/tpe/+"
"""What a fleet listens to for terminal faults (see :func:`terminal_control`)."""


def terminal_control(tid: str) -> str:
    """Operator → terminal: ``unplug``, ``plug``, ``paper-out``, ``paper-in``."""
    return f"sim/control/tpe/{tid}"


def issuer_control(issuer: str) -> str:
    """Operator → switch: take an issuer down, slow it, bring it back."""
    return f"sim/control/issuer/{issuer}"


def issuer_status(issuer: str) -> str:
    """Retained, switch → all: the issuer's state as applied (``up``, ``down``, ``slow:S``)."""
    return f"sim/issuer/{issuer}/status"


_REQUEST_TOPIC = re.compile(r"^tpe/([A-Z0-9]{8})/req$")


def request(tid: str) -> str:
    """Terminal → switch requests (QoS 1)."""
    return f"tpe/{tid}/req"


def response(tid: str) -> str:
    """Switch → terminal responses (QoS 1)."""
    return f"tpe/{tid}/resp"


def status(tid: str) -> str:
    """Retained terminal status: ``online``, ``offline`` (Last Will) or ``degraded:<reason>``."""
    return f"tpe/{tid}/status"


def trace(tid: str) -> str:
    """Per-hop trace events for dashboards and reports (QoS 0)."""
    return f"sim/trace/{tid}"


def terminal_of_request_topic(topic: str) -> str | None:
    """The TID in ``tpe/{tid}/req``, or None when the topic names no valid terminal id."""
    match = _REQUEST_TOPIC.match(topic)
    return match.group(1) if match else None
