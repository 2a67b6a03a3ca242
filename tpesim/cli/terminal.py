"""``tpesim terminal``: terminals against an external broker: one purchase with its receipt,
seeded traffic (obeying ``sim/control/tpe/{tid}`` as it runs), or a power-up that reverses what
was in flight."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
from collections import Counter
from pathlib import Path
from typing import Any

from cards.catalog import CardSet, load_card_set
from cards.currency import MAX_MINOR
from cards.holders import Holders, load_holders
from cards.models import Card
from switch.security import SecurityModule, load_keys
from terminal.builder import CardPresentation
from terminal.control import obeying
from terminal.shell.tpe import Terminal, TransactionOutcome
from terminal.traffic import plan_traffic
from tpesim.cli.exits import ALL_APPROVED, NOT_ALL_APPROVED
from tpesim.cli.output import ProgressLine
from tpesim.cli.support import (
    CliError,
    add_card_set_files,
    amount_option,
    broker_url,
    configure_logging,
    pin_digits,
    positive,
)
from tpesim.demo import outcome_record
from tpesim.fleet import connected_fleet, run_plan
from tpesim.state import DeviceState, default_state_file
from tpesim.wallet import Wallet
from wire.clock import SystemClock
from wire.magic import magic_amounts
from wire.protocol.codec import FormatError, decode_request, encode
from wire.protocol.messages import FinancialRequest
from wire.registry import Registry, TerminalProfile
from wire.transport.base import BrokerUrl

__all__ = ["add_terminal_command", "terminal_command"]


def add_terminal_command(sub: Any) -> None:
    """Add ``tpesim terminal`` to the CLI's subcommands ``sub``."""
    term = sub.add_parser("terminal", help="run terminals against an external broker")
    term.add_argument("--broker", type=broker_url, default=BrokerUrl("127.0.0.1", 1883))
    who = term.add_mutually_exclusive_group()
    who.add_argument("--tid", action="append", help="terminal id (repeatable)")
    who.add_argument("--terminals", type=positive, help="the first N terminals of the registry")
    term.add_argument("--card", help="card id from the card set (e.g. EDH-VALID)")
    term.add_argument("--pan", help="a PAN to present (with --expiry YYMM)")
    term.add_argument("--expiry", help="expiry YYMM presented with --pan")
    term.add_argument("--amount", help="one purchase of this amount, in major units (1500,00)")
    term.add_argument(
        "--cash-back", metavar="AMOUNT", help="with --amount: cash handed over too (DE3 09)"
    )
    term.add_argument(
        "--balance", action="store_true", help="a balance inquiry (DE3 31): the receipt prints it"
    )
    term.add_argument("--void", action="store_true",
                      help="cancel the terminal's last approved sale (the cancel key)")  # fmt: skip
    term.add_argument(
        "--pin",
        type=pin_digits,
        help="the PIN the holder types (default: the card's own PIN for --card)",
    )
    term.add_argument(
        "--entry",
        choices=("chip", "magstripe", "keyed", "ecommerce"),
        default="chip",
        help="how a --card is read: chip + PIN (default), magnetic stripe, keyed with CVV2, or "
        "ecommerce (a web shop's payment page: CVV2, no PIN; e.g. --tid FRWB0001)",
    )
    term.add_argument(
        "--dukpt",
        choices=("aes", "tdes"),
        default="aes",
        help="PIN block under AES DUKPT (ISO 4, default) or TDES DUKPT (ISO 0)",
    )
    term.add_argument("--transactions", type=positive, default=20,
                      help="seeded purchases (default 20)")  # fmt: skip
    term.add_argument("--seed", type=int, default=7)
    term.add_argument("--timeout", type=float, default=5.0, help="response timeout, seconds")
    add_card_set_files(term)
    term.add_argument("--registry", type=Path, help="merchants file")
    term.add_argument(
        "--state",
        type=Path,
        default=default_state_file(),
        help="where the cards' chip counters (ATC), the terminals' STANs and their requests in "
        "flight persist between runs (default: ~/.local/state/tpesim/devices.json)",
    )
    term.add_argument(
        "--recover",
        action="store_true",
        help="only power the terminals up: sign on and reverse what was in flight at a power loss",
    )
    term.add_argument("--json", action="store_true")
    term.add_argument("-v", "--verbose", action="store_true")


