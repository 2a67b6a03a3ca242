"""tpesim's own MQTT client against real Mosquitto, beside the aiomqtt adapter."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import MosquittoProcess
from tpesim.broker.launcher import running_broker
from wire.transport.base import Inbound, Transport, WillMessage
from wire.transport.mqtt import MqttTransport
from wire.transport.native import NativeMqttTransport

pytestmark = pytest.mark.integration


async def _first(transport: Transport) -> Inbound:
    async for message in transport.messages():
        return message
    raise AssertionError("the stream ended")


@pytest.mark.parametrize("version", [5, 4])
async def test_it_talks_to_the_aiomqtt_adapter_both_ways(
    mosquitto: MosquittoProcess, version: int
) -> None:
    """QoS 1 both ways; the MQTT 5 properties arrive on MQTT 5 and are left out on 3.1.1."""
    url = mosquitto.url
    async with (
        NativeMqttTransport(url, client_id="native", protocol=version) as native,
        MqttTransport(url, client_id="paho") as paho,
    ):
        assert native.protocol_version == version
        await paho.subscribe("tpe/+/req", qos=1)
        await native.subscribe("tpe/DZAL0001/resp", qos=1)
        await native.publish("tpe/DZAL0001/req", b'{"0":"0200"}', qos=1,
                             response_topic="tpe/DZAL0001/resp", correlation=b"\x01",
                             content_type="application/json")  # fmt: skip
        request = await _first(paho)
        assert (request.topic, request.payload) == ("tpe/DZAL0001/req", b'{"0":"0200"}')
        if version == 5:
            assert (request.response_topic, request.correlation, request.content_type) == (
                "tpe/DZAL0001/resp", b"\x01", "application/json")  # fmt: skip
        await paho.publish("tpe/DZAL0001/resp", b'{"39":"00"}', qos=1, correlation=b"\x02")
        answer = await _first(native)
        assert answer.payload == b'{"39":"00"}'
        assert answer.correlation == (b"\x02" if version == 5 else None)


async def test_a_cut_connection_gets_its_will_published_and_its_stream_ends(
    mosquitto: MosquittoProcess,
) -> None:
    async with MqttTransport(mosquitto.url, client_id="watch") as watch:
        await watch.subscribe("tpe/DZAL0001/status", qos=1)
        will = WillMessage("tpe/DZAL0001/status", b"offline", retain=False)
        async with NativeMqttTransport(mosquitto.url, client_id="tpe", will=will) as native:
            native.abort()
            assert (await _first(watch)).payload == b"offline"
            with pytest.raises(ConnectionError):  # TransportError
                await _first(native)


async def test_it_falls_back_to_3_1_1_on_amqtt(tmp_path: Path) -> None:
    """amqtt speaks only MQTT 3.1.1: the native client probes, then connects with its Will."""
    async with running_broker("amqtt", tmp_path) as broker:
        will = WillMessage("tpe/DZAL0001/status", b"offline")
        async with (
            NativeMqttTransport(broker.url, client_id="tpe", will=will) as native,
            MqttTransport(broker.url, client_id="paho") as paho,
        ):
            assert native.protocol_version == 4
            await paho.subscribe("tpe/+/req", qos=1)
            await native.publish("tpe/DZAL0001/req", b"{}", qos=1, content_type="application/json")
            assert (await _first(paho)).payload == b"{}"
