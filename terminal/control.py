"""Terminal faults on command: an operator (the dashboard's buttons, a script) publishes on
``sim/control/tpe/{tid}`` and the terminals of this process obey (``tpesim serve`` and
``tpesim terminal`` run them so).

Commands: ``unplug`` (the network goes, the broker publishes the Last Will), ``plug`` (back,
store-and-forward flushed), ``paper-out`` and ``paper-in`` (the retained status says
``degraded:paper-out`` / ``online``). An unknown command or terminal is logged and ignored.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager

from terminal.records import TerminalError
from terminal.shell.tpe import Terminal
from wire.protocol import topics
from wire.tasks import wait_ended
from wire.transport import MqttClient
from wire.transport.base import BrokerUrl, TransportError
from wire.transport.url import OPERATOR_LOGIN

__all__ = ["TERMINAL_COMMANDS", "apply_command", "obey_controls", "obeying"]

log = logging.getLogger("terminal.control")

TERMINAL_COMMANDS = ("unplug", "plug", "paper-out", "paper-in")
_RETRY_S = 1.0
SUBSCRIBE_S = 15.0
"""How long :func:`obeying` waits for the control subscription."""


async def apply_command(tpe: Terminal, command: str) -> None:
    """Do ``command`` (one of :data:`TERMINAL_COMMANDS`) to ``tpe``; ValueError otherwise."""
    if command == "unplug":
        await tpe.cut_network()
    elif command == "plug":
        await tpe.restore_network()
    elif command in ("paper-out", "paper-in"):
        await tpe.set_paper(command == "paper-in")
    else:
        raise ValueError(f"unknown terminal command {command!r}; know {TERMINAL_COMMANDS}")


def _tid_of(topic: str) -> str:
    return topic.rsplit("/", 1)[-1]


async def obey_controls(
    terminals: Mapping[str, Terminal],
    broker: BrokerUrl,
    *,
    client_id: str = "tpesim-fleet",
    subscribed: asyncio.Event | None = None,
) -> None:
    """Apply commands for ``terminals`` (looked up as each command comes) until cancelled,
    reconnecting when the broker goes; ``subscribed`` is set once commands are heard."""
    broker = broker.login_as(OPERATOR_LOGIN)
    while True:
        try:
            async with MqttClient(broker, client_id=client_id) as transport:
                await transport.subscribe(topics.TERMINAL_CONTROL_FILTER, qos=1)
                if subscribed is not None:
                    subscribed.set()
                async for inbound in transport.messages():
                    tpe = terminals.get(_tid_of(inbound.topic))
                    command = inbound.payload.decode("utf-8", "replace").strip()
                    if tpe is None:
                        continue  # another process's terminal
                    try:
                        await apply_command(tpe, command)
                        log.info("%s: %s on an operator's command", tpe.tid, command)
                    except (ValueError, TerminalError) as error:
                        log.warning("%s: control %r not applied: %s", tpe.tid, command[:40], error)
        except TransportError as error:
            log.warning("terminal control: %s; reconnecting in %.0f s", error, _RETRY_S)
            await asyncio.sleep(_RETRY_S)


@asynccontextmanager
async def obeying(
    terminals: Mapping[str, Terminal], broker: BrokerUrl, *, client_id: str
) -> AsyncIterator[None]:
    """:func:`obey_controls` while the block runs, heard from before it starts (TransportError
    if the broker does not answer within ``SUBSCRIBE_S``)."""
    subscribed = asyncio.Event()
    obeying_task = asyncio.create_task(
        obey_controls(terminals, broker, client_id=client_id, subscribed=subscribed)
    )
    try:
        try:
            async with asyncio.timeout(SUBSCRIBE_S):
                await subscribed.wait()
        except TimeoutError:
            raise TransportError(f"no terminal controls from {broker}") from None
        yield
    finally:
        await wait_ended(obeying_task, cancel=True)
