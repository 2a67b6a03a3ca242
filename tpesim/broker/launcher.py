"""Start an MQTT broker for a demo or a test: Mosquitto when installed, else amqtt in-process.

Mosquitto is looked for on PATH and in the sbin directories Debian installs it to. It listens
on 127.0.0.1 on a free port; readiness is its own "running" log line, not a sleep.
"""

from __future__ import annotations

import asyncio
import contextlib
import getpass
import logging
import os
import shutil
import signal
import socket
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from tpesim.baridi import DEMO_WALLET
from tpesim.broker.access import CONFIG_FILE, AccessSpec, write_broker_access
from wire.transport.base import BrokerUrl
from wire.transport.url import load_access_file

__all__ = [
    "BrokerError",
    "BrokerHandle",
    "find_mosquitto",
    "free_port",
    "given_or_running_broker",
    "mosquitto_config",
    "restart_broker",
    "running_broker",
]

log = logging.getLogger("tpesim.broker.launcher")

BrokerKind = Literal["auto", "mosquitto", "amqtt"]
_SBIN_DIRS = ("/usr/sbin", "/usr/local/sbin", "/opt/homebrew/sbin")


class BrokerError(RuntimeError):
    """The broker could not be started; the message says which one and why."""


@dataclass
class BrokerHandle:
    """A running broker: its URL, which implementation, and (for Mosquitto) its process, config
    file and the task draining its log."""

    url: BrokerUrl
    kind: str
    process: asyncio.subprocess.Process | None = None
    config_path: Path | None = None
    log_reader: asyncio.Task[None] | None = None


def mosquitto_config(port: int) -> str:
    """A Mosquitto configuration: anonymous clients on 127.0.0.1:``port``, no persistence, and
    the information-level log line ("… running") that tells when it is ready, on stderr."""
    return (
        f"listener {port} 127.0.0.1\n"
        "allow_anonymous true\n"
        "persistence false\n"
        "max_queued_messages 10000\n"
        "set_tcp_nodelay true\n"
        "log_dest stderr\n"
        "log_type error\nlog_type warning\nlog_type notice\nlog_type information\n"
    )


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def find_mosquitto() -> str | None:
    """Path of the ``mosquitto`` executable, or None."""
    found = shutil.which("mosquitto")
    if found:
        return found
    path = os.pathsep.join(_SBIN_DIRS)
    return shutil.which("mosquitto", path=path)


