"""The native MQTT client against what brokers do besides accepting everything (issue 21): a
refused publish, a frozen or silent broker, keep alive off, a CONNACK that sets limits, a
DISCONNECT, an acknowledgement that never comes. Real Mosquitto where it can show the case, a
fake broker (tests/fake_broker.py) where it cannot."""

from __future__ import annotations

import asyncio
import getpass
import os
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import MosquittoProcess
from tests.fake_broker import FakeBroker, byte2, byte4, fake_broker, text
from tpesim.broker.launcher import free_port, mosquitto_config
from wire.transport.base import Inbound, TransportError
from wire.transport.native import NativeMqttTransport
from wire.transport.packets import PacketKind

pytestmark = pytest.mark.integration

_RECEIVE_MAXIMUM, _MAXIMUM_PACKET_SIZE, _SERVER_KEEP_ALIVE = 0x21, 0x27, 0x13
_ASSIGNED_ID, _REASON_STRING = 0x12, 0x1F


async def _first(transport: NativeMqttTransport) -> Inbound:
    async for message in transport.messages():
        return message
    raise AssertionError("the stream ended")


@pytest.fixture
def guarded(tmp_path: Path) -> Iterator[MosquittoProcess]:
    """Mosquitto letting anonymous clients publish on ``open/#`` only."""
    port = free_port()
    (tmp_path / "acl").write_text("topic readwrite open/#\n", encoding="utf-8")
    config = tmp_path / "guarded.conf"
    extra = f"acl_file {tmp_path / 'acl'}\nuser {getpass.getuser()}\n"  # it reads tmp_path
    config.write_text(mosquitto_config(port) + extra, encoding="utf-8")
    broker = MosquittoProcess(tmp_path, config=config, port=port)
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()


async def test_a_publish_mosquitto_refuses_raises_not_authorized(
    guarded: MosquittoProcess,
) -> None:
    """PUBACK 0x87 from a Mosquitto ACL: the publish raises, naming the reason code."""
    async with NativeMqttTransport(guarded.url, client_id="tpe", protocol=5) as client:
        await client.publish("open/ok", b"allowed")
        with pytest.raises(TransportError, match=r"publish to closed/x refused: not auth.*0x87"):
            await client.publish("closed/x", b"denied")
        await client.publish("open/ok", b"still connected")


async def test_a_publish_refused_as_too_large_raises() -> None:
    """PUBACK 0x95 (packet too large) from a broker: the publish raises, naming it."""
    async with (
        fake_broker(FakeBroker(puback_code=0x95)) as broker,
        NativeMqttTransport(broker.url, client_id="tpe", protocol=5) as client,
    ):
        with pytest.raises(TransportError, match=r"refused: packet too large \(PUBACK code 0x95"):
            await client.publish("tpe/T1/req", b"{}")


async def test_a_frozen_mosquitto_is_noticed_within_one_and_a_half_keep_alives(
    mosquitto: MosquittoProcess,
) -> None:
    """SIGSTOP the broker: the stream ends and the waiting publish fails, both saying so."""
    async with NativeMqttTransport(mosquitto.url, client_id="tpe", keepalive_s=1) as client:
        await client.subscribe("tpe/T1/resp")
        assert mosquitto.process is not None
        os.kill(mosquitto.process.pid, signal.SIGSTOP)
        try:
            async with asyncio.timeout(5):  # detected after 1.5 s, the PUBACK timeout is 10 s
                publishing = asyncio.create_task(client.publish("tpe/T1/req", b"{}"))
                with pytest.raises(TransportError, match=r"no packet from the broker for 1\.5 s"):
                    await _first(client)
                with pytest.raises(TransportError, match=r"no packet from the broker for 1\.5 s"):
                    await publishing
        finally:
            os.kill(mosquitto.process.pid, signal.SIGCONT)


async def test_keepalive_zero_sends_no_pingreq() -> None:
    """Keep alive 0 is off (MQTT §3.1.2.10): round trips go by without a single PINGREQ."""
    async with (
        fake_broker() as broker,
        NativeMqttTransport(broker.url, client_id="tpe", protocol=5, keepalive_s=0) as client,
    ):
        await client.subscribe("tpe/T1/resp")
        for _ in range(3):
            await client.publish("tpe/T1/req", b"{}")
        assert PacketKind.PINGREQ not in broker.kinds()
        assert broker.connects[0][8:10] == b"\x00\x00"  # the CONNECT said keep alive 0


