"""``tpesim bench``: the crypto, ledger, switch, fleet, reconnect and flood benches from the
command line; what each measures is in its own module (``tpesim.bench``) and
docs/performance.md."""

from __future__ import annotations

import argparse
import asyncio
import json
from pathlib import Path
from typing import Any

from switch.ledger.where import ledger_location, postgres_location
from switch.service import DEFAULT_LIMIT
from tpesim.bench.crypto import run_crypto_bench
from tpesim.bench.fleet import run_fleet_bench
from tpesim.bench.flood import run_flood_bench
from tpesim.bench.ledger import run_ledger_bench
from tpesim.bench.switch import TraceMode, run_switch_bench
from tpesim.cli.support import (
    CliError,
    broker_url,
    configure_logging,
    paced_rate,
    positive,
    rate_limit,
)
from wire.transport import CLIENT_ENV, CLIENTS, DEFAULT_CLIENT

__all__ = ["add_bench_commands", "bench_command"]


def add_bench_commands(sub: Any) -> None:
    """Add ``tpesim bench`` and its benches to the CLI's subcommands ``sub``."""
    bench = sub.add_parser("bench", help="benchmarks")
    bench_sub = bench.add_subparsers(dest="bench_command", required=True)
    crypto = bench_sub.add_parser(
        "crypto", help="cost of the switch's MAC + PIN + ARQC checks per authorization"
    )
    crypto.add_argument("--count", type=positive, default=2000)
    crypto.add_argument("--dukpt", choices=("aes", "tdes"), default="aes")
    crypto.add_argument("--json", action="store_true")
    ledger = bench_sub.add_parser(
        "ledger", help="SQLite ledger: holds+posts per second, and a day's settlement"
    )
    ledger.add_argument("--transfers", type=positive, default=100_000, help="holds (and posts)")
    ledger.add_argument("--batch", type=positive, default=5_000, help="transfers per commit")
    ledger.add_argument("--settle", type=positive, default=1_000_000, help="holds to settle")
    ledger.add_argument("--workdir", type=Path, help="where the bench ledgers go (default: temp)")
    ledger.add_argument("--json", action="store_true")
    switch = bench_sub.add_parser(
        "switch", help="full switch path over MQTT against a bare echo service (the ceiling)"
    )
    switch.add_argument("--requests", type=positive, default=5_000, help="timed purchases")
    switch.add_argument("--concurrency", type=positive, default=50, help="requests in flight")
    switch.add_argument("--broker", type=broker_url, help="use this broker instead of starting one")
    switch.add_argument("--trace", choices=("off", "on", "both"), nargs="?", const="on",
                        default=None, help="the switch's trace events: off, on (bare --trace), "
                        "or both: the timed run with them off, then again with them on "
                        "(default: both; off with --workers)")  # fmt: skip
    switch.add_argument("--shared-load", action="store_true",
                        help="run the load generator in the bench's own process")  # fmt: skip
    switch.add_argument("--workdir", type=Path, help="where the bench ledger goes (default: temp)")
    switch.add_argument("--db", type=ledger_location,
                        help="the switch's ledger: a SQLite file or a postgresql:// URL "
                        "(default: a new SQLite file in the work directory)")  # fmt: skip
    switch.add_argument("--workers", type=positive, default=1,
                        help="switch processes on a shared subscription (more than 1 needs "
                        "--db postgresql://…)")  # fmt: skip
    switch.add_argument("--paced", type=paced_rate, metavar="RATE|half",
                        help="then run the switch open loop at RATE requests/s, or at half its "
                        "closed-loop figure: the latency at a steady load")  # fmt: skip
    fleet = bench_sub.add_parser(
        "fleet", help="connect N terminals (own connection and Last Will each): memory per terminal"
    )
    fleet.add_argument("--terminals", type=positive, default=1_000, help="terminals to connect")
    fleet.add_argument("--broker", type=broker_url, help="use this broker instead of starting one")
    fleet.add_argument("--restart", choices=("jitter", "lockstep"),
                       help="then restart the broker under the fleet and time its return, the "
                       "terminals retrying with full jitter (as they do) or without")  # fmt: skip
    fleet.add_argument("--json", action="store_true")
    flood = bench_sub.add_parser(
        "flood", help="one terminal floods the switch with garbage: the others' latency"
    )
    flood.add_argument("--requests", type=positive, default=1_000,
                       help="purchases timed alone, then as many under the flood")  # fmt: skip
    flood.add_argument("--rate", type=float, default=100.0,
                       help="purchases per second, open loop (default 100)")  # fmt: skip
    flood.add_argument("--flood-rate", type=float, default=2_000.0,
                       help="malformed messages/s from one terminal (default 2000)")  # fmt: skip
    flood.add_argument("--terminals", type=positive, default=8, help="terminals purchasing")
    flood.add_argument("--limit", type=rate_limit, default=DEFAULT_LIMIT,
                       help="each terminal's rate limit, RATE[/BURST] messages/s, or off "
                       f"(default {DEFAULT_LIMIT.rate:g}/{DEFAULT_LIMIT.burst})")  # fmt: skip
    flood.add_argument("--broker", type=broker_url, help="use this broker instead of starting one")
    flood.add_argument("--workdir", type=Path,
                       help="where the ledger goes (default: temp; /dev/shm keeps the disk's "
                       "fsync stalls out of the comparison)")  # fmt: skip
    flood.add_argument("--json", action="store_true")
    for bench_parser in (fleet, switch, flood):
        bench_parser.add_argument(
            "--client", choices=sorted(CLIENTS), default=DEFAULT_CLIENT,
            help=f"MQTT client library (default: {DEFAULT_CLIENT}, or ${CLIENT_ENV})",
        )  # fmt: skip
    switch.add_argument("--cards", type=int, default=1_000,
                        help="cards issued for the bench that pay in turn (0: the shipped set's "
                        "five everyday cards)")  # fmt: skip
    switch.add_argument("--json", action="store_true")


