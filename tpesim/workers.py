"""Switch workers as processes of their own: ``tpesim switch --shared`` on one ledger, taking turns
on the shared subscription, for the benches and the scale-out tests (docker-compose.yml runs the
same layout in containers)."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from switch.ledger.where import LedgerLocation, postgres_location
from wire.protocol import topics
from wire.tasks import wait_ended
from wire.transport import CLIENT_ENV, DEFAULT_CLIENT, MqttClient
from wire.transport.base import BrokerUrl
from wire.transport.url import OPERATOR_LOGIN

__all__ = ["switch_workers"]

ONLINE_S = 60.0
"""How long a worker may take to start and subscribe."""


async def _count_online(broker: BrokerUrl, wanted: int, subscribed: asyncio.Event) -> None:
    """Return once ``wanted`` switches have said ``online`` (live, not the retained one)."""
    seen = 0
    operator = broker.login_as(OPERATOR_LOGIN)
    async with MqttClient(operator, client_id="tpesim-workers-watch") as transport:
        await transport.subscribe(topics.SWITCH_STATUS, qos=1)
        subscribed.set()
        async for message in transport.messages():
            if not message.retain and message.payload == b"online":
                seen += 1
                if seen == wanted:
                    return


@asynccontextmanager
async def switch_workers(
    count: int,
    *,
    broker: BrokerUrl,
    ledger: LedgerLocation,
    log: Path,
    card_files: tuple[Path, Path] | None = None,
    name: str = "tpesim-worker",
    trace: bool = True,
    client: str = DEFAULT_CLIENT,
) -> AsyncIterator[list[asyncio.subprocess.Process]]:
    """``count`` processes of ``tpesim switch --shared`` on the PostgreSQL ``ledger``, each
    subscribed when this yields them; stopped with SIGTERM on exit (those still running).
    ``card_files``: (cards, keys) of an issued card set; ``log``: their stderr, appended;
    ``trace``: whether they publish trace events; ``client``: their MQTT client
    (wire.transport.CLIENTS)."""
    if postgres_location(ledger) is None:
        raise ValueError("workers in several processes share a PostgreSQL ledger, not a file")
    cards = ["--cards", str(card_files[0]), "--keys", str(card_files[1])] if card_files else []
    subscribed = asyncio.Event()
    watch = asyncio.create_task(_count_online(broker, count, subscribed))
    processes: list[asyncio.subprocess.Process] = []
    try:
        await subscribed.wait()
        with log.open("ab") as stderr:
            for n in range(count):
                processes.append(await asyncio.create_subprocess_exec(
                    sys.executable, "-m", "tpesim", "switch", "--shared",
                    "--broker", broker.as_argument(), "--db", str(ledger),
                    "--client-id", f"{name}-{n + 1}", *cards,
                    *([] if trace else ["--no-trace"]),
                    stdout=asyncio.subprocess.DEVNULL, stderr=stderr,
                    env=os.environ | {CLIENT_ENV: client},
                ))  # fmt: skip
        async with asyncio.timeout(ONLINE_S):
            await watch
        yield processes
    finally:
        await wait_ended(watch, cancel=True)
        for process in processes:
            if process.returncode is None:
                process.send_signal(signal.SIGTERM)
        for process in processes:
            await process.wait()