async def _launch(executable: str, config: Path, port: int) -> BrokerHandle | str:
    """Start Mosquitto with ``config``; its handle once it runs, else why it did not."""
    process = await asyncio.create_subprocess_exec(
        executable,
        "-c",
        str(config),
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    assert process.stderr is not None
    last = ""
    try:
        async with asyncio.timeout(10):
            while True:
                line = (await process.stderr.readline()).decode(errors="replace")
                if not line:
                    break
                last = line.strip()
                if " running" in line:
                    reader = asyncio.create_task(
                        _drain(process.stderr), name=f"mosquitto-{port}-log"
                    )
                    return BrokerHandle(
                        BrokerUrl("127.0.0.1", port), "mosquitto", process, config, reader
                    )
    except TimeoutError:
        last = "no 'running' line within 10 s"
    with contextlib.suppress(ProcessLookupError):
        process.kill()
    await process.wait()
    return last


async def _start_mosquitto(
    executable: str, workdir: Path, secure: Sequence[str] | None = None
) -> BrokerHandle:
    last = ""
    for _ in range(3):
        port = free_port()
        if secure is None:
            config = workdir / f"mosquitto-{port}.conf"
            config.write_text(mosquitto_config(port), encoding="utf-8")
        else:
            spec = AccessSpec(tuple(secure), port=port, run_as=getpass.getuser(),
                              wallets=(DEMO_WALLET,), component_port=free_port())  # fmt: skip
            access = write_broker_access(workdir / "access", spec, now=datetime.now(UTC))
            config = access.parent / CONFIG_FILE
        started = await _launch(executable, config, port)
        if isinstance(started, BrokerHandle):
            if secure is not None:
                started.url = load_access_file(access)
            return started
        last = started
    raise BrokerError(f"mosquitto did not start: {last}")


async def restart_broker(handle: BrokerHandle, *, kill: bool, away_s: float = 0.0) -> None:
    """Stop the Mosquitto of ``handle`` (SIGTERM, or SIGKILL with ``kill``) and, ``away_s``
    seconds later, start it again on the same port; ``handle`` then refers to the new
    process."""
    executable = find_mosquitto()
    if handle.kind != "mosquitto" or handle.config_path is None or executable is None:
        raise BrokerError("restarting the broker needs mosquitto (the amqtt fallback cannot)")
    if kill and handle.process is not None and handle.process.returncode is None:
        handle.process.kill()
        await handle.process.wait()
    await _stop_mosquitto(handle)
    await asyncio.sleep(away_s)  # an outage of that length
    for _ in range(20):  # the port may linger a moment after the old process
        started = await _launch(executable, handle.config_path, handle.url.port)
        if isinstance(started, BrokerHandle):
            handle.process, handle.log_reader = started.process, started.log_reader
            log.info("mosquitto on %s restarted (%s)", handle.url, "kill -9" if kill else "SIGTERM")
            return
        await asyncio.sleep(0.1)
    raise BrokerError(f"mosquitto did not come back on {handle.url}")


async def _drain(stream: asyncio.StreamReader) -> None:
    """Keep reading a child's stderr so its pipe never fills up."""
    while await stream.readline():
        pass


async def _stop_mosquitto(handle: BrokerHandle) -> None:
    process = handle.process
    if process is None:
        return
    if process.returncode is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        process.send_signal(signal.SIGTERM)
    try:
        async with asyncio.timeout(5):
            await process.wait()
    except TimeoutError:
        process.kill()
        await process.wait()


async def _start_amqtt() -> tuple[BrokerHandle, Any]:
    logging.getLogger("amqtt").setLevel(logging.WARNING)
    logging.getLogger("transitions").setLevel(logging.WARNING)
    from amqtt.broker import Broker  # noqa: PLC0415 - imported only when it is the fallback

    port = free_port()
    broker = Broker(
        {
            "listeners": {"default": {"type": "tcp", "bind": f"127.0.0.1:{port}"}},
            "plugins": {
                "amqtt.plugins.authentication.AnonymousAuthPlugin": {"allow_anonymous": True},
            },
        }
    )
    await broker.start()
    return BrokerHandle(BrokerUrl("127.0.0.1", port), "amqtt"), broker


@contextlib.asynccontextmanager
async def running_broker(
    kind: BrokerKind, workdir: Path, *, secure: Sequence[str] | None = None
) -> AsyncIterator[BrokerHandle]:
    """Run a broker for the duration of the block.

    ``auto`` prefers Mosquitto and falls back to amqtt; ``mosquitto`` fails if it is absent.
    ``secure`` locks it down (Mosquitto only): TLS, one login for each of these TIDs, the
    switch and the operator, ACLs (:mod:`tpesim.broker.access`, written to
    ``workdir/access``); the handle's URL then carries the logins.
    """
    executable = find_mosquitto() if kind in ("auto", "mosquitto") else None
    if (kind == "mosquitto" or secure is not None) and executable is None:
        raise BrokerError("mosquitto is not installed (Debian/Ubuntu: apt-get install mosquitto)")
    if secure is not None and kind == "amqtt":
        raise BrokerError("a secured broker (logins, ACLs, TLS) needs mosquitto, not amqtt")
    if executable is not None:
        workdir.mkdir(parents=True, exist_ok=True)
        handle = await _start_mosquitto(executable, workdir, secure)
        log.info("started mosquitto on %s", handle.url)
        try:
            yield handle
        finally:
            await _stop_mosquitto(handle)
        return
    handle, broker = await _start_amqtt()
    log.info("mosquitto not found; started the in-process amqtt broker on %s", handle.url)
    try:
        yield handle
    finally:
        await broker.shutdown()


@contextlib.asynccontextmanager
async def given_or_running_broker(
    url: BrokerUrl | None,
    workdir: Path,
    kind: BrokerKind = "auto",
    *,
    secure: Sequence[str] | None = None,
) -> AsyncIterator[BrokerHandle]:
    """The broker at ``url`` (a handle of kind ``external``), or one of ``kind`` run for the
    duration of the block (locked down for the TIDs of ``secure``: see :func:`running_broker`)."""
    if url is not None:
        yield BrokerHandle(url, "external")
        return
    async with running_broker(kind, workdir, secure=secure) as handle:
        yield handle