def bench_command(args: argparse.Namespace) -> int:
    """Run the ``tpesim bench`` named in ``args``; its exit status."""
    if args.bench_command == "ledger":
        ledger = asyncio.run(
            run_ledger_bench(args.transfers, args.batch, args.settle, args.workdir)
        )
        print(json.dumps(ledger.summary()) if args.json else ledger.render())
        return 0 if ledger.check_ok else 1
    if args.bench_command == "switch":
        if not 0 <= args.cards <= 100_000:
            raise CliError("--cards: 0 to 100 000 cards")
        if args.workers > 1 and (args.db is None or postgres_location(args.db) is None):
            raise CliError("--workers above 1: the workers share a --db postgresql://… ledger")
        trace: TraceMode = args.trace or ("off" if args.workers > 1 else "both")
        if trace == "both" and args.workers > 1:
            raise CliError("--trace both: one switch process (workers fix theirs at start)")
        configure_logging(None, verbose=False)
        bench = asyncio.run(
            run_switch_bench(requests=args.requests, concurrency=args.concurrency,
                             broker=args.broker, workdir=args.workdir, trace=trace,
                             separate_load=not args.shared_load, cards=args.cards,
                             mqtt=args.client, ledger=args.db, workers=args.workers,
                             paced=args.paced)
        )  # fmt: skip
        print(json.dumps(bench.summary()) if args.json else bench.render())
        return 0 if bench.all_approved else 1
    if args.bench_command == "flood":
        configure_logging(None, verbose=False)
        flooded = asyncio.run(
            run_flood_bench(requests=args.requests, rate=args.rate, flood_rate=args.flood_rate,
                            terminals=args.terminals, limit=args.limit, broker=args.broker,
                            mqtt=args.client, workdir=args.workdir)
        )  # fmt: skip
        print(json.dumps(flooded.summary()) if args.json else flooded.render())
        return 0 if flooded.all_approved else 1
    if args.bench_command == "fleet":
        configure_logging(None, verbose=False)
        held = asyncio.run(run_fleet_bench(args.terminals, broker=args.broker, mqtt=args.client,
                                           restart=args.restart))  # fmt: skip
        print(json.dumps(held.summary()) if args.json else held.render())
        came_back = held.reconnection is None or held.reconnection.summary()["not_back"] == 0
        return 0 if held.connected == held.terminals and held.will_seen and came_back else 1
    result = run_crypto_bench(args.count, args.dukpt)
    print(json.dumps(result.summary()) if args.json else result.render())
    return 0
