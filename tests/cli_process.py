"""Running the ``tpesim`` command line from a test, as a user would."""

from __future__ import annotations

import asyncio
import sys

__all__ = ["tpesim"]


async def tpesim(*args: str, timeout_s: float = 60.0) -> tuple[int, str, str]:
    """Run ``python -m tpesim ARGS``; its exit status, stdout and stderr."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tpesim",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    async with asyncio.timeout(timeout_s):
        out, err = await process.communicate()
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()
