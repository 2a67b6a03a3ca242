"""The native MQTT client's packets: what it writes reads back the same, whatever the cut."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from wire.transport import CLIENT_ENV, CLIENTS, chosen_client, packets
from wire.transport.base import BrokerUrl, TransportError
from wire.transport.broker_packets import ConnAck, parse_connack, parse_disconnect
from wire.transport.native import NativeMqttTransport
from wire.transport.packets import PacketKind, PacketReader, ProtocolError


def _one(data: bytes) -> tuple[int, int, bytes]:
    (packet,) = PacketReader().feed(data)
    return packet


@pytest.mark.parametrize("version", [4, 5])
def test_a_publish_reads_back_with_its_properties(version: int) -> None:
    data = packets.publish("tpe/DZAL0001/resp", b'{"39":"00"}', version=version, qos=1,
                           retain=True, packet_id=513, response_topic="tpe/DZAL0001/x",
                           correlation=b"\x00\x01", content_type="application/json")  # fmt: skip
    kind, flags, body = _one(data)
    assert kind == PacketKind.PUBLISH
    message = packets.parse_publish(flags, body, version)
    assert (message.topic, message.payload, message.qos, message.retain, message.packet_id) == (
        "tpe/DZAL0001/resp", b'{"39":"00"}', 1, True, 513)  # fmt: skip
    if version == 5:
        assert message.response_topic == "tpe/DZAL0001/x"
        assert message.correlation == b"\x00\x01"
        assert message.content_type == "application/json"
    else:
        assert (message.response_topic, message.correlation, message.content_type) == (None,) * 3


def test_remaining_lengths_use_one_to_four_bytes() -> None:
    """127 fits one length byte, 128 takes two, 16 384 three (MQTT §2.2.3)."""
    for size, width in [(127 - 5, 1), (128 - 5, 2), (16_384 - 5, 3), (2_097_152 - 5, 4)]:
        data = packets.publish("a/b", b"x" * size, version=4, qos=0, retain=False)
        assert len(data) == 1 + width + 5 + size
        assert _one(data)[2][5:] == b"x" * size


@given(st.binary(max_size=300), st.lists(st.integers(1, 40), max_size=20))
def test_the_reader_takes_bytes_cut_anywhere(payload: bytes, cuts: list[int]) -> None:
    stream = packets.publish("t", payload, version=5, qos=1, retain=False, packet_id=7)
    stream += packets.puback(7) + packets.pingreq()
    reader, got, at = PacketReader(), [], 0
    for cut in [*cuts, len(stream)]:
        got += reader.feed(stream[at : at + cut])
        at += cut
    got += reader.feed(stream[at:])
    assert [kind for kind, _, _ in got] == [PacketKind.PUBLISH, PacketKind.PUBACK,
                                            PacketKind.PINGREQ]  # fmt: skip
    assert packets.parse_publish(got[0][1], got[0][2], 5).payload == payload


def test_a_connect_carries_its_will_and_session() -> None:
    will = ("switch/status", b"offline", 1, True)
    data = packets.connect("tpesim-switch", version=5, keepalive_s=30, clean=False,
                           session_expiry_s=3600, will=will)  # fmt: skip
    kind, flags, body = _one(data)
    assert (kind, flags) == (PacketKind.CONNECT, 0)
    assert body[:7] == b"\x00\x04MQTT\x05"
    assert body[7] == 0x04 | 0x08 | 0x20  # Will, Will QoS 1, Will retain; clean start off
    assert b"switch/status" in body and body.endswith(b"\x00\x07offline")


def test_garbage_from_the_broker_is_a_protocol_error() -> None:
    with pytest.raises(ProtocolError):
        PacketReader().feed(b"\x30\xff\xff\xff\xff\x01")
    with pytest.raises(ProtocolError):
        packets.parse_publish(0x02, b"\x00\x05ab", 4)  # topic longer than the packet
    with pytest.raises(ProtocolError):
        packets.parse_publish(0x04, b"\x00\x01a\x00\x01", 4)  # QoS 2


def test_a_connack_gives_its_limits_and_skips_what_it_does_not_need() -> None:
    """Receive Maximum, Maximum Packet Size, Server Keep Alive, Assigned Client Identifier and
    Reason String read; a user property and Topic Alias Maximum skipped."""
    properties = (b"\x21\x00\x02" + b"\x27\x00\x00\x01\x00" + b"\x13\x00\x05"
                  + b"\x12\x00\x03abc" + b"\x26\x00\x01k\x00\x01v" + b"\x22\x00\x0a"
                  + b"\x1f\x00\x02hi")  # fmt: skip
    body = b"\x01\x00" + bytes((len(properties),)) + properties
    assert parse_connack(body, 5) == ConnAck(True, 0, 2, 256, 5, "abc", "hi")
    assert parse_connack(b"\x00\x00\x00", 5) == ConnAck(False, 0)
    assert parse_connack(b"\x00\x05", 4).code == 5
    with pytest.raises(ProtocolError, match="Receive Maximum"):
        parse_connack(b"\x00\x00\x03\x21\x00\x00", 5)
    with pytest.raises(ProtocolError, match="unknown CONNACK property 0x7f"):
        parse_connack(b"\x00\x00\x02\x7f\x00", 5)


def test_a_disconnect_says_why_in_words() -> None:
    assert str(parse_disconnect(b"\x8e")) == "session taken over (DISCONNECT code 0x8e)"
    properties = b"\x1c\x00\x0amqtt2:1883" + b"\x1f\x00\x01x"
    moved = b"\x9d" + bytes((len(properties),)) + properties
    assert str(parse_disconnect(moved)) == (
        "server moved (DISCONNECT code 0x9d: x), try mqtt2:1883"
    )
    assert parse_disconnect(b"").code == 0


@pytest.mark.parametrize(("header", "length"), [
    (b"\x20\x03", 3), (b"\x20\x80", None), (b"\x20\x80\x01", 128),
    (b"\x20\xff\xff\xff\x7f", 268_435_455), (b"\x20\xff\xff", None),
])  # fmt: skip
def test_the_remaining_length_of_a_fixed_header_takes_up_to_four_bytes(
    header: bytes, length: int | None
) -> None:
    assert packets.remaining_length(header) == length


async def test_packet_ids_run_out_with_an_error_not_a_hang() -> None:
    """With every id awaiting its acknowledgement, the next QoS 1 send fails at once."""
    client = NativeMqttTransport(BrokerUrl("127.0.0.1", 1), client_id="full")
    awaited = {packet_id: client._acks.expect(packet_id) for packet_id in range(1, 65_536)}
    with pytest.raises(TransportError, match="packet ids"):
        client._next_id()
    client._acks.forget(40_000, awaited[40_000])
    assert client._next_id() == 40_000


def test_the_native_client_is_the_default_and_aiomqtt_can_be_chosen() -> None:
    """``TPESIM_MQTT_CLIENT`` names the process's client; unset or blank, the native one."""
    assert chosen_client({}) == "native"
    assert chosen_client({CLIENT_ENV: " "}) == "native"
    assert chosen_client({CLIENT_ENV: "aiomqtt"}) == "aiomqtt"
    assert CLIENTS["native"].__name__ == NativeMqttTransport.__name__


def test_an_unknown_client_name_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match=r"TPESIM_MQTT_CLIENT='paho'.*aiomqtt, native"):
        chosen_client({CLIENT_ENV: "paho"})
