"""Starting a switch: alone on its ledger and its broker, then serving once subscribed.

Before it serves, a switch claims its ledger (switch.ledger.claim) and reads the broker's
retained ``switch/status`` and ``switch/owner``: a switch that would serve alone refuses to
start beside any switch online, and ``--shared`` workers refuse to start beside one serving
alone, each naming the other in one line (:class:`SwitchConflictError`). A start that fails
leaves no ledger file it created behind.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import time
from pathlib import Path

from cards.catalog import CardSet
from switch.flows.standin import replay_advices
from switch.ledger.claim import LedgerInUseError, claimed_file, describe_holder, holder_note
from switch.ledger.postgres.store import PgLedger
from switch.ledger.postings import MIDNIGHT
from switch.ledger.where import (
    AnyLedger,
    LedgerLocation,
    is_new_ledger,
    open_ledger,
    postgres_location,
    remove_ledger_files,
    shown,
)
from switch.processor import Processor
from switch.rules.admission import RateLimit
from switch.security import SecurityModule
from switch.service import DEFAULT_LIMIT, WORKERS, SwitchService
from wire.clock import Clock, SystemClock
from wire.magic import MagicAmounts, magic_amounts
from wire.protocol import topics
from wire.registry import Registry
from wire.transport import MqttClient, MqttTransport
from wire.transport.base import BrokerUrl, TransportError
from wire.transport.url import SWITCH_LOGIN

__all__ = ["SwitchConflictError", "online_switch", "running_switch"]


class SwitchConflictError(RuntimeError):
    """Another switch is online on the broker, and the two would serve the same requests."""


async def online_switch(
    broker: BrokerUrl, client: type[MqttTransport], client_id: str
) -> dict[str, object] | None:
    """The switch online on ``broker``, by the retained ``switch/status`` and ``switch/owner``:
    None when none is; else the owner note of the one serving alone, or of the last of the
    ``--shared`` workers to connect (``{}`` when there is none)."""
    retained: dict[str, bytes] = {}
    marker = f"check {client_id} {os.getpid()} {id(retained):x}".encode()
    async with client(broker.login_as(SWITCH_LOGIN), client_id=f"{client_id}-check",
                      persistent=False) as transport:  # fmt: skip
        await transport.subscribe(topics.SWITCH_STATUS, qos=1)
        await transport.subscribe(topics.SWITCH_OWNER, qos=1)
        # Retained messages come right after each SUBACK: this one, sent after them, ends them.
        await transport.publish(topics.SWITCH_OWNER, marker, retain=False)
        async for message in transport.messages():
            if message.payload == marker:
                break
            if message.retain:
                retained[message.topic] = message.payload
    if retained.get(topics.SWITCH_STATUS) != b"online":
        return None
    try:
        note = json.loads(retained.get(topics.SWITCH_OWNER) or b"{}")
    except ValueError:
        note = {"client_id": "unknown (unreadable switch/owner)"}
    return note if isinstance(note, dict) else {}


async def _refuse_a_second_switch(
    broker: BrokerUrl, client: type[MqttTransport], client_id: str, *, shared: bool, ledger: str
) -> None:
    other = await online_switch(broker, client, client_id)
    if other is None:
        return
    who = describe_holder(other) if other else "--shared switch workers"
    if shared and (not other or other.get("shared")):
        if other.get("ledger", ledger) != ledger:
            raise SwitchConflictError(
                f"the --shared workers online on {broker} serve the ledger "
                f"{other.get('ledger')}, not {ledger} ({who}): workers share one ledger"
            )
        return
    if shared:
        raise SwitchConflictError(f"a switch serving alone is online on {broker}: {who}; "
                                  "stop it before starting --shared workers")  # fmt: skip
    raise SwitchConflictError(
        f"another switch is online on {broker}: {who}; stop it first "
        "(switches share a broker only as --shared workers)"
    )


@contextlib.asynccontextmanager
async def _claim(
    location: LedgerLocation, ledger: AnyLedger | None, note: dict[str, object], shared: bool
) -> AsyncIterator[None]:
    """The ledger's claim for this switch while the block runs (a file lock for SQLite,
    taken before opening; an advisory lock for PostgreSQL, on the opened ledger)."""
    if postgres_location(location) is None:
        if ledger is None:
            with claimed_file(Path(location), note, shared=shared):
                yield
            return
        yield
        return
    if isinstance(ledger, PgLedger):
        holder = await ledger.claim(shared=shared)
        if holder is not None:
            raise LedgerInUseError(
                f"the ledger {shown(location)} is in use by another switch ({holder}): stop "
                "it first (several switches share a ledger only as --shared workers)"
            )
    yield


@asynccontextmanager
async def running_switch(
    *,
    broker: BrokerUrl,
    db_path: LedgerLocation,
    cards: CardSet,
    registry: Registry,
    clock: Clock | None = None,
    magic: MagicAmounts | None = None,
    client_id: str = "tpesim-switch",
    shared: bool = False,
    startup_timeout_s: float = 15.0,
    security: SecurityModule | None = None,
    cutoff: time = MIDNIGHT,
    persistent: bool = True,
    workers: int = WORKERS,
    client: type[MqttTransport] = MqttClient,
    rate_limit: RateLimit | None = DEFAULT_LIMIT,
    require_mac: bool = False,
) -> AsyncIterator[SwitchService]:
    """Claim and open the ledger, check no other switch would serve the same requests, start
    the switch and wait until it is subscribed; stop it on exit. ``require_mac``: every
    request must carry a MAC (else only those of merchants marked ``mac_required``)."""
    clock = clock or SystemClock()
    note = holder_note(client_id, shared=shared) | {"ledger": shown(db_path)}
    fresh, started = is_new_ledger(db_path), False
    try:
        async with _claim(db_path, None, note, shared):
            try:
                async with asyncio.timeout(startup_timeout_s):
                    await _refuse_a_second_switch(broker, client, client_id, shared=shared,
                                                  ledger=shown(db_path))  # fmt: skip
            except TimeoutError:
                raise TransportError(
                    f"{broker} did not answer within {startup_timeout_s:g} s"
                ) from None
            async with (
                await open_ledger(db_path, cards, clock) as ledger,
                _claim(db_path, ledger, note, shared),
            ):
                await replay_advices(ledger, None, clock.now())  # issuers are up at start
                processor = Processor(
                    ledger=ledger,
                    cards=cards,
                    registry=registry,
                    clock=clock,
                    magic=magic if magic is not None else magic_amounts(),
                    security=security,
                    cutoff=cutoff,
                    require_mac=require_mac,
                )
                service = SwitchService(
                    processor, broker, client_id=client_id, shared=shared,
                    persistent=persistent, workers=workers, client=client,
                    rate_limit=rate_limit,
                )  # fmt: skip
                service.owner_note = json.dumps(note).encode()
                # What is loaded now (modules, cards, keys, registry) lives as long as the
                # process: the collector need not walk it again. A full collection over it
                # paused the switch for 35-80 ms (docs/performance.md, "Latency at a steady
                # load").
                gc.freeze()
                async with asyncio.TaskGroup() as group:
                    task = group.create_task(service.run(), name="switch")
                    try:
                        async with asyncio.timeout(startup_timeout_s):
                            await service.connected.wait()
                    except TimeoutError:
                        task.cancel()
                        raise TransportError(
                            f"the switch could not connect to {broker} within "
                            f"{startup_timeout_s:g} s"
                        ) from None
                    started = True
                    try:
                        yield service
                    finally:
                        task.cancel()
    except LedgerInUseError:
        raise  # the ledger and its lock are another switch's
    except BaseException:
        if fresh and not started:
            remove_ledger_files(db_path)
        raise
