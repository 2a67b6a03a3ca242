"""Publish/subscribe transport: one interface, with the aiomqtt implementation."""

from switch.transport.base import BrokerUrl, Inbound, Transport, TransportError, WillMessage
from switch.transport.mqtt import MqttTransport

__all__ = ["BrokerUrl", "Inbound", "MqttTransport", "Transport", "TransportError", "WillMessage"]
