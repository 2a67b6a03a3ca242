"""The broker configuration ``tpesim broker config`` writes, enforced by a real Mosquitto: one
login per terminal, ACLs that keep each terminal to its own topics, and TLS only.

A message that must not arrive is checked with a marker: the same publisher then sends a
message that is allowed, and the receiver's first message must be that marker (one connection's
QoS 1 messages arrive in order), so no test waits for a silence.
"""

from __future__ import annotations

import asyncio
import contextlib
import getpass
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest

from cards.catalog import default_card_set
from switch.security import SecurityModule, load_keys
from switch.startup import running_switch
from tests.conftest import MosquittoProcess
from tpesim.baridi import WalletApp
from tpesim.broker.access import CONFIG_FILE, AccessSpec, write_broker_access
from tpesim.broker.launcher import free_port
from tpesim.cli.main import main
from tpesim.cli.support import broker_url
from tpesim.demo import DemoConfig, run_demo
from tpesim.fleet import connected_fleet
from wire.clock import SystemClock
from wire.protocol import topics
from wire.registry import default_registry
from wire.transport import MqttClient
from wire.transport.base import Inbound, Transport, TransportError
from wire.transport.native import NativeMqttTransport
from wire.transport.url import OPERATOR_LOGIN, SWITCH_LOGIN, BrokerUrl, NoLoginError, TlsFiles

pytestmark = pytest.mark.integration

MINE, THEIRS = (p.tid for p in default_registry().fleet(2))


def _start(tmp_path: Path, access: Path, port: int) -> Iterator[BrokerUrl]:
    broker = MosquittoProcess(tmp_path, config=access.parent / CONFIG_FILE, port=port)
    broker.start()
    try:
        yield broker_url(str(access))
    finally:
        broker.stop()


@pytest.fixture
def secured(tmp_path: Path) -> Iterator[BrokerUrl]:
    """Mosquitto with the generated configuration, TLS only; the access file's URL."""
    spec = AccessSpec(
        (MINE, THEIRS), port=free_port(), component_port=free_port(), run_as=getpass.getuser()
    )
    access = write_broker_access(tmp_path / "access", spec, now=datetime.now(UTC))
    yield from _start(tmp_path, access, spec.port)


async def test_no_terminal_login_takes_another_clients_id_or_session(secured: BrokerUrl) -> None:
    """Issue 21: with its own login, a terminal connects under another terminal's client id,
    under the switch's, under the other's login name: the broker gives it its own (its user
    name) each time, so the other terminal and the switch stay connected (each publishes and
    gets its PUBACK after). On 8711cbc each was knocked off."""
    async with (
        MqttClient(secured.login_as(SWITCH_LOGIN), client_id="tpesim-switch") as switch,
        MqttClient(secured.login_as(THEIRS), client_id=f"tpe-{THEIRS}") as theirs,
    ):
        for stolen in (f"tpe-{THEIRS}", "tpesim-switch", THEIRS):
            async with MqttClient(secured.login_as(MINE), client_id=stolen) as intruder:
                await intruder.publish(topics.status(MINE), b"online", retain=True)
            await theirs.publish(topics.status(THEIRS), b"online", retain=True)
            await switch.publish(topics.SWITCH_STATUS, b"online", retain=True)


async def test_each_login_works_on_its_own_listener_only(secured: BrokerUrl) -> None:
    """Components log in on the components' listener, terminals on the terminals' one; the
    wrong listener refuses the login."""
    switch, terminal = secured.login_as(SWITCH_LOGIN), secured.login_as(MINE)
    assert switch.port != terminal.port
    for misplaced in (replace(switch, port=terminal.port), replace(terminal, port=switch.port)):
        with pytest.raises(TransportError, match="refused"):
            async with MqttClient(misplaced, client_id="misplaced"):
                pass


async def _first(transport: Transport) -> Inbound:
    async for message in transport.messages():
        return message
    raise AssertionError("the stream ended")


async def _denied(client: Transport, topic: str, payload: bytes, *, retain: bool = False) -> None:
    """Publish what the ACL denies: the native client reports Mosquitto's PUBACK 0x87 (MQTT 5);
    the aiomqtt adapter does not see it."""
    if isinstance(client, NativeMqttTransport) and client.protocol_version == 5:
        with pytest.raises(TransportError, match="not authorized"):
            await client.publish(topic, payload, retain=retain)
    else:
        await client.publish(topic, payload, retain=retain)


