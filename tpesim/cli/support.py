"""What the ``tpesim`` subcommands share: the user-facing error, logging with PANs masked, and
argument types."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import Literal, NoReturn

from cards.currency import Currency, parse_amount
from cards.masking import PanMaskingFilter
from switch.rules.admission import RateLimit
from wire.transport.base import BrokerUrl
from wire.transport.url import load_access_file

__all__ = ["CliError", "add_card_set_files", "broker_url", "configure_logging", "positive"]


class OneLineParser(argparse.ArgumentParser):
    """An argument parser whose errors are one line, ``tpesim: error: ...``, exit status 2,
    like every other failure of the command line (docs/cli.md)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"tpesim: error: {message} (see {self.prog} --help)\n")


def pin_digits(value: str) -> str:
    """``--pin``: what a PIN pad takes, 4 to 12 digits."""
    if not (value.isascii() and value.isdigit() and 4 <= len(value) <= 12):
        raise argparse.ArgumentTypeError("a PIN is 4 to 12 digits")
    return value


class CliError(Exception):
    """A user-facing error: printed as ``tpesim: error: …`` with exit status 2."""


def configure_logging(logfile: Path | None, verbose: bool) -> None:
    root = logging.getLogger()
    root.setLevel(logging.INFO)
    masking = PanMaskingFilter()
    fmt = logging.Formatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s")
    if logfile is not None:
        file_handler = logging.FileHandler(logfile, encoding="utf-8")
        file_handler.setFormatter(fmt)
        file_handler.addFilter(masking)
        root.addHandler(file_handler)
    console = logging.StreamHandler(sys.stderr)
    console.setFormatter(fmt)
    console.addFilter(masking)
    console.setLevel(logging.INFO if verbose else logging.WARNING)
    root.addHandler(console)
    for noisy in ("amqtt", "transitions", "aiosqlite"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def broker_url(value: str) -> BrokerUrl:
    """``--broker``: a URL (mqtt://host:port, mqtts://host:port?ca=FILE, with user:password@
    to log in), or an access file written by ``tpesim broker config``."""
    try:
        if value.endswith(".json"):
            return load_access_file(Path(value))
        return BrokerUrl.parse(value)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def amount_option(
    option: str, text: str | None, of: Currency, *, positive: bool = True
) -> int | None:
    """The amount ``text`` given to ``option`` (major units, e.g. ``1500,00``), in minor units
    of ``of``; None when the option was not given; CliError naming the option when it is not an
    amount (or, ``positive``, when it is zero)."""
    if text is None:
        return None
    try:
        minor = parse_amount(text, of)
    except ValueError as error:
        raise CliError(f"{option}: {error}") from None
    if positive and minor == 0:
        raise CliError(f"{option}: the amount must be above zero")
    return minor


def positive(value: str) -> int:
    """A whole number of at least 1."""
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a whole number") from None
    if number < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return number


def rate_limit(value: str) -> RateLimit | None:
    """``--limit``/``--terminal-rate``: ``RATE[/BURST]`` messages per second, or ``off``."""
    if value == "off":
        return None
    try:
        return RateLimit.parse(value)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def paced_rate(value: str) -> float | Literal["half"]:
    """``--paced``: a rate in requests/s (above 0, at most 100 000), or ``half``."""
    if value == "half":
        return "half"
    try:
        rate = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is neither a rate nor 'half'") from None
    if not 0 < rate <= 100_000:
        raise argparse.ArgumentTypeError("a rate is above 0 and at most 100 000 requests/s")
    return rate


def add_card_set_files(command: argparse.ArgumentParser) -> None:
    """--cards, --keys and --holders: a card set from `tpesim cards issue` (or the shipped one)."""
    command.add_argument("--cards", type=Path, help="card set file (default: the shipped set)")
    command.add_argument("--keys", type=Path, help="security module keys (default: shipped)")
    command.add_argument("--holders", type=Path, help="cardholders' PINs (default: shipped)")
