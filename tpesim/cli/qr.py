"""``tpesim qr show`` and ``tpesim qr pay``: a terminal shows a BaridiPay-style code and waits for
its payment; a holder's wallet app pays a code (docs/protocol.md, "QR payments")."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from cards.catalog import load_card_set
from cards.currency import currency
from cards.qr import QrError, decode_qr
from switch.security import SecurityModule, load_keys
from tpesim.baridi import WalletApp, WalletError
from tpesim.cli.support import (
    CliError,
    add_card_set_files,
    amount_option,
    broker_url,
    configure_logging,
)
from tpesim.fleet import connected_fleet
from tpesim.state import DeviceState, default_state_file
from wire.clock import SystemClock
from wire.registry import Registry
from wire.transport.base import BrokerUrl

__all__ = ["add_qr_commands", "qr_command"]


def add_qr_commands(sub: Any) -> None:
    """Add ``tpesim qr show`` and ``tpesim qr pay`` to the CLI's subcommands ``sub``."""
    qr = sub.add_parser("qr", help="BaridiPay-style QR payments: show a code, pay one")
    qr_sub = qr.add_subparsers(dest="qr_command", required=True)
    show = qr_sub.add_parser("show", help="a terminal shows its code and waits for the payment")
    show.add_argument("--tid", required=True, help="the terminal (e.g. DZAL0001)")
    show.add_argument("--amount", help="a dynamic code for this amount (major units); "
                      "without it a static code, the payer types the amount")  # fmt: skip
    show.add_argument("--wait", type=float, default=120.0,
                      help="seconds to wait for the payment (default 120)")  # fmt: skip
    show.add_argument("--registry", type=Path, help="merchants file")
    show.add_argument("--state", type=Path, default=default_state_file(),
                      help="where the terminal's STAN persists between runs")  # fmt: skip
    pay = qr_sub.add_parser("pay", help="a holder's wallet app pays a code")
    pay.add_argument("code", help="the payload the terminal showed")
    pay.add_argument("--card", required=True, help="the holder's card (e.g. EDH-VALID)")
    pay.add_argument("--amount", help="what the holder types for a static code (major units)")
    pay.add_argument("--otp", help="type this one-time code instead of the app's (a wrong one: 55)")
    pay.add_argument("--wallet", default="wallet-1", help="the app's id (default wallet-1)")
    pay.add_argument("--json", action="store_true", help="print the result as JSON")
    for command in (show, pay):
        command.add_argument("--broker", type=broker_url, default=BrokerUrl("127.0.0.1", 1883))
        add_card_set_files(command)


async def qr_command(args: argparse.Namespace) -> int:
    """Run ``tpesim qr show`` or ``tpesim qr pay``: 0 when paid, 1 when not."""
    configure_logging(None, verbose=False)
    if args.qr_command == "show":
        return await _show(args)
    return await _pay(args)


async def _show(args: argparse.Namespace) -> int:
    registry = Registry.load(args.registry)
    profile = registry.get(args.tid)
    if profile is None:
        raise CliError(f"unknown terminal id: {args.tid}")
    amount = amount_option("--amount", args.amount, profile.currency)
    security = SecurityModule(load_keys(args.keys))
    try:
        state = DeviceState(args.state)
        state.claim([profile.tid])
    except ValueError as error:  # a damaged state file
        raise CliError(str(error)) from None
    with state:
        async with connected_fleet([profile], args.broker, clock=SystemClock(), timeout_s=5.0,
                                   key_injection=security, stans=state.stans) as fleet:  # fmt: skip
            tpe = fleet[profile.tid]
            payload, code = tpe.show_qr(amount)
            print(f"code: {payload}", flush=True)
            print(f"waiting up to {args.wait:g} s for its payment...", file=sys.stderr,
                  flush=True)  # fmt: skip
            paid = await tpe.qr_paid(code, timeout_s=args.wait)
        state.save()
    if paid is None:
        print("no payment", file=sys.stderr)
        return 1
    print(paid[1])
    return 0


async def _pay(args: argparse.Namespace) -> int:
    cards = load_card_set(args.cards)
    try:
        card = cards.card(args.card)
        shown = decode_qr(args.code)
    except KeyError as error:
        raise CliError(str(error.args[0])) from None
    except QrError as error:
        raise CliError(f"the code cannot be read: {error}") from None
    amount = amount_option("--amount", args.amount, currency(cards.accounts[card.account].currency))
    security = SecurityModule(load_keys(args.keys))
    try:
        async with WalletApp(args.wallet, card.pan, args.broker, cards=cards,
                             security=security) as app:  # fmt: skip
            result = await app.pay(args.code, amount, otp=args.otp)
    except WalletError as error:
        raise CliError(str(error)) from None
    if args.json:
        print(result.model_dump_json())
    else:
        paid_to = f"{shown.name} ({shown.tid})"
        print(f"{result.response_code} {result.reason}: {result.amount} {result.currency} "
              f"to {paid_to}, RRN {result.rrn or '-'}")  # fmt: skip
    return 0 if result.paid else 1
