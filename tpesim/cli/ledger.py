"""``tpesim ledger``: check a ledger's invariants, or back it up while the switch runs."""

from __future__ import annotations

import argparse
import asyncio
import json
import sqlite3
from pathlib import Path
from typing import TYPE_CHECKING

from switch.ledger.errors import LedgerUnavailableError
from switch.ledger.sqlite.backup import BackupRefusedError, backup_ledger
from switch.ledger.where import check_location, ledger_location, shown
from tpesim.cli.support import CliError

__all__ = ["add_ledger_commands", "ledger_command"]

if TYPE_CHECKING:
    from tpesim.cli.support import OneLineParser

    _Commands = argparse._SubParsersAction[OneLineParser]


def add_ledger_commands(sub: _Commands) -> None:
    """``tpesim ledger check`` and ``tpesim ledger backup``."""
    ledger = sub.add_parser("ledger", help="ledger tools")
    ledger_sub = ledger.add_subparsers(dest="ledger_command", required=True)
    check = ledger_sub.add_parser("check", help="verify the ledger's invariants")
    check.add_argument("--db", type=ledger_location, required=True,
                       help="a SQLite file or a postgresql:// URL")  # fmt: skip
    check.add_argument("--json", action="store_true")
    backup = ledger_sub.add_parser(
        "backup",
        help="a consistent copy of a SQLite ledger, also while the switch writes to it",
    )
    backup.add_argument("--db", type=ledger_location, required=True,
                        help="the ledger: a SQLite file (a postgresql:// URL is refused: "
                        "use pg_dump)")  # fmt: skip
    backup.add_argument("--out", type=Path, required=True,
                        help="the copy: a new file (an existing one: --force)")  # fmt: skip
    backup.add_argument("--force", action="store_true", help="replace --out if it exists")
    backup.add_argument("--json", action="store_true")


def ledger_command(args: argparse.Namespace) -> int:
    """Run ``tpesim ledger``."""
    if args.ledger_command == "backup":
        return _backup(args)
    return _check(args)


def _check(args: argparse.Namespace) -> int:
    try:
        report = asyncio.run(check_location(args.db))
    except (FileNotFoundError, LedgerUnavailableError) as error:
        raise CliError(str(error)) from None
    if args.json:
        print(json.dumps(report.as_dict() | {"ok": report.ok, "problems": report.problems}))
    else:
        print(report.render())
    return 0 if report.ok else 1


def _backup(args: argparse.Namespace) -> int:
    """Exit status 0 with the copy written; 2 (one line) when there is none."""
    try:
        made = backup_ledger(args.db, args.out, force=args.force)
    except (FileNotFoundError, BackupRefusedError) as error:
        raise CliError(str(error)) from None
    except (OSError, sqlite3.Error) as error:
        why = error.strerror if isinstance(error, OSError) and error.strerror else error
        raise CliError(f"backup of {shown(args.db)} to {args.out} failed: {why}") from None
    if args.json:
        print(json.dumps({"db": str(args.db), "out": str(made.path),
                          "transfers": made.transfers, "bytes": made.size}))  # fmt: skip
    else:
        print(f"ledger {args.db} backed up to {made.path}: {made.transfers} transfers, "
              f"{made.size} bytes")  # fmt: skip
    return 0
