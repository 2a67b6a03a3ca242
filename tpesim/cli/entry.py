"""The ``tpesim`` console script: Ctrl-C while the CLI is still loading ends quietly too.

``tpesim.cli.main`` imports most of tpesim (the switch, the ledger, the web app): a second or so in
which a Ctrl-C would otherwise print the traceback of an import. This module imports nothing
of tpesim until it runs.
"""

from __future__ import annotations

import sys

__all__ = ["main"]

INTERRUPTED = 130
"""As tpesim.cli.exits.INTERRUPTED (not imported: importing is what may be interrupted)."""


def main() -> int:
    """Load and run the command line; 130, silently, when interrupted while loading."""
    try:
        from tpesim.cli.main import main as run  # noqa: PLC0415 - the import is what is guarded
    except KeyboardInterrupt:
        return INTERRUPTED
    return run()


if __name__ == "__main__":
    sys.exit(main())
