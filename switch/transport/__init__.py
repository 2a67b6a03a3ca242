"""Publish/subscribe transport: one interface; the aiomqtt adapter by default, tpesim's own
MQTT client where a bench asks for it (``--client native``)."""

from typing import cast

from switch.transport.base import BrokerUrl, Inbound, Transport, TransportError, WillMessage
from switch.transport.mqtt import MqttTransport
from switch.transport.native import NativeMqttTransport

__all__ = [
    "CLIENTS",
    "BrokerUrl",
    "Inbound",
    "MqttTransport",
    "Transport",
    "TransportError",
    "WillMessage",
]

CLIENTS: dict[str, type[MqttTransport]] = {
    "aiomqtt": MqttTransport,
    "native": cast(type[MqttTransport], NativeMqttTransport),  # the same interface
}
"""MQTT client implementations by name, for comparing them behind one interface."""
