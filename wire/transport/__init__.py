"""Publish/subscribe transport: one interface, two MQTT clients behind it.

tpesim's own client (``native``, wire.transport.native) is the default since the benchmark
showed aiomqtt to be the ceiling (docs/performance.md: the echo ceiling 2.3 times higher, the
switch 1.3 times faster, 10 000 terminals connected 3 times faster). The aiomqtt adapter
(wire.transport.mqtt) stays: ``TPESIM_MQTT_CLIENT=aiomqtt`` makes it the process's client,
and the benches compare both (``--client``).
"""

import os
from collections.abc import Mapping
from typing import cast

from wire.transport.base import BrokerUrl, Inbound, Transport, TransportError, WillMessage
from wire.transport.mqtt import MqttTransport
from wire.transport.native import NativeMqttTransport

__all__ = [
    "CLIENTS",
    "CLIENT_ENV",
    "DEFAULT_CLIENT",
    "BrokerUrl",
    "Inbound",
    "MqttClient",
    "MqttTransport",
    "Transport",
    "TransportError",
    "WillMessage",
    "chosen_client",
]

CLIENTS: dict[str, type[MqttTransport]] = {
    "aiomqtt": MqttTransport,
    "native": cast(type[MqttTransport], NativeMqttTransport),  # the same interface
}
"""MQTT client implementations by name, for comparing them behind one interface."""

CLIENT_ENV = "TPESIM_MQTT_CLIENT"
"""Environment variable naming the process's MQTT client (a key of :data:`CLIENTS`)."""


def chosen_client(environ: Mapping[str, str] = os.environ) -> str:
    """The client named by :data:`CLIENT_ENV`, or ``native``; ValueError for another name."""
    name = environ.get(CLIENT_ENV, "native").strip() or "native"
    if name not in CLIENTS:
        raise ValueError(f"{CLIENT_ENV}={name!r}: the MQTT client is one of {', '.join(CLIENTS)}")
    return name


DEFAULT_CLIENT = chosen_client()
"""This process's MQTT client, by name."""
MqttClient: type[MqttTransport] = CLIENTS[DEFAULT_CLIENT]
"""This process's MQTT client: every connection tpesim opens, unless a bench asks for another."""
