"""The ``tpesim`` parser and the commands it runs itself (``demo``, ``switch``, ``cards list`` and
``cards issue``); every other subcommand is added by its own module (``tpesim.cli.*``,
``tpesim.settle``, ``tpesim.serve``, ``tpesim.scenario.command``) and registered here."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import signal
import sys
import tempfile
from collections.abc import Callable, Coroutine
from datetime import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cards.catalog import CardSetError, load_card_set
from cards.holders import load_holders
from switch.ledger.claim import LedgerInUseError
from switch.ledger.errors import LedgerOpenError, LedgerUnavailableError
from switch.ledger.where import ledger_location, shown
from switch.security import SecurityModule, load_keys
from switch.service import DEFAULT_LIMIT
from switch.startup import SwitchConflictError, running_switch
from terminal.shell.tpe import TerminalError
from tpesim.broker.launcher import BrokerError
from tpesim.cli.bench import add_bench_commands, bench_command
from tpesim.cli.broker import add_broker_commands, broker_command
from tpesim.cli.cards import BACK_OFFICE, add_back_office_commands, back_office_command
from tpesim.cli.decode import add_decode_command, decode_command
from tpesim.cli.exits import INTERRUPTED, reporting_failures
from tpesim.cli.ledger import add_ledger_commands, ledger_command
from tpesim.cli.output import ProgressLine, render_cards, render_summary
from tpesim.cli.qr import add_qr_commands, qr_command
from tpesim.cli.support import (
    CliError,
    OneLineParser,
    add_card_set_files,
    broker_url,
    configure_logging,
    positive,
    rate_limit,
)
from tpesim.cli.terminal import add_terminal_command, terminal_command
from tpesim.demo import DemoConfig, run_demo, run_demo_ui
from tpesim.issue import issue_card_set
from tpesim.scenario import ScenarioError
from tpesim.scenario.command import add_scenario_commands, scenario_command
from tpesim.serve import add_serve_command, serve_command
from tpesim.settle import add_settle_command, settle_command
from tpesim.state import StateFileError, TerminalBusyError
from wire.clock import SystemClock
from wire.magic import magic_amounts
from wire.protocol.codec import Encoding
from wire.registry import Registry, RegistryError
from wire.transport.base import BrokerUrl, TransportError
from wire.transport.url import NoLoginError

__all__ = ["main"]

log = logging.getLogger("tpesim")

if TYPE_CHECKING:
    _Commands = argparse._SubParsersAction[OneLineParser]


def _parser() -> argparse.ArgumentParser:
    parser = OneLineParser(
        prog="tpesim",
        description="Payment terminal (TPE) simulator and card switch over MQTT.",
    )
    parser.add_argument("--debug", action="store_true", help="on a failure, show the traceback too")
    parser.epilog = (
        "exit codes: 0 success (terminal: all approved), 1 ran but not all passed (a decline "
        "or timeout, a broken ledger invariant, a failed scenario check), 2 usage or "
        "infrastructure (bad argument or file, no broker, no switch, no ledger), 3 internal "
        "error (a bug), 130 interrupted"
    )
    sub = parser.add_subparsers(dest="command", required=True)
    for add in (
        _add_demo,
        _add_switch,
        add_ledger_commands,
        add_settle_command,
        _add_cards,
    ):
        add(sub)
    add_bench_commands(sub)
    add_broker_commands(sub)
    add_decode_command(sub)
    add_qr_commands(sub)
    add_terminal_command(sub)
    add_scenario_commands(sub, broker_url)
    add_serve_command(sub, broker_url)
    return parser


def _add_demo(sub: _Commands) -> None:
    demo = sub.add_parser("demo", help="broker + switch + terminals running seeded purchases")
    demo.add_argument("--terminals", type=positive, default=10, help="fleet size (default 10)")
    demo.add_argument("--transactions", type=int, default=300, help="purchases (default 300)")
    demo.add_argument("--seed", type=int, default=7, help="traffic seed (default 7)")
    demo.add_argument("--broker", type=broker_url, help="use this broker (mqtt://host:port)")
    demo.add_argument(
        "--broker-kind",
        choices=("auto", "mosquitto", "amqtt"),
        default="auto",
        help="which broker to start when --broker is not given (default auto)",
    )
    demo.add_argument(
        "--timeout",
        type=float,
        default=3.0,
        help="terminal response timeout in seconds (default 3)",
    )
    demo.add_argument("--workdir", type=Path, help="where to write ledger, receipts and logs")
    demo.add_argument("--secure", action="store_true",
                      help="start a locked-down Mosquitto: TLS only, one login per terminal, "
                      "ACLs (tpesim broker config; written to WORKDIR/access)")  # fmt: skip
    add_card_set_files(demo)
    demo.add_argument("--json", action="store_true", help="print one JSON summary on stdout")
    demo.add_argument("--ui", action="store_true",
                      help="serve the dashboard and virtual terminal and run the purchases "
                      "slowly, until interrupted")  # fmt: skip
    demo.add_argument("--port", type=int, default=8080, help="HTTP port with --ui (default 8080)")
    demo.add_argument("--pace", type=float, default=2.0,
                      help="seconds between purchases with --ui (default 2)")  # fmt: skip
    demo.add_argument("-v", "--verbose", action="store_true", help="log to stderr too")


def _add_switch(sub: _Commands) -> None:
    sw = sub.add_parser("switch", help="run the switch against an external broker")
    sw.add_argument("--broker", type=broker_url, default=BrokerUrl("127.0.0.1", 1883))
    sw.add_argument(
        "--db",
        type=ledger_location,
        default=Path("tpesim-ledger.db"),
        help="ledger: a SQLite file, or postgresql://user@host/db[?schema=NAME] (workers share it)",
    )
    add_card_set_files(sw)
    sw.add_argument("--registry", type=Path, help="merchants file (default: the shipped one)")
    sw.add_argument("--client-id", default="tpesim-switch")
    sw.add_argument(
        "--cutoff",
        type=_local_time,
        default=time(0, 0),
        help="day's-end cut-off HH:MM, terminal local time: later transactions belong to the "
        "next business day (default 00:00)",
    )
    sw.add_argument(
        "--shared",
        action="store_true",
        help="subscribe with the shared subscription $share/switch/tpe/+/req (several workers; "
        "a clean session, so a worker that dies leaves its share to the others)",
    )
    sw.add_argument("--no-trace", action="store_true",
                    help="publish no trace events on sim/trace (less work)")  # fmt: skip
    sw.add_argument("--terminal-rate", type=rate_limit, default=DEFAULT_LIMIT,
                    metavar="RATE[/BURST]|off",
                    help="messages a terminal may send per second (and at once) before the "
                    f"switch drops them unread (default {DEFAULT_LIMIT.rate:g}/"
                    f"{DEFAULT_LIMIT.burst})")  # fmt: skip
    sw.add_argument("--require-mac", action="store_true",
                    help="refuse (63) any request without a MAC (DE64), not only those of "
                    "merchants marked mac_required in the registry")  # fmt: skip
    sw.add_argument("-v", "--verbose", action="store_true")


def _local_time(value: str) -> time:
    try:
        return time.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a time HH:MM") from None


def _add_cards(sub: _Commands) -> None:
    cards = sub.add_parser("cards", help="card set tools")
    cards_sub = cards.add_subparsers(dest="cards_command", required=True)
    listing = cards_sub.add_parser("list", help="list the test cards")
    listing.add_argument("--cards", type=Path)
    listing.add_argument("--json", action="store_true")
    issue = cards_sub.add_parser(
        "issue", help="issue a seeded card set: cards.yaml, holders.yaml and keys.yaml"
    )
    issue.add_argument("--product", required=True, help="product id, e.g. edahabia")
    issue.add_argument("--count", type=positive, default=20)
    issue.add_argument("--seed", type=int, default=1)
    issue.add_argument("--out", type=Path, required=True, help="directory for the three files")
    add_back_office_commands(cards_sub)


# -- commands ----------------------------------------------------------------------------


async def _demo(args: argparse.Namespace) -> int:
    workdir: Path = args.workdir or Path(tempfile.mkdtemp(prefix="tpesim-demo-"))
    workdir.mkdir(parents=True, exist_ok=True)
    configure_logging(workdir / "tpesim.log", args.verbose)
    config = DemoConfig(
        terminals=args.terminals,
        transactions=args.transactions,
        seed=args.seed,
        broker=args.broker,
        broker_kind=args.broker_kind,
        timeout_s=args.timeout,
        workdir=workdir,
        secure=args.secure,
    )
    if args.ui:
        await run_demo_ui(config, port=args.port, pace_s=args.pace, cards=load_card_set(args.cards),
                          security=SecurityModule(load_keys(args.keys)),
                          holders=load_holders(args.holders))  # fmt: skip
        return 0
    if not args.json:
        fleet = Registry.load(None).fleet(args.terminals)
        binary = sum(1 for profile in fleet if profile.encoding is Encoding.ISO8583)
        print(
            f"tpesim demo: seed {args.seed}, {args.terminals} terminals ({binary} speaking "
            f"ISO 8583 binary, the others JSON), {args.transactions} purchases",
            file=sys.stderr,
        )
    result = await run_demo(
        config,
        progress=ProgressLine(args.transactions),
        cards=load_card_set(args.cards),
        security=SecurityModule(load_keys(args.keys)),
        holders=load_holders(args.holders),
    )
    if args.json:
        print(json.dumps(result.summary(), ensure_ascii=False))
    else:
        sample = next((o for o in result.outcomes if o.approved), None)
        if sample is not None:
            print("\nA receipt, as printed:\n" + sample.receipt)
        print(render_summary(result))
    return 0 if result.ledger.ok else 1


async def _switch(args: argparse.Namespace) -> int:
    configure_logging(None, verbose=True)
    cards = load_card_set(args.cards)
    registry = Registry.load(args.registry)
    async with running_switch(
        broker=args.broker,
        db_path=args.db,
        cards=cards,
        registry=registry,
        magic=magic_amounts(),
        client_id=args.client_id,
        shared=args.shared,
        persistent=not args.shared,
        security=SecurityModule(load_keys(args.keys)),
        cutoff=args.cutoff,
        rate_limit=args.terminal_rate,
        require_mac=args.require_mac,
    ) as service:
        service.trace = not args.no_trace
        log.info("switch ready on %s, ledger %s (Ctrl-C to stop)", args.broker, shown(args.db))
        await asyncio.Event().wait()
    return 0


def _cards(args: argparse.Namespace) -> int:
    """``tpesim cards``: the issuer's back office, issuing a card set, or the list."""
    if args.cards_command in BACK_OFFICE:
        return asyncio.run(back_office_command(args))
    if args.cards_command == "issue":
        return _cards_issue(args)
    return _cards_list(args)


