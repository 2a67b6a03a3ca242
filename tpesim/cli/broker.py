"""``tpesim broker config``: write a locked-down Mosquitto configuration for the terminals of a
registry, and the access file tpesim's components log in with (see docs/security.md)."""

from __future__ import annotations

import argparse
import getpass
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tpesim.broker.access import CONFIG_FILE, AccessSpec, write_broker_access
from tpesim.cli.support import CliError, positive
from wire.registry import Registry

__all__ = ["add_broker_commands", "broker_command"]


def add_broker_commands(sub: Any) -> None:
    """Add ``tpesim broker config`` to the CLI's subcommands ``sub``."""
    broker = sub.add_parser("broker", help="broker tools")
    broker_sub = broker.add_subparsers(dest="broker_command", required=True)
    config = broker_sub.add_parser(
        "config",
        help="a Mosquitto configuration with one login per terminal, ACLs and TLS",
        description="Writes mosquitto.conf, passwords, acl, a CA and the broker's certificate, "
        "and access.json (every login in clear, owner-only: give it to tpesim as --broker).",
    )
    config.add_argument("--out", type=Path, required=True, help="directory to write")
    config.add_argument("--registry", type=Path,
                        help="terminal registry YAML (default: the shipped one)")  # fmt: skip
    config.add_argument("--terminals", type=positive,
                        help="only the first N TPEs, in fleet order, and each web shop's "
                        "payment page")  # fmt: skip
    config.add_argument("--port", type=positive,
                        help="terminals' listener port (8883, or 1883 without TLS)")  # fmt: skip
    config.add_argument("--component-port", type=positive,
                        help="the switch's and the operator's listener port (default: --port + "
                        "1)")  # fmt: skip
    config.add_argument("--no-tls", action="store_true",
                        help="a plain TCP listener (logins and ACLs still apply)")  # fmt: skip
    config.add_argument("--client-certs", action="store_true",
                        help="also a client certificate per identity (clients/ID.pem, .key), "
                        "required by the broker, which takes the identity from it")  # fmt: skip
    config.add_argument("--wallets", type=lambda text: tuple(text.split(",")), default=(),
                        metavar="ID[,ID...]",
                        help="wallet apps to give a login each (QR payments, tpesim qr pay "
                        "--wallet ID)")  # fmt: skip
    config.add_argument("--bind", default="127.0.0.1",
                        help="address the broker listens on (default 127.0.0.1)")  # fmt: skip
    config.add_argument("--host", default="127.0.0.1",
                        help="name clients reach the broker by; also in its certificate "
                        "(default 127.0.0.1)")  # fmt: skip
    config.add_argument("--broker-dir",
                        help="where the broker sees --out (a container mount point)")  # fmt: skip
    config.add_argument("--run-as",
                        help="user the broker runs as when started by root (it must read "
                        "server.key); default: whoever runs this command")  # fmt: skip


def broker_command(args: argparse.Namespace) -> int:
    """Run ``tpesim broker config``."""
    registry = Registry.load(args.registry)
    # A fleet of N TPEs and the web shops' payment pages (as tpesim serve and demo run), or all.
    profiles = (
        registry.fleet(args.terminals) + registry.web_shops()
        if args.terminals
        else registry.terminals()
    )
    tls = not args.no_tls
    if args.client_certs and not tls:
        raise CliError("--client-certs needs TLS (drop --no-tls)")
    try:
        spec = AccessSpec(
            tids=tuple(p.tid for p in profiles),
            port=args.port or (8883 if tls else 1883),
            tls=tls,
            bind=args.bind,
            host=args.host,
            broker_dir=args.broker_dir,
            run_as=args.run_as or getpass.getuser(),
            client_certs=args.client_certs,
            wallets=args.wallets,
            component_port=args.component_port,
        )
    except ValueError as error:
        raise CliError(str(error)) from None
    access = write_broker_access(args.out, spec, now=datetime.now(UTC))
    print(access)
    print(
        f"{len(spec.identities)} logins ({len(spec.tids)} terminals, {len(spec.wallets)} "
        "wallets, switch, operator), "
        f"{'TLS' if tls else 'plain TCP'} on {spec.bind}:{spec.port} (terminals) and "
        f"{spec.bind}:{spec.components_port} (switch and operator)"
        f"{', a client certificate each' if spec.client_certs else ''}.\n"
        f"start the broker:  mosquitto -c {args.out / CONFIG_FILE}\n"
        f"then use it:       tpesim switch --broker {access}",
        file=sys.stderr,
    )
    return 0
