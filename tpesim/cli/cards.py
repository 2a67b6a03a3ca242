"""``tpesim cards unblock|block|set-balance|history``: the issuer's back office on a ledger.

Each action is recorded in the ledger as an event (who: ``--actor``, default the login name;
why: ``--reason``) and ``history`` prints them. The ledger may be in use by a running switch:
the action is one transaction beside its own.
"""

from __future__ import annotations

import argparse
import getpass
import json
import sqlite3
from pathlib import Path
from typing import Any

from cards.catalog import CardSet, load_card_set
from cards.currency import currency
from switch.flows.back_office import ACTIONS, CardEvent, administer, event_from_row
from switch.ledger.errors import (
    InsufficientFundsError,
    LedgerRefusalError,
)
from switch.ledger.where import ledger_location, open_ledger, require_ledger
from tpesim.cli.support import CliError, amount_option
from wire.clock import SystemClock

__all__ = ["BACK_OFFICE", "add_back_office_commands", "back_office_command"]

BACK_OFFICE = (*ACTIONS, "history")
"""The ``tpesim cards`` subcommands of the back office."""


def add_back_office_commands(cards_sub: Any) -> None:
    """Add the back office's subcommands to ``tpesim cards``."""
    helps = {
        "unblock": "let a card pay again: its wrong-PIN count back to 0 and any block lifted",
        "block": "block a card at its issuer: every payment answered 62 until unblocked",
        "set-balance": "set a card account's available balance (an adjustment transfer)",
    }
    for action in ACTIONS:
        command = cards_sub.add_parser(action, help=helps[action])
        command.add_argument("card", help="test card id, e.g. EDH-PIN-TRIES")
        if action == "set-balance":
            command.add_argument("amount", help="major units of the account's currency: 1500,00")
        command.add_argument("--db", type=ledger_location, required=True,
                             help="ledger: a SQLite file or a postgresql:// URL")  # fmt: skip
        command.add_argument("--reason", default="", help="why, recorded with the event")
        command.add_argument("--actor", help="who, recorded (default: your login name)")
        command.add_argument("--cards", type=Path, help="card set file (default: the shipped set)")
        command.add_argument("--json", action="store_true", help="print the event as JSON")
    history = cards_sub.add_parser("history", help="the back office's events, oldest first")
    history.add_argument("card", nargs="?", help="only this card's")
    history.add_argument("--db", type=ledger_location, required=True)
    history.add_argument("--json", action="store_true", help="one JSON object per event")
    history.add_argument("--cards", type=Path, help="card set file (default: the shipped set)")


async def back_office_command(args: argparse.Namespace) -> int:
    """Run ``tpesim cards unblock|block|set-balance|history``."""
    location = args.db
    try:
        require_ledger(location)
        ledger = await open_ledger(location)
    except (FileNotFoundError, sqlite3.Error) as error:  # none there, or read-only
        raise CliError(f"{location}: {error}" if isinstance(error, sqlite3.Error)
                       else str(error)) from None  # fmt: skip
    except RuntimeError as error:  # unreachable, or a ledger of another schema version
        raise CliError(str(error)) from None
    async with ledger:
        if args.cards_command == "history":
            if args.card is not None and not _known(args.cards, args.card):
                raise CliError(f"no card with id {args.card[:40]!r} (tpesim cards list)")
            events = [event_from_row(row) for row in await ledger.card_events(args.card)]
            for event in events:
                print(json.dumps(_record(event), ensure_ascii=False) if args.json
                      else event.describe())  # fmt: skip
            return 0
        cards = load_card_set(args.cards)
        event = await _act(ledger, cards, args)
    print(json.dumps(_record(event), ensure_ascii=False) if args.json else event.describe())
    return 0


async def _act(ledger: Any, cards: CardSet, args: argparse.Namespace) -> CardEvent:
    try:
        card = cards.card(args.card)
    except KeyError:
        raise CliError(f"no card with id {args.card[:40]!r} (tpesim cards list)") from None
    balance = None
    if args.cards_command == "set-balance":
        code = cards.accounts[card.account].currency
        balance = amount_option("set-balance", args.amount, currency(code), positive=False)
    try:
        return await administer(
            ledger, cards, card.id, args.cards_command, now=SystemClock().now(),
            actor=args.actor or getpass.getuser(), reason=args.reason, balance=balance,
        )  # fmt: skip
    except (ValueError, InsufficientFundsError, LedgerRefusalError) as error:
        raise CliError(f"{args.cards_command} {card.id}: {error}") from None


def _known(card_file: Path | None, card_id: str) -> bool:
    try:
        load_card_set(card_file).card(card_id)
    except KeyError:
        return False
    return True


def _record(event: CardEvent) -> dict[str, Any]:
    return {"card": event.card_id, "action": event.action, "detail": event.detail,
            "actor": event.actor, "at": event.at}  # fmt: skip
