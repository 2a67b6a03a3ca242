"""``tpesim broker config``: a locked-down Mosquitto, generated from the terminal registry.

One directory holds everything (see docs/security.md):

- ``mosquitto.conf``: no anonymous clients, the password and ACL files, and a TLS-only
  listener (or a plain one with ``tls=False``);
- two listeners: the terminals' (``port``; the broker takes each login's user name as its
  client id, so no login can take another client's id or session) and the components' (the
  switch and the operator, on ``port`` + 1 by default);
- ``passwords``: one login per terminal (its TID) and wallet app, and ``components.passwords``
  one for the switch and one for the operator, hashed as ``mosquitto_passwd`` does
  (PBKDF2-SHA512, ``$7$``);
- ``acl``: a terminal publishes only its own requests, status and traces and reads only its
  own responses and commands; ``components.acl``: the switch reads every request and answers
  every terminal; the operator reads statuses and traces and sends commands;
- ``ca.pem``/``ca.key``, ``server.pem``/``server.key``: a private CA and the broker's
  certificate (:mod:`tpesim.broker.certs`);
- with client certificates on, ``clients/ID.pem``/``clients/ID.key`` for every identity (its
  common name is the identity): the broker then requires one and takes the identity from it,
  not from a password;
- ``access.json`` (owner-only): the broker's URL and every login in clear (and each identity's
  certificate), for tpesim's own components: ``--broker access.json``
  (:func:`wire.transport.url.load_access_file`).
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import secrets
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from tpesim.broker.certs import Authority, write_key_pair
from wire.protocol import topics
from wire.protocol.codec import Encoding
from wire.protocol.topics import wallet_of_topic
from wire.transport.url import COMPONENT_LOGINS, OPERATOR_LOGIN, SWITCH_LOGIN

__all__ = [
    "ACCESS_FILE",
    "CLIENTS_DIR",
    "CONFIG_FILE",
    "AccessSpec",
    "acl_text",
    "component_acl_text",
    "mosquitto_password_line",
    "secured_mosquitto_config",
    "write_broker_access",
]

ACCESS_FILE = "access.json"
CONFIG_FILE = "mosquitto.conf"
CLIENTS_DIR = "clients"
"""Where the client certificates go, one ``ID.pem``/``ID.key`` pair per identity."""
PBKDF2_ITERATIONS = 101
"""What ``mosquitto_passwd`` uses for ``$7$`` (PBKDF2-HMAC-SHA512) hashes."""
_SALT_BYTES = 12


def mosquitto_password_line(username: str, password: str, salt: bytes) -> str:
    """A password-file line as ``mosquitto_passwd`` writes it: ``user:$7$101$salt$hash``
    (base64 salt, base64 PBKDF2-HMAC-SHA512 of the password, 64 bytes)."""
    if ":" in username:
        raise ValueError(f"a Mosquitto user name cannot contain ':' ({username!r})")
    digest = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, PBKDF2_ITERATIONS, 64)
    encoded = base64.b64encode(salt).decode(), base64.b64encode(digest).decode()
    return f"{username}:$7${PBKDF2_ITERATIONS}${encoded[0]}${encoded[1]}"


def acl_text() -> str:
    """The terminals' listener's ACL file: a pattern for every terminal (``%u`` is its user
    name, its TID) and every wallet app."""
    me = "%u"
    lines = [
        "# Written by tpesim broker config. A terminal logs in with its TID as user name, and",
        "# the broker takes that name as its client id (use_username_as_clientid).",
        "# Terminals: their own requests, status and traces out; their own answers and",
        "# commands in.",
        f"pattern write {topics.request(me)}",
        f"pattern read {topics.response(me)}",
        f"pattern write {topics.request(me, Encoding.ISO8583)}",
        f"pattern read {topics.response(me, Encoding.ISO8583)}",
        f"pattern write {topics.status(me)}",
        f"pattern write {topics.trace(me)}",
        f"pattern read {topics.terminal_control(me)}",
        f"pattern read {topics.qr_notice(me)}",
        "# Wallet apps (a login named after the wallet id): their QR payments out, results in.",
        f"pattern write {topics.wallet_pay(me)}",
        f"pattern read {topics.wallet_result(me)}",
    ]
    return "\n".join(lines) + "\n"


def component_acl_text() -> str:
    """The components' listener's ACL file: the switch's and the operator's rights."""
    lines = [
        "# Written by tpesim broker config: the components' listener (switch and operator).",
        "# The switch: every request in, every answer out; its status, traces and issuer states.",
        f"user {SWITCH_LOGIN}",
        f"topic read {topics.REQUEST_FILTER}",
        f"topic write {topics.response('+')}",
        f"topic read {topics.ISO8583_REQUEST_FILTER}",
        f"topic write {topics.response('+', Encoding.ISO8583)}",
        f"topic read {topics.WALLET_PAY_FILTER}",
        f"topic write {topics.wallet_result('+')}",
        f"topic write {topics.qr_notice('+')}",
        f"topic readwrite {topics.SWITCH_STATUS}",
        f"topic readwrite {topics.SWITCH_OWNER}",
        f"topic write {topics.trace('+')}",
        f"topic read {topics.ISSUER_CONTROL_FILTER}",
        f"topic read {topics.SWITCH_CONTROL}",
        f"topic write {topics.issuer_status('+')}",
        "",
        "# The operator (dashboard, fleet controls, scenarios): statuses and traces in, commands",
        "# out; never a request or a response.",
        f"user {OPERATOR_LOGIN}",
        f"topic read {topics.status('+')}",
        f"topic read {topics.SWITCH_STATUS}",
        f"topic read {topics.SWITCH_OWNER}",
        f"topic read {topics.TRACE_FILTER}",
        f"topic read {topics.issuer_status('+')}",
        f"topic readwrite {topics.CONTROL_FILTER}",
    ]
    return "\n".join(lines) + "\n"


@dataclass(frozen=True, slots=True)
class AccessSpec:
    """What to generate: logins for ``tids``; a listener on ``bind``:``port``, TLS-only unless
    ``tls`` is False; clients reach it as ``host`` (also named in the server certificate, with
    localhost and 127.0.0.1). ``broker_dir`` is where the broker sees the directory (a
    container's mount point), by default where it is written. ``run_as`` is the user the
    broker runs as when started by root (it must read the server key); Mosquitto's default,
    ``mosquitto``, when None. ``client_certs``: every identity gets a client certificate
    (common name = the identity) and the broker requires one, taking the identity from it;
    needs ``tls``."""

    tids: tuple[str, ...]
    port: int = 8883
    tls: bool = True
    bind: str = "127.0.0.1"
    host: str = "127.0.0.1"
    broker_dir: str | None = None
    run_as: str | None = None
    client_certs: bool = False
    wallets: tuple[str, ...] = ()
    """Wallet apps given a login each (user name = the wallet id), for QR payments."""
    component_port: int | None = None
    """The components' listener (switch and operator), by default ``port`` + 1: their logins
    work only there, the terminals' and wallets' only on ``port``, where the broker takes
    each login's user name as its client id, so that no terminal can take another client's
    id or session."""

    def __post_init__(self) -> None:
        if self.client_certs and not self.tls:
            raise ValueError("client certificates need TLS")
        taken = {SWITCH_LOGIN, OPERATOR_LOGIN, *self.tids}
        for wallet in self.wallets:
            if wallet_of_topic(topics.wallet_pay(wallet)) != wallet or wallet in taken:
                raise ValueError(f"wallet id {wallet!r}: 1-32 letters, digits or '-', and "
                                 "not a terminal's or a component's login")  # fmt: skip

    @property
    def identities(self) -> tuple[str, ...]:
        return (*COMPONENT_LOGINS, *self.tids, *self.wallets)

    @property
    def components_port(self) -> int:
        return self.component_port or self.port + 1

    @property
    def url(self) -> str:
        """The broker's URL for clients, relative file names resolved from the access file."""
        if self.tls:
            return f"mqtts://{self.host}:{self.port}?ca=ca.pem"
        return f"mqtt://{self.host}:{self.port}"


def secured_mosquitto_config(spec: AccessSpec, broker_dir: str) -> str:
    """``mosquitto.conf`` for ``spec``, naming its files under ``broker_dir``: the terminals'
    listener and the components' one, each with its own logins and ACL; logs to stderr at the
    information level (its "running" line says when it is ready)."""
    lines = ["# Written by tpesim broker config: no anonymous clients, one login per identity."]
    if spec.run_as:
        lines.append(f"user {spec.run_as}")
    lines.append("per_listener_settings true")
    for port, files, own_ids in (
        (spec.port, ("passwords", "acl"), True),
        (spec.components_port, ("components.passwords", "components.acl"), False),
    ):
        lines += [
            f"listener {port} {spec.bind}",
            "allow_anonymous false",
            f"password_file {broker_dir}/{files[0]}",
            f"acl_file {broker_dir}/{files[1]}",
        ]
        if own_ids:
            lines.append("use_username_as_clientid true")
        if spec.tls:
            lines += [
                f"cafile {broker_dir}/ca.pem",
                f"certfile {broker_dir}/server.pem",
                f"keyfile {broker_dir}/server.key",
                "tls_version tlsv1.2",
            ]
        if spec.client_certs:
            lines += ["require_certificate true", "use_identity_as_username true"]
    lines += [
        "persistence false",
        "max_queued_messages 10000",
        "set_tcp_nodelay true",
        "log_dest stderr",
        "log_type error\nlog_type warning\nlog_type notice\nlog_type information",
    ]
    return "\n".join(lines) + "\n"


def _write_private(path: Path, text: str) -> None:
    """Write ``text`` to ``path``, readable by its owner only."""
    path.unlink(missing_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as out:
        out.write(text)


def write_broker_access(
    directory: Path,
    spec: AccessSpec,
    *,
    now: datetime,
    new_password: Callable[[], str] = lambda: secrets.token_urlsafe(18),
    new_salt: Callable[[], bytes] = lambda: secrets.token_bytes(_SALT_BYTES),
) -> Path:
    """Write the broker's configuration and tpesim's access file into ``directory`` (made if
    absent); the access file's path. ``now`` dates the certificates."""
    directory.mkdir(parents=True, exist_ok=True)
    logins = {identity: new_password() for identity in _unique(spec.identities)}
    for name, members in (("passwords", set(logins) - set(COMPONENT_LOGINS)),
                          ("components.passwords", set(COMPONENT_LOGINS))):  # fmt: skip
        (directory / name).write_text(
            "".join(
                mosquitto_password_line(who, password, new_salt()) + "\n"
                for who, password in logins.items()
                if who in members
            ),
            encoding="utf-8",
        )
    (directory / "acl").write_text(acl_text(), encoding="utf-8")
    (directory / "components.acl").write_text(component_acl_text(), encoding="utf-8")
    broker_dir = spec.broker_dir or str(directory.resolve())
    (directory / CONFIG_FILE).write_text(secured_mosquitto_config(spec, broker_dir), "utf-8")
    access: dict[str, object] = {
        "broker": spec.url,
        "component_port": spec.components_port,
        "logins": logins,
    }
    if spec.tls:
        authority = Authority.create(now)
        authority.write(directory)
        hosts = tuple(_unique((spec.host, "localhost", "127.0.0.1")))
        key, certificate = authority.issue("tpesim broker", now, hosts=hosts)
        write_key_pair(directory / "server", key, certificate)
        if spec.client_certs:
            access["certificates"] = _issue_client_certificates(directory, authority, logins, now)
    access_path = directory / ACCESS_FILE
    _write_private(access_path, json.dumps(access, indent=1) + "\n")
    return access_path


def _issue_client_certificates(
    directory: Path, authority: Authority, identities: Iterable[str], now: datetime
) -> dict[str, str]:
    """A key and certificate for each identity under ``clients/``; identity → their path
    without the extension, relative to ``directory``."""
    (directory / CLIENTS_DIR).mkdir(exist_ok=True)
    stems = {}
    for identity in identities:
        stem = f"{CLIENTS_DIR}/{identity}"
        write_key_pair(directory / stem, *authority.issue(identity, now))
        stems[identity] = stem
    return stems


def _unique(items: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(items))