def _presented_card(args: argparse.Namespace, cards: CardSet) -> CardPresentation:
    if args.card:
        try:
            card: Card = cards.card(args.card)
        except KeyError as error:
            raise CliError(str(error.args[0])) from None
        return CardPresentation.from_card(card, cards)
    if args.pan:
        if not args.expiry:
            raise CliError("--pan needs --expiry YYMM")
        if len(args.expiry) != 4 or not args.expiry.isdigit():
            raise CliError(f"--expiry {args.expiry!r}: four digits, YYMM (2906 is June 2029)")
        return CardPresentation(pan=args.pan, expiry=args.expiry)
    raise CliError("a single purchase needs --card ID or --pan PAN --expiry YYMM")


async def _void(
    args: argparse.Namespace, profile: TerminalProfile, options: dict[str, Any], state: DeviceState
) -> int:
    """``--void``: the terminal's last approved sale (remembered in the state file), voided."""
    if args.amount is not None or args.balance or args.cash_back is not None:
        raise CliError("--void takes no --amount, --balance nor --cash-back")
    kept = state.load_last_sale(profile.tid)
    if kept is None:
        raise CliError(f"{profile.tid}: nothing to void (no approved sale remembered)")
    try:
        sale = decode_request(kept)
    except FormatError as error:
        raise CliError(f"{profile.tid}: the remembered sale cannot be read ({error})") from None
    if not isinstance(sale, FinancialRequest):
        raise CliError(f"{profile.tid}: the remembered sale cannot be read")
    async with connected_fleet([profile], args.broker, **options) as terminals:
        tpe = terminals[profile.tid]
        tpe.last_sale = sale
        outcome = await tpe.void_last()
    state.keep_last_sale(profile.tid, None)
    state.save()
    if args.json:
        print(json.dumps(outcome_record(0, outcome), ensure_ascii=False))
    else:
        print(outcome.receipt)
    return ALL_APPROVED if outcome.approved else NOT_ALL_APPROVED


def _amounts(args: argparse.Namespace, profile: TerminalProfile) -> tuple[int, int]:
    """The purchase amount and the cash-back, in minor units (0, 0 for --balance)."""
    if args.balance:
        if args.amount is not None or args.cash_back is not None:
            raise CliError("--balance takes no --amount nor --cash-back")
        return 0, 0
    if args.cash_back is not None and args.amount is None:
        raise CliError("--cash-back goes with --amount (the purchase)")
    amount = amount_option("--amount", args.amount, profile.currency) or 0
    cash = amount_option("--cash-back", args.cash_back, profile.currency) or 0
    if amount + cash > MAX_MINOR:
        raise CliError(f"--amount with --cash-back is above {MAX_MINOR} minor units (DE4)")
    return amount, cash


def _profiles(args: argparse.Namespace, registry: Registry) -> list[TerminalProfile]:
    if args.tid:
        found = [registry.get(tid) for tid in args.tid]
        missing = [tid for tid, p in zip(args.tid, found, strict=True) if p is None]
        if missing:
            raise CliError(f"unknown terminal id(s): {', '.join(missing)}")
        return [p for p in found if p is not None]
    return registry.fleet(args.terminals or 1)


async def terminal_command(args: argparse.Namespace) -> int:
    """Run ``tpesim terminal``."""
    configure_logging(None, args.verbose)
    cards = load_card_set(args.cards)
    registry = Registry.load(args.registry)
    profiles = _profiles(args, registry)
    security = SecurityModule(load_keys(args.keys))
    holders = load_holders(args.holders)
    try:
        state = DeviceState(args.state)
        state.claim(p.tid for p in profiles)
    except ValueError as error:  # a damaged state file
        raise CliError(str(error)) from None
    with state:
        return await _drive(args, profiles, cards=cards, security=security, holders=holders,
                            state=state)  # fmt: skip


