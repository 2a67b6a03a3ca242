"""Where a broker is and how to log in to it: address, TLS, and the logins of an access file.

A broker is named by a URL: ``mqtt://host:port`` (port 1883 by default), or
``mqtts://host:port?ca=FILE`` for TLS (port 8883 by default; ``ca`` is the PEM file of the CA
that signed the broker's certificate, the system's trust store when left out; ``cert`` and
``key`` add a client certificate). ``user:password@`` before the host logs in.

An *access file* (JSON, written by ``tpesim broker config``) names the broker and holds one
login per identity: ``switch``, ``operator`` and every terminal's TID, and, when the broker
requires client certificates, each identity's certificate and key. A URL read from it carries
those logins; each component picks its own with :meth:`BrokerUrl.login_as`, so one
``--broker access.json`` serves the switch, the fleet and the dashboard alike.
"""

from __future__ import annotations

import json
import ssl
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from functools import lru_cache
from pathlib import Path
from types import MappingProxyType
from urllib.parse import parse_qs, quote, unquote, urlencode, urlsplit

__all__ = [
    "COMPONENT_LOGINS",
    "OPERATOR_LOGIN",
    "SWITCH_LOGIN",
    "BrokerUrl",
    "NoLoginError",
    "TlsFiles",
    "client_ssl_context",
    "load_access_file",
]

SWITCH_LOGIN = "switch"
"""The switch's identity: reads every terminal's requests, answers every terminal."""
OPERATOR_LOGIN = "operator"
"""The simulation's operator (dashboard, fleet controls, scenario watch): reads statuses and
traces, sends fault commands; never reads requests or responses."""
COMPONENT_LOGINS = (SWITCH_LOGIN, OPERATOR_LOGIN)
"""Identities that log in on a broker's components' listener (an access file's
``component_port``), where several connections may share a login."""

_DEFAULT_PORTS = {"mqtt": 1883, "tcp": 1883, "mqtts": 8883, "ssl": 8883}


class NoLoginError(LookupError):
    """The access file has no login for this identity."""


@dataclass(frozen=True, slots=True)
class TlsFiles:
    """PEM files for a TLS connection: the CA to trust, and an optional client certificate."""

    ca: str | None = None
    cert: str | None = None
    key: str | None = None


@lru_cache(maxsize=64)
def client_ssl_context(tls: TlsFiles) -> ssl.SSLContext:
    """A client context that checks the broker's certificate and host name against ``tls.ca``
    (kept: ten thousand terminals share one)."""
    context = ssl.create_default_context(cafile=tls.ca)
    if tls.cert:
        context.load_cert_chain(tls.cert, tls.key)
    return context