def _cards_issue(args: argparse.Namespace) -> int:
    try:
        issued = issue_card_set(
            product_id=args.product,
            count=args.count,
            seed=args.seed,
            today=SystemClock().now().date(),
        )
    except ValueError as error:
        raise CliError(str(error)) from None
    for path in issued.write(args.out):
        print(path)
    print(
        f"{issued.count} {args.product} cards (seed {args.seed}); use them with "
        f"--cards {args.out / 'cards.yaml'} --keys {args.out / 'keys.yaml'} "
        f"--holders {args.out / 'holders.yaml'}",
        file=sys.stderr,
    )
    return 0


def _cards_list(args: argparse.Namespace) -> int:
    cards = load_card_set(args.cards)
    if args.json:
        rows = [c.model_dump(mode="json", exclude_none=True) for c in cards.cards]
        print(json.dumps(rows, ensure_ascii=False, indent=1))
    else:
        print(render_cards(cards))
    return 0


async def _cancellable(coro: Coroutine[Any, Any, int], *, server: bool) -> int:
    """Run ``coro``; SIGINT/SIGTERM cancel it cleanly: a server (switch, serve) has done its
    job and exits 0, any other command was cut short and exits :data:`INTERRUPTED`."""
    task = asyncio.current_task()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, lambda: task.cancel() if task else None)
    try:
        return await coro
    except asyncio.CancelledError:
        return 0 if server else INTERRUPTED


