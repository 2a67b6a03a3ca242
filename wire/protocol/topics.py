"""MQTT topic names, in one place. See docs/protocol.md for who publishes what.

A terminal speaking ISO 8583 binary publishes its requests on ``tpe/{tid}/req/iso8583`` and gets
its answers on ``tpe/{tid}/resp/iso8583`` (the topic says the encoding on MQTT 3.1.1 too); JSON
uses ``tpe/{tid}/req`` and ``tpe/{tid}/resp``. On MQTT 5 a message's Content Type may say it
instead, on the plain topics (wire.protocol.codec.encoding_of_content_type).
"""

from __future__ import annotations

import re

from wire.protocol.codec import Encoding

__all__ = [
    "CONTROL_FILTER",
    "CONTROL_PREFIX",
    "ISO8583_REQUEST_FILTER",
    "ISSUER_CONTROL_FILTER",
    "REQUEST_FILTER",
    "SHARED_ISO8583_REQUEST_FILTER",
    "SHARED_REQUEST_FILTER",
    "SHARED_WALLET_PAY_FILTER",
    "SWITCH_CONTROL",
    "SWITCH_OWNER",
    "SWITCH_STATUS",
    "TERMINAL_CONTROL_FILTER",
    "TRACE_FILTER",
    "WALLET_PAY_FILTER",
    "encoding_of_topic",
    "issuer_control",
    "issuer_status",
    "qr_notice",
    "request",
    "response",
    "status",
    "terminal_control",
    "terminal_of_request_topic",
    "trace",
    "wallet_of_topic",
    "wallet_pay",
    "wallet_result",
]

REQUEST_FILTER = "tpe/+/req"
"""What a single switch subscribes to: every terminal's requests."""
SHARED_REQUEST_FILTER = "$share/switch/tpe/+/req"
"""What switch workers subscribe to when they share the load (MQTT 5 shared subscription)."""
ISO8583_REQUEST_FILTER = "tpe/+/req/iso8583"
"""Every terminal's requests in ISO 8583 binary."""
SHARED_ISO8583_REQUEST_FILTER = "$share/switch/tpe/+/req/iso8583"
SWITCH_STATUS = "switch/status"
"""Retained liveness of the switch: ``online`` / ``offline`` (its Last Will)."""
SWITCH_OWNER = "switch/owner"
"""Retained, JSON: the switch serving (client id, host, pid, ledger, since, and whether it is a
``--shared`` worker). A starting switch reads it with ``switch/status``."""
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


_REQUEST_TOPIC = re.compile(r"^tpe/([A-Z0-9]{8})/req(/iso8583)?$")


def _suffix(encoding: Encoding) -> str:
    return "/iso8583" if encoding is Encoding.ISO8583 else ""


def request(tid: str, encoding: Encoding = Encoding.JSON) -> str:
    """Terminal → switch requests (QoS 1), in ``encoding``."""
    return f"tpe/{tid}/req{_suffix(encoding)}"


def response(tid: str, encoding: Encoding = Encoding.JSON) -> str:
    """Switch → terminal responses (QoS 1), in ``encoding``."""
    return f"tpe/{tid}/resp{_suffix(encoding)}"


WALLET_PAY_FILTER = "wallet/+/pay"
"""What the switch subscribes to for QR payments from wallet apps."""
SHARED_WALLET_PAY_FILTER = "$share/switch/wallet/+/pay"
_WALLET_TOPIC = re.compile(r"^wallet/([A-Za-z0-9-]{1,32})/pay$")


def wallet_pay(wallet: str) -> str:
    """Wallet app → switch: a QR payment (QoS 1)."""
    return f"wallet/{wallet}/pay"


def wallet_result(wallet: str) -> str:
    """Switch → wallet app: the QR payment's result (QoS 1)."""
    return f"wallet/{wallet}/result"


def qr_notice(tid: str) -> str:
    """Switch → terminal: a QR payment made to the code it shows, for its receipt (QoS 1)."""
    return f"tpe/{tid}/qr"


def wallet_of_topic(topic: str) -> str | None:
    """The wallet id in ``wallet/{wallet}/pay``, or None."""
    match = _WALLET_TOPIC.match(topic)
    return match.group(1) if match else None


def encoding_of_topic(topic: str) -> Encoding:
    """The encoding a request or response topic says: ISO 8583 under ``…/iso8583``."""
    return Encoding.ISO8583 if topic.endswith("/iso8583") else Encoding.JSON


def status(tid: str) -> str:
    """Retained terminal status: ``online``, ``offline`` (Last Will) or ``degraded:<reason>``."""
    return f"tpe/{tid}/status"


def trace(tid: str) -> str:
    """Per-hop trace events for dashboards and reports (QoS 0)."""
    return f"sim/trace/{tid}"


def terminal_of_request_topic(topic: str) -> str | None:
    """The TID in ``tpe/{tid}/req`` (or ``…/req/iso8583``), or None when the topic names no
    valid terminal id."""
    match = _REQUEST_TOPIC.match(topic)
    return match.group(1) if match else None
