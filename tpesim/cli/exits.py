"""How ``tpesim`` ends: its exit codes (docs/cli.md) and the one line a failure prints.

Every failure is one line on stderr, ``tpesim: error: ...``, and a non-zero exit; ``--debug``
shows the traceback instead. A failure tpesim foresaw (a bad argument or file, no broker, no
switch, no ledger, a file or port the system refuses) exits :data:`USAGE`; one it did not (a
bug) exits :data:`INTERNAL` and says so.
"""

from __future__ import annotations

import contextlib
import os
import sys
import traceback
from collections.abc import Callable

import yaml

__all__ = [
    "ALL_APPROVED",
    "BROKEN_PIPE",
    "ENVIRONMENT_ERRORS",
    "INTERNAL",
    "INTERRUPTED",
    "NOT_ALL_APPROVED",
    "USAGE",
    "reporting_failures",
]

ALL_APPROVED = 0
"""Success; for ``tpesim terminal``, every transaction was approved."""
NOT_ALL_APPROVED = 1
"""The command ran, but not everything passed: a transaction declined or timed out
(``terminal``), a ledger invariant broken (``ledger check``), a scenario check failed."""
USAGE = 2
"""Usage or infrastructure: a bad argument or file, no broker, no switch answering, a ledger
that cannot be opened; nothing was attempted past that point."""
INTERNAL = 3
"""A failure tpesim did not foresee (a bug): ``--debug`` shows where."""
INTERRUPTED = 130
"""Ctrl-C outside a server (a server stopped by Ctrl-C or SIGTERM exits 0)."""
BROKEN_PIPE = 141
"""The program reading the output stopped early (``| head``); nothing is printed."""

ENVIRONMENT_ERRORS: tuple[type[Exception], ...] = (OSError, ValueError, yaml.YAMLError)
"""What a file, a port or an argument a user gave can raise (a missing or unreadable file, a
port in use, a file that is not UTF-8, YAML or what it should hold): one line, exit 2."""


def reporting_failures(
    command: Callable[[], int],
    *,
    user_errors: tuple[type[Exception], ...],
    debug: bool = False,
) -> int:
    """Run ``command`` and return its exit code; a failure becomes one line on stderr and
    :data:`USAGE` (one of ``user_errors``, alone or as all of a task group's failures) or
    :data:`INTERNAL` (anything else). With ``debug`` the traceback is printed as well."""
    foreseen = (*user_errors, *ENVIRONMENT_ERRORS)
    try:
        try:
            return command()
        except BaseExceptionGroup as group:  # a task group's: its user error, alone
            raise _user_error(group, foreseen) from None
    except BrokenPipeError:
        # The reader went away (``tpesim cards list | head -1``): nothing more to say.
        with contextlib.suppress(OSError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return BROKEN_PIPE
    except foreseen as error:
        _say(error, debug)
        return USAGE
    except Exception as error:
        _say(error, debug, internal=True)
        return INTERNAL
    except KeyboardInterrupt:
        return INTERRUPTED


def _say(error: BaseException, debug: bool, *, internal: bool = False) -> None:
    if debug:
        traceback.print_exception(error, file=sys.stderr)
    text = " ".join(str(error).split()) or type(error).__name__
    if internal:
        text = f"internal error, {type(error).__name__}: {text} (--debug shows where)"
    print(f"tpesim: error: {text}", file=sys.stderr)


def _user_error(
    group: BaseExceptionGroup[BaseException], user_errors: tuple[type[Exception], ...]
) -> BaseException:
    """The first user error in ``group`` when it holds nothing else; else ``group`` itself."""
    leaves: list[BaseException] = []
    pending: list[BaseException] = [group]
    while pending:
        item = pending.pop()
        if isinstance(item, BaseExceptionGroup):
            pending.extend(reversed(item.exceptions))
        else:
            leaves.append(item)
    if leaves and all(isinstance(leaf, user_errors) for leaf in leaves):
        return leaves[0]
    if len(leaves) == 1:
        return leaves[0]
    return group