def _serve(args: argparse.Namespace) -> Coroutine[Any, Any, int]:
    configure_logging(None, verbose=False)
    return serve_command(args)


_ASYNC_COMMANDS: dict[str, Callable[[argparse.Namespace], Coroutine[Any, Any, int]]] = {
    "demo": _demo,
    "switch": _switch,
    "terminal": terminal_command,
    "serve": _serve,
    "scenario": lambda args: scenario_command(args, configure_logging),
    "qr": qr_command,
}
"""Commands that run an event loop, Ctrl-C cancelling them cleanly."""
_SERVERS = frozenset({"switch", "serve"})
"""Commands that run until stopped: Ctrl-C or SIGTERM is how they end (exit 0)."""


def _is_server(args: argparse.Namespace) -> bool:
    """Whether ``args`` runs until stopped: a server, or ``demo --ui`` (which serves the
    dashboard until Ctrl-C)."""
    return args.command in _SERVERS or (args.command == "demo" and bool(args.ui))


_COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "ledger": ledger_command,
    "settle": lambda args: asyncio.run(settle_command(args)),
    "bench": bench_command,
    "broker": broker_command,
    "decode": decode_command,
    "cards": _cards,
}


USER_ERRORS: tuple[type[Exception], ...] = (
    CliError,
    CardSetError,
    RegistryError,
    BrokerError,
    TransportError,
    TerminalError,
    FileExistsError,
    ScenarioError,
    NoLoginError,
    TerminalBusyError,
    StateFileError,
    LedgerOpenError,
    LedgerUnavailableError,
    LedgerInUseError,
    SwitchConflictError,
)
"""Errors a user can cause and fix: one line each, exit status 2."""


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``tpesim`` console script (exit codes: :mod:`tpesim.cli.exits`)."""
    args = _parser().parse_args(argv)

    def command() -> int:
        if args.command in _ASYNC_COMMANDS:
            running = _ASYNC_COMMANDS[args.command](args)
            return asyncio.run(_cancellable(running, server=_is_server(args)))
        return _COMMANDS[args.command](args)

    return reporting_failures(command, user_errors=USER_ERRORS, debug=args.debug)


if __name__ == "__main__":
    sys.exit(main())