@dataclass(frozen=True, slots=True)
class BrokerUrl:
    """A broker's address, with TLS files and a login when it asks for them."""

    host: str
    port: int
    tls: TlsFiles | None = None
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    logins: Mapping[str, str] | None = field(default=None, repr=False, compare=False)
    """Passwords by identity, from an access file; see :meth:`login_as`."""
    certificates: Mapping[str, tuple[str, str]] | None = field(
        default=None, repr=False, compare=False
    )
    """Client certificate and key files by identity, from an access file, when the broker
    requires them."""
    access_file: str | None = field(default=None, compare=False)
    """The access file this came from, if any (what a child process is given)."""
    component_port: int | None = field(default=None, compare=False)
    """Where the switch and the operator log in, when an access file names a components'
    listener apart from the terminals' (:meth:`login_as` picks it)."""

    @classmethod
    def parse(cls, url: str) -> BrokerUrl:
        """``mqtt://[user[:password]@]host[:port]`` or ``mqtts://…[?ca=FILE&cert=F&key=F]``;
        ValueError naming what is wrong."""
        parts = urlsplit(url if "://" in url else f"mqtt://{url}")
        if parts.scheme not in _DEFAULT_PORTS:
            raise ValueError(
                f"broker URL {url!r}: use mqtt://host:port, or mqtts://host:port for TLS"
            )
        if not parts.hostname:
            raise ValueError(f"broker URL {url!r} has no host")
        if parts.path not in ("", "/"):
            raise ValueError(f"broker URL {url!r}: a broker URL has no path (mqtt://host:port)")
        try:
            port = parts.port or _DEFAULT_PORTS[parts.scheme]
        except ValueError:
            raise ValueError(f"broker URL {url!r} has an invalid port") from None
        query = {name: values[-1] for name, values in parse_qs(parts.query).items()}
        unknown = set(query) - {"ca", "cert", "key"}
        if unknown:
            raise ValueError(f"broker URL {url!r}: unknown option {sorted(unknown)[0]!r}")
        tls = None
        if parts.scheme in {"mqtts", "ssl"}:
            tls = TlsFiles(query.get("ca"), query.get("cert"), query.get("key"))
        elif query:
            raise ValueError(f"broker URL {url!r}: ca, cert and key need mqtts://")
        username = unquote(parts.username) if parts.username else None
        password = unquote(parts.password) if parts.password is not None else None
        return cls(parts.hostname, port, tls, username, password)

    @property
    def endpoint(self) -> tuple[str, int, bool]:
        """Host, port and whether TLS: what a probe of the broker's protocol is keyed by."""
        return self.host, self.port, self.tls is not None

    def ssl_context(self) -> ssl.SSLContext | None:
        """The TLS client context, or None for plain TCP."""
        return client_ssl_context(self.tls) if self.tls is not None else None

    def login_as(self, identity: str) -> BrokerUrl:
        """This broker with ``identity``'s login from the access file (itself when it came
        from no access file); :class:`NoLoginError` when the file has none for ``identity``."""
        if self.logins is None:
            return self
        password = self.logins.get(identity)
        certificate = self.certificates.get(identity) if self.certificates is not None else None
        tls = self.tls
        if certificate is not None and tls is not None:
            tls = replace(tls, cert=certificate[0], key=certificate[1])
        elif self.certificates is not None:
            password = None  # the broker takes the identity from a certificate it lacks
        if password is None:
            raise NoLoginError(
                f"{self}: the access file has no login for {identity!r}; "
                "write it again with tpesim broker config"
            )
        port = self.port
        if identity in COMPONENT_LOGINS and self.component_port is not None:
            port = self.component_port
        return replace(self, port=port, tls=tls, username=identity, password=password,
                       logins=None, certificates=None, access_file=None,
                       component_port=None)  # fmt: skip

    def as_argument(self) -> str:
        """What gives this broker back to ``--broker`` (in a child process): the access file
        it came from, else the URL with its login and TLS files."""
        if self.access_file is not None:
            return self.access_file
        user = ""
        if self.username:
            user = quote(self.username, safe="")
            user += f":{quote(self.password, safe='')}@" if self.password is not None else "@"
        tls = self.tls or TlsFiles()
        options = {"ca": tls.ca, "cert": tls.cert, "key": tls.key}
        options = {name: value for name, value in options.items() if value}
        query = f"?{urlencode(options)}" if options else ""
        scheme = "mqtts" if self.tls is not None else "mqtt"
        return f"{scheme}://{user}{self.host}:{self.port}{query}"

    def __str__(self) -> str:
        scheme = "mqtts" if self.tls is not None else "mqtt"
        user = f"{self.username}@" if self.username else ""
        return f"{scheme}://{user}{self.host}:{self.port}"


def load_access_file(path: Path) -> BrokerUrl:
    """The broker named in an access file, carrying its logins; ValueError naming the file
    and what is wrong. Relative file names in its URL are relative to the file."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        url = BrokerUrl.parse(data["broker"])
        logins = data["logins"]
        stems = data.get("certificates")
        component_port = data.get("component_port")
        if component_port is not None and (
            not isinstance(component_port, int) or not 0 < component_port < 65536
        ):
            raise ValueError("component_port must be a TCP port")
        for name, mapping in (("logins", logins), ("certificates", stems or {})):
            if not isinstance(mapping, dict) or not all(
                isinstance(k, str) and isinstance(v, str) for k, v in mapping.items()
            ):
                raise ValueError(f"{name} must map identities to strings")
        if stems is not None and url.tls is None:
            raise ValueError("client certificates need an mqtts:// broker")
    except (OSError, json.JSONDecodeError, KeyError, TypeError, ValueError) as error:
        raise ValueError(f"access file {path}: {error}") from None
    here = path.resolve().parent
    tls = url.tls
    if tls is not None:
        files = (tls.ca, tls.cert, tls.key)
        tls = TlsFiles(*(str(here / name) if name else None for name in files))
    certificates = None
    if stems is not None:
        certificates = MappingProxyType(
            {
                who: (str(here / f"{stem}.pem"), str(here / f"{stem}.key"))
                for who, stem in stems.items()
            }
        )
    return replace(url, tls=tls, logins=MappingProxyType(dict(logins)),
                   certificates=certificates, access_file=str(path.resolve()),
                   component_port=component_port)  # fmt: skip