async def test_a_terminal_publishes_only_as_itself(secured: BrokerUrl) -> None:
    async with (
        MqttClient(secured.login_as(SWITCH_LOGIN), client_id="switch") as switch,
        MqttClient(secured.login_as(OPERATOR_LOGIN), client_id="operator") as operator,
        MqttClient(secured.login_as(MINE), client_id="tpe") as terminal,
    ):
        await switch.subscribe(topics.REQUEST_FILTER)
        await operator.subscribe(topics.status("+"))
        await _denied(terminal, topics.request(THEIRS), b"forged request")
        await _denied(terminal, topics.status(THEIRS), b"offline", retain=True)
        await terminal.publish(topics.request(MINE), b"my request")
        await terminal.publish(topics.status(MINE), b"online", retain=True)
        request, status = await _first(switch), await _first(operator)
    assert (request.topic, request.payload) == (topics.request(MINE), b"my request")
    assert (status.topic, status.payload) == (topics.status(MINE), b"online")


async def test_a_terminal_reads_only_its_own_responses(secured: BrokerUrl) -> None:
    async with (
        MqttClient(secured.login_as(SWITCH_LOGIN), client_id="switch") as switch,
        MqttClient(secured.login_as(MINE), client_id="tpe") as terminal,
    ):
        for wanted in (topics.response(THEIRS), topics.response("+"), "tpe/#", "#"):
            # Mosquitto 2.0 grants these and filters each message by the read ACL; a broker
            # that refuses them outright is as good.
            with contextlib.suppress(TransportError):
                await terminal.subscribe(wanted)
        await terminal.subscribe(topics.response(MINE))
        await switch.publish(topics.response(THEIRS), b"their approval")
        await _denied(switch, topics.request(THEIRS), b"their request")
        await switch.publish(topics.response(MINE), b"my approval")
        answer = await _first(terminal)
    assert (answer.topic, answer.payload) == (topics.response(MINE), b"my approval")


async def test_the_operator_neither_reads_nor_forges_requests(secured: BrokerUrl) -> None:
    async with (
        MqttClient(secured.login_as(SWITCH_LOGIN), client_id="switch") as switch,
        MqttClient(secured.login_as(OPERATOR_LOGIN), client_id="operator") as operator,
        MqttClient(secured.login_as(MINE), client_id="tpe") as terminal,
    ):
        await switch.subscribe(topics.REQUEST_FILTER)
        await operator.subscribe(topics.trace("+"))
        with contextlib.suppress(TransportError):
            await operator.subscribe(topics.REQUEST_FILTER)
        await _denied(operator, topics.request(MINE), b"forged by the operator")
        await terminal.publish(topics.request(MINE), b"my request")
        await terminal.publish(topics.trace(MINE), b"my trace")
        request, seen = await _first(switch), await _first(operator)
    assert request.payload == b"my request"
    assert (seen.topic, seen.payload) == (topics.trace(MINE), b"my trace")


@pytest.mark.parametrize(
    ("username", "password"),
    [
        pytest.param(None, None, id="anonymous"),
        pytest.param("ZZZZ9999", "guess", id="unknown-terminal"),
        pytest.param(MINE, "guess", id="wrong-password"),
        pytest.param(SWITCH_LOGIN, "guess", id="wrong-switch-password"),
    ],
)
async def test_unknown_clients_are_refused(
    secured: BrokerUrl, username: str | None, password: str | None
) -> None:
    stranger = replace(secured, logins=None, username=username, password=password)
    with pytest.raises(TransportError, match=r"not authorized|bad user name"):
        async with MqttClient(stranger, client_id="stranger"):
            pass


async def test_another_terminals_password_does_not_work(secured: BrokerUrl) -> None:
    theirs = secured.login_as(THEIRS)
    with pytest.raises(TransportError, match=r"not authorized|bad user name"):
        async with MqttClient(replace(theirs, username=MINE), client_id="borrowed"):
            pass


async def test_plaintext_is_refused_when_tls_is_required(secured: BrokerUrl) -> None:
    plain = replace(secured.login_as(MINE), tls=None)
    with pytest.raises(TransportError):
        async with MqttClient(plain, client_id="plaintext"):
            pass


# paho (under the aiomqtt adapter) leaves its socket unclosed when the handshake fails.
@pytest.mark.filterwarnings("ignore:Exception ignored in.*SSLSocket")
async def test_tls_checks_the_brokers_certificate(secured: BrokerUrl) -> None:
    """Trusting only the system's CAs, the broker's certificate (from the private CA) fails."""
    untrusting = replace(secured.login_as(MINE), tls=TlsFiles())
    with pytest.raises(TransportError, match="certificate"):
        async with MqttClient(untrusting, client_id="untrusting"):
            pass


@pytest.fixture
def certified(tmp_path: Path) -> Iterator[BrokerUrl]:
    """Mosquitto requiring client certificates and taking the identity from them."""
    spec = AccessSpec((MINE, THEIRS), port=free_port(), component_port=free_port(),
                      run_as=getpass.getuser(), client_certs=True)  # fmt: skip
    access = write_broker_access(tmp_path / "access", spec, now=datetime.now(UTC))
    yield from _start(tmp_path, access, spec.port)


