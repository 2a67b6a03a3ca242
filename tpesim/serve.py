"""``tpesim serve``: a broker (unless one is given), the switch, a fleet of terminals, and over
HTTP the merchant API, the trainer's dashboard and the virtual terminal, until interrupted."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import socket
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiosqlite
import uvicorn
from fastapi import APIRouter

from cards.catalog import CardSet, default_card_set
from switch.ledger.reads import LedgerReads
from switch.security import SecurityModule, load_keys
from switch.startup import running_switch
from terminal.control import obey_controls
from terminal.shell.tpe import Terminal
from tpesim.api.app import create_app
from tpesim.api.back_office import back_office_router
from tpesim.api.desk import PaymentDesk
from tpesim.broker.launcher import BrokerKind, given_or_running_broker
from tpesim.cli.support import CliError
from tpesim.fleet import connected_fleet
from tpesim.state import DeviceState
from tpesim.ui.hub import LiveHub
from tpesim.ui.routes import dashboard_router
from tpesim.wallet import Wallet
from wire.clock import SystemClock
from wire.registry import Registry, TerminalProfile, default_registry
from wire.transport.base import BrokerUrl

__all__ = ["ServeConfig", "add_serve_command", "serve", "serve_command", "watch"]

log = logging.getLogger("tpesim.serve")


Starter = Callable[[], Coroutine[Any, Any, None]]
"""Starts a task to run beside the server."""


@dataclass(frozen=True)
class ServeConfig:
    """Where to listen and what to run behind the API."""

    host: str = "127.0.0.1"
    port: int = 8080
    terminals: int = 5
    broker: BrokerUrl | None = None
    workdir: Path = Path("tpesim-serve")
    timeout_s: float = 5.0
    broker_kind: BrokerKind = "auto"
    """Which broker to start when ``broker`` is not given."""
    secure: bool = False
    """Lock the broker it starts down: TLS, one login per terminal, ACLs."""


async def serve(
    config: ServeConfig,
    *,
    cards: CardSet | None = None,
    registry: Registry | None = None,
    security: SecurityModule | None = None,
    ready: Callable[[str, list[str]], None] | None = None,
    traffic: Callable[[dict[str, Terminal], Wallet], Coroutine[Any, Any, None]] | None = None,
) -> None:
    """Run everything until cancelled; ``ready(base_url, terminal_ids)`` once it listens (and
    the dashboard follows the broker); ``traffic(terminals, wallet)`` then runs beside it."""
    cards = cards or default_card_set()
    registry = registry or default_registry()
    config.workdir.mkdir(parents=True, exist_ok=True)
    security = security or SecurityModule(load_keys())
    tpes = registry.fleet(config.terminals)
    profiles = tpes + registry.web_shops()  # the API also drives a web shop's payment page
    # The devices' memory (STANs, chip counters, requests in flight) outlives a restart on the
    # same work directory, as a real TPE's and card's do; one serve drives its terminals.
    state = DeviceState(config.workdir / "devices.json")
    state.claim(p.tid for p in profiles)
    with state:
        try:
            await _serve_fleet(config, cards=cards, registry=registry, security=security,
                               state=state, tpes=tpes, profiles=profiles, ready=ready,
                               traffic=traffic)  # fmt: skip
        finally:
            state.save()


async def _serve_fleet(
    config: ServeConfig,
    *,
    cards: CardSet,
    registry: Registry,
    security: SecurityModule,
    state: DeviceState,
    tpes: list[TerminalProfile],
    profiles: list[TerminalProfile],
    ready: Callable[[str, list[str]], None] | None,
    traffic: Callable[[dict[str, Terminal], Wallet], Coroutine[Any, Any, None]] | None,
) -> None:
    """The broker, the switch and the fleet (with ``state``, the devices' memory) behind the
    merchant API, the back office and the dashboard."""
    async with (
        given_or_running_broker(config.broker, config.workdir, config.broker_kind,
                                secure=[p.tid for p in profiles] if config.secure else None
                                ) as broker,
        running_switch(broker=broker.url, db_path=config.workdir / "ledger.db", cards=cards,
                       registry=registry, security=security, require_mac=config.secure
                       ) as switch,
        connected_fleet(profiles, broker.url, clock=SystemClock(), timeout_s=config.timeout_s,
                        key_injection=security, stans=state.stans, memory=state) as terminals,
    ):  # fmt: skip
        wallet = Wallet(cards, security, state.chips, shared=state)
        hub = LiveHub(broker.url, ledger=switch.processor.ledger)
        extra: list[Starter] = [lambda: obey_controls(terminals, broker.url)]
        if traffic is not None:
            at_tpes = {p.tid: terminals[p.tid] for p in tpes}
            extra.append(lambda: traffic(at_tpes, wallet))
        desk = PaymentDesk(terminals, cards, wallet)
        office = back_office_router(switch.processor.ledger, cards, SystemClock())
        await _serve_http(config, hub, desk, cards, ready=ready, extra=extra, back_office=office)


async def watch(
    config: ServeConfig,
    broker: BrokerUrl,
    *,
    db_path: Path | None = None,
    cards: CardSet | None = None,
    ready: Callable[[str, list[str]], None] | None = None,
) -> None:
    """``tpesim serve --attach``: the dashboard alone, following a system that runs elsewhere
    on ``broker`` (and reading its ledger at ``db_path``, read-only, when given). It drives no
    terminal: the merchant API and the virtual terminal have none."""
    cards = cards or default_card_set()
    async with contextlib.AsyncExitStack() as stack:
        ledger = None
        if db_path is not None:
            if not db_path.exists():
                raise FileNotFoundError(f"no ledger at {db_path}")
            db = await aiosqlite.connect(f"file:{db_path}?mode=ro", uri=True)
            stack.push_async_callback(db.close)
            ledger = LedgerReads(db)
        desk = PaymentDesk({}, cards, Wallet(cards, SecurityModule(load_keys())))
        await _serve_http(config, LiveHub(broker, ledger=ledger), desk, cards, ready=ready,
                          extra=[])  # fmt: skip


async def _serve_http(
    config: ServeConfig,
    hub: LiveHub,
    desk: PaymentDesk,
    cards: CardSet,
    *,
    ready: Callable[[str, list[str]], None] | None,
    extra: list[Starter],
    back_office: APIRouter | None = None,
) -> None:
    """Serve the merchant API (with the issuer's ``back_office`` when given) and the
    dashboard over ``desk`` and ``hub`` until cancelled, with the ``extra`` tasks running
    beside them (started once the server listens)."""
    app = create_app(desk, back_office)
    app.include_router(dashboard_router(hub, desk, cards))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off",
                                           timeout_graceful_shutdown=2))  # fmt: skip
    # Bound and listening before the server runs: connections wait in the backlog, so the
    # API is reachable the moment ``ready`` is told (port 0: any free port).
    listener = socket.create_server((config.host, config.port), reuse_port=False)
    host, port = listener.getsockname()[:2]
    async with asyncio.TaskGroup() as group:
        background = [group.create_task(hub.run(), name="dashboard-feed")]
        task = group.create_task(server.serve(sockets=[listener]), name="http")
        try:
            async with asyncio.timeout(15):
                await hub.connected.wait()
            log.info("merchant API and dashboard on http://%s:%d", host, port)
            if ready is not None:
                ready(f"http://{host}:{port}", sorted(desk.terminals))
            background += [group.create_task(start()) for start in extra]
            await task
        finally:
            hub.close()
            server.should_exit = True
            with contextlib.suppress(asyncio.CancelledError):
                await task
            # A server cancelled mid-serve never closed its asyncio servers: close them, so the
            # event loop stops watching the listening socket before it is closed (else a later
            # socket given the same descriptor meets the loop's stale entry: ENOENT).
            for http_server in server.servers:
                http_server.close()
            listener.close()
            for other in background:
                other.cancel()


def add_serve_command(sub: Any, broker: Callable[[str], BrokerUrl]) -> None:
    """Add ``tpesim serve`` to the CLI's subcommands ``sub``."""
    command = sub.add_parser(
        "serve", help="the merchant (ECR) HTTP API in front of a switch and a fleet"
    )
    command.add_argument("--host", default="127.0.0.1")
    command.add_argument("--port", type=int, default=8080, help="0: any free port")
    command.add_argument("--terminals", type=int, default=5, help="fleet size (default 5)")
    command.add_argument("--broker", type=broker, help="use this broker instead of starting one")
    command.add_argument("--workdir", type=Path, default=Path("tpesim-serve"),
                         help="where the ledger and logs go")  # fmt: skip
    command.add_argument("--timeout", type=float, default=5.0, help="terminal timeout, s")
    command.add_argument("--attach", action="store_true",
                         help="the dashboard alone, following a system already running on "
                         "--broker (no switch, no terminals of its own)")  # fmt: skip
    command.add_argument("--db", type=Path,
                         help="with --attach: its ledger, read-only, for balances")  # fmt: skip


async def serve_command(args: argparse.Namespace) -> int:
    """Run ``tpesim serve`` until interrupted."""
    config = ServeConfig(args.host, args.port, args.terminals, args.broker, args.workdir,
                         args.timeout)  # fmt: skip

    def ready(url: str, tids: list[str]) -> None:
        print(f"dashboard on {url}/, virtual terminal {url}/terminal, merchant API {url}/docs; "
              f"terminals: {', '.join(tids) or 'none of its own'}", flush=True)  # fmt: skip

    if args.attach:
        if args.broker is None:
            raise CliError("--attach needs --broker: the broker the running system uses")
        await watch(config, args.broker, db_path=args.db, ready=ready)
    else:
        await serve(config, ready=ready)
    return 0