async def test_a_connack_longer_than_127_bytes_is_read_and_its_limits_recorded() -> None:
    """A CONNACK with a long property list (two length bytes): connected, limits recorded."""
    properties = byte2(_RECEIVE_MAXIMUM, 7) + byte4(_MAXIMUM_PACKET_SIZE, 4096)
    properties += text(_ASSIGNED_ID, "auto-7f3a") + text(_REASON_STRING, "welcome " * 20)
    assert len(properties) > 127
    async with (
        fake_broker(FakeBroker(connack_properties=properties)) as broker,
        NativeMqttTransport(broker.url, client_id="", protocol=5) as client,
    ):
        await client.publish("tpe/T1/req", b"{}")
        assert client.assigned_client_id == "auto-7f3a"
        assert (client.limits.receive_maximum, client.limits.maximum_packet_size) == (7, 4096)


async def test_receive_maximum_bounds_the_publishes_in_flight() -> None:
    """Receive Maximum 2: a third QoS 1 publish waits until a PUBACK frees a place."""
    broker_side = FakeBroker(connack_properties=byte2(_RECEIVE_MAXIMUM, 2), hold_pubacks=True)
    async with (
        fake_broker(broker_side) as broker,
        NativeMqttTransport(broker.url, client_id="tpe", protocol=5) as client,
    ):
        publishing = [
            asyncio.create_task(client.publish(f"tpe/T{n}/req", b"{}")) for n in (1, 2, 3)
        ]
        await broker.wait_for(PacketKind.PUBLISH, 2)
        await client.subscribe("tpe/T1/resp")  # a round trip after the three publishes tried
        assert broker.kinds() == [PacketKind.PUBLISH, PacketKind.PUBLISH, PacketKind.SUBSCRIBE]
        broker.release()
        await broker.wait_for(PacketKind.PUBLISH, 3)
        broker.release()
        async with asyncio.timeout(5):
            await asyncio.gather(*publishing)


async def test_a_publish_over_the_maximum_packet_size_is_not_sent() -> None:
    """Maximum Packet Size 200: a 300-byte publish raises before anything is sent."""
    async with (
        fake_broker(FakeBroker(connack_properties=byte4(_MAXIMUM_PACKET_SIZE, 200))) as broker,
        NativeMqttTransport(broker.url, client_id="tpe", protocol=5) as client,
    ):
        with pytest.raises(TransportError, match=r"not sent: 3\d\d bytes, .* Size \(200 bytes\)"):
            await client.publish("tpe/T1/req", b"x" * 300)
        await client.publish("tpe/T1/req", b"small")
        assert broker.kinds() == [PacketKind.PUBLISH]


async def test_the_server_keep_alive_replaces_the_clients() -> None:
    """Server Keep Alive 1 over the client's 30: a broker silent after CONNACK is noticed
    after 1.5 s, not 45 s."""
    broker_side = FakeBroker(connack_properties=byte2(_SERVER_KEEP_ALIVE, 1), answer_pings=False)
    async with (
        fake_broker(broker_side) as broker,
        NativeMqttTransport(broker.url, client_id="tpe", protocol=5, keepalive_s=30) as client,
    ):
        async with asyncio.timeout(5):
            with pytest.raises(TransportError, match=r"no packet from the broker for 1\.5 s"):
                await _first(client)
        assert PacketKind.PINGREQ in broker.kinds()


@pytest.mark.parametrize(
    ("code", "meaning"), [(0x8B, "server shutting down"), (0x8E, "session taken over")]
)
async def test_a_broker_disconnect_ends_the_connection_with_its_reason(
    code: int, meaning: str
) -> None:
    """DISCONNECT with a reason code and a Reason String: the stream ends saying both, and
    so does a later publish. (Mosquitto 2.0.11 closes a taken-over session without one.)"""
    async with (
        fake_broker() as broker,
        NativeMqttTransport(broker.url, client_id="tpe", protocol=5) as client,
    ):
        await client.subscribe("tpe/T1/resp")
        broker.disconnect(code, "maintenance at 02:00")
        said = rf"{meaning} \(DISCONNECT code {code:#x}: maintenance at 02:00\)"
        async with asyncio.timeout(5):
            with pytest.raises(TransportError, match=said):
                await _first(client)
        with pytest.raises(TransportError, match=meaning):
            await client.publish("tpe/T1/req", b"{}")


async def test_timeouts_say_what_timed_out() -> None:
    """No PUBACK, no CONNACK: each TransportError names the packet, the topic, the delay."""
    async with (
        fake_broker(FakeBroker(hold_pubacks=True)) as broker,
        NativeMqttTransport(broker.url, client_id="tpe", protocol=5, timeout_s=0.2) as client,
    ):
        with pytest.raises(
            TransportError, match=r"no PUBACK for publish to tpe/T1/req within 0.2 s"
        ):
            await client.publish("tpe/T1/req", b"{}")
    async with fake_broker(FakeBroker(answer_connect=False)) as broker:
        with pytest.raises(TransportError, match=r"no CONNACK within 0\.2 s"):
            await NativeMqttTransport(
                broker.url, client_id="t", protocol=5, timeout_s=0.2
            ).__aenter__()