async def _drive(
    args: argparse.Namespace,
    profiles: list[TerminalProfile],
    *,
    cards: CardSet,
    security: SecurityModule,
    holders: Holders,
    state: DeviceState,
) -> int:
    """The terminals' work, once this process holds their state (``state.claim``)."""
    clock = SystemClock()
    wallet = Wallet(cards, security, state.chips, holders=holders, shared=state)
    fleet_options: dict[str, Any] = {
        "clock": clock,
        "timeout_s": args.timeout,
        "dukpt": args.dukpt,
        "stans": state.stans,
        "key_injection": security,
        "memory": state,
    }
    if args.recover:
        async with connected_fleet(profiles, args.broker, **fleet_options) as terminals:
            reversed_ = sum(t.stats.reversals_sent for t in terminals.values())
            queued = sum(len(t.saf) for t in terminals.values())
        state.save()
        print(f"recovered {len(profiles)} terminal(s): {reversed_} reversal(s) of requests in "
              f"flight, {queued} still queued")  # fmt: skip
        return 0
    if args.void:
        return await _void(args, profiles[0], fleet_options, state)
    if args.amount is not None or args.balance or args.cash_back is not None:
        card = _presented_card(args, cards)
        profile = profiles[0]
        amount, cash_back = _amounts(args, profile)
        pin = args.pin
        if pin is None and args.card:
            pin = holders.holder_pin(args.card)  # the holder types their own PIN
        async with connected_fleet([profile], args.broker, **fleet_options) as terminals:
            chip = wallet.chip(args.card) if args.card else None  # a bare --pan has no chip
            plastic = wallet.plastic(args.card) if args.card else None
            if args.entry != "chip" and plastic is None:
                raise CliError(f"--entry {args.entry} needs --card (the card's stripe and CVV2)")
            async with wallet.in_reader(args.card) if args.card else contextlib.nullcontext():
                outcome = await terminals[profile.tid].purchase(
                    card, amount, pin=pin, chip=chip, entry=args.entry, plastic=plastic,
                    cash_back=cash_back, inquiry=args.balance,
                )  # fmt: skip
            last = terminals[profile.tid].last_sale
        if last is not None:
            state.keep_last_sale(profile.tid, encode(last))
        wallet.remember()
        state.save()
        if args.json:
            print(json.dumps(outcome_record(0, outcome), ensure_ascii=False))
        else:
            print(outcome.receipt)
        return ALL_APPROVED if outcome.approved else NOT_ALL_APPROVED
    if args.card or args.pan:
        raise CliError(f"{'--card' if args.card else '--pan'} goes with --amount or --balance "
                       "(seeded traffic, without them, picks its own test cards)")  # fmt: skip
    plan = plan_traffic(
        seed=args.seed,
        count=args.transactions,
        fleet=profiles,
        cards=cards,
        magic=magic_amounts(),
        today=clock.now().date(),
        holders=holders,
    )
    controlled: dict[str, Terminal] = {}
    async with (
        obeying(controlled, args.broker, client_id=f"tpesim-terminal-{os.getpid()}"),
        # sim/control/tpe/{tid} (unplug, plug, paper-out, paper-in) reaches each terminal from
        # its sign-on on, not only once the whole fleet has signed on.
        connected_fleet(profiles, args.broker, signed_on=controlled, **fleet_options) as terminals,
    ):
        run = await run_plan(
            plan, terminals, cards, progress=ProgressLine(len(plan)), wallet=wallet
        )
    wallet.remember()
    state.save()
    _report(run.outcomes, as_json=args.json)
    approved = all(outcome.approved for outcome in run.outcomes)
    return ALL_APPROVED if approved else NOT_ALL_APPROVED


def _report(outcomes: list[TransactionOutcome], *, as_json: bool) -> None:
    """One JSON record per purchase, or the count of each verdict on one line."""
    if as_json:
        for index, outcome in enumerate(outcomes):
            print(json.dumps(outcome_record(index, outcome), ensure_ascii=False))
        return
    counts = Counter(outcome.verdict for outcome in outcomes)
    print(" ".join(f"{code}:{n}" for code, n in sorted(counts.items())))
