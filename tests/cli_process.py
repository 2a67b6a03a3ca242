"""Running the ``tpesim`` command line from a test, as a user would."""

from __future__ import annotations

import asyncio
import contextlib
import sys
from typing import IO

__all__ = ["tpesim"]


async def tpesim(
    *args: str, timeout_s: float = 60.0, stdout: str | int | None = None
) -> tuple[int, str, str]:
    """Run ``python -m tpesim ARGS``; its exit status, stdout and stderr. ``stdout``: a file
    to write the output to instead (a path, or an open descriptor), as a shell redirects it."""
    with contextlib.ExitStack() as stack:
        target: int | IO[bytes] = asyncio.subprocess.PIPE
        if isinstance(stdout, str):
            target = stack.enter_context(open(stdout, "wb"))  # noqa: ASYNC230
        elif isinstance(stdout, int):
            target = stdout
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "tpesim", *args, stdout=target, stderr=asyncio.subprocess.PIPE
        )
        async with asyncio.timeout(timeout_s):
            out, err = await process.communicate()
    assert process.returncode is not None
    return process.returncode, (out or b"").decode(), err.decode()