async def test_a_client_certificate_is_the_identity(certified: BrokerUrl) -> None:
    """A terminal's certificate says who it is: claiming another TID, with that TID's password,
    it still publishes only as itself."""
    theirs = certified.login_as(THEIRS)
    disguised = replace(certified.login_as(MINE), username=THEIRS, password=theirs.password)
    async with (
        MqttClient(certified.login_as(SWITCH_LOGIN), client_id="switch") as switch,
        MqttClient(disguised, client_id="tpe") as terminal,
    ):
        await switch.subscribe(topics.REQUEST_FILTER)
        await _denied(terminal, topics.request(THEIRS), b"forged request")
        await terminal.publish(topics.request(MINE), b"my request")
        request = await _first(switch)
    assert (request.topic, request.payload) == (topics.request(MINE), b"my request")


# paho (under the aiomqtt adapter) leaves its socket unclosed when the handshake fails.
@pytest.mark.filterwarnings("ignore:Exception ignored in.*SSLSocket")
async def test_no_client_certificate_no_connection(certified: BrokerUrl) -> None:
    """Without a certificate, the right password is not enough."""
    login = certified.login_as(MINE)
    assert login.tls is not None
    bare = replace(login, tls=replace(login.tls, cert=None, key=None))
    with pytest.raises(TransportError):
        async with MqttClient(bare, client_id="no-certificate"):
            pass


@pytest.mark.parametrize("options", [[], ["--client-certs"]], ids=["passwords", "certificates"])
async def test_the_cli_config_runs_the_demo_unchanged(tmp_path: Path, options: list[str]) -> None:
    """``tpesim broker config``'s files, run by Mosquitto, carry the demo's traffic with the
    same outcomes as an open broker: nothing the switch, terminals or operator need is denied."""
    port = free_port()
    out = tmp_path / "access"
    assert main(["broker", "config", "--out", str(out), "--terminals", "3", "--port", str(port),
                 "--component-port", str(free_port()), *options]) == 0  # fmt: skip
    config = DemoConfig(terminals=3, transactions=24, seed=11, timeout_s=5.0)
    open_run = await run_demo(replace(config, workdir=tmp_path / "open"))
    for secured in _start(tmp_path, out / "access.json", port):
        assert secured.tls is not None
        secured_run = await run_demo(replace(config, broker=secured, workdir=tmp_path / "sec"))
    assert secured_run.ledger.ok and secured_run.approved > 0
    assert secured_run.timeouts == 0
    assert secured_run.outcome_digest == open_run.outcome_digest
    assert [o.verdict for o in secured_run.abroad] == ["00", "61"]  # the web shop's login too


async def test_demo_secure_starts_a_locked_down_broker(tmp_path: Path) -> None:
    result = await run_demo(
        DemoConfig(terminals=2, transactions=10, seed=3, secure=True, workdir=tmp_path)
    )
    assert result.broker_url.tls is not None and result.broker_url.logins is not None
    assert result.ledger.ok and result.approved > 0 and result.timeouts == 0
    assert (tmp_path / "access" / "access.json").stat().st_mode & 0o077 == 0
    assert (tmp_path / "traces.jsonl").stat().st_size > 0  # the operator's login reads them


async def test_a_wallet_pays_by_qr_through_the_locked_down_broker(tmp_path: Path) -> None:
    """With ``--wallets``, a wallet app logs in as itself and its QR payment crosses the
    generated ACL: wallet → switch → wallet, and the notice to the terminal. A wallet the
    access file does not know is refused before it connects."""
    cards, security = default_card_set(), SecurityModule(load_keys())
    spec = AccessSpec(
        (MINE,),
        port=free_port(),
        component_port=free_port(),
        run_as=getpass.getuser(),
        wallets=("amina",),
    )
    access = write_broker_access(tmp_path / "access", spec, now=datetime.now(UTC))
    profile = default_registry().get(MINE)
    assert profile is not None
    pan = cards.card("EDH-VALID").pan
    for secured in _start(tmp_path, access, spec.port):
        async with (
            running_switch(broker=secured, db_path=tmp_path / "ledger.db", cards=cards,
                           registry=default_registry(), security=security),
            connected_fleet([profile], secured, clock=SystemClock(), timeout_s=5,
                            key_injection=security) as fleet,
            WalletApp("amina", pan, secured, cards=cards, security=security) as app,
        ):  # fmt: skip
            payload, code = fleet[MINE].show_qr(150_000)
            waiting = asyncio.create_task(fleet[MINE].qr_paid(code, timeout_s=10))
            result = await app.pay(payload)
            printed = await waiting
        with pytest.raises(NoLoginError, match="no login for 'nadia'"):
            WalletApp("nadia", pan, secured, cards=cards, security=security)
    assert result.response_code == "00" and printed is not None
