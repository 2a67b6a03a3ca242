"""Broker URLs with TLS and logins, access files, CONNECT with a login, and what ``tpesim broker
config`` writes: password hashes as mosquitto_passwd makes them, the ACL, certificates."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest
from cryptography import x509

from tpesim.broker.access import (
    AccessSpec,
    acl_text,
    component_acl_text,
    mosquitto_password_line,
    secured_mosquitto_config,
    write_broker_access,
)
from tpesim.cli.support import broker_url
from tpesim.demo_extras import has_login
from wire.transport import packets
from wire.transport.url import (
    OPERATOR_LOGIN,
    SWITCH_LOGIN,
    BrokerUrl,
    NoLoginError,
    TlsFiles,
    load_access_file,
)

NOW = datetime(2026, 11, 23, 12, tzinfo=UTC)


def test_password_lines_are_what_mosquitto_passwd_writes() -> None:
    # `mosquitto_passwd -c -b pw alice secret` (Mosquitto 2.0.11) wrote this line.
    line = mosquitto_password_line("alice", "secret", bytes.fromhex("58ce873ca82721b039df0ae4"))
    assert line == (
        "alice:$7$101$WM6HPKgnIbA53wrk$sPzJH9H0ovPfiLBH1hD3SdGRb2Wc9Hpty6OXu8rEL8P8usK+Qvw7gTlk"
        "pBINbRNOf0yvz/vqM/4yDmEnfwzitg=="
    )
    with pytest.raises(ValueError, match="':'"):
        mosquitto_password_line("a:b", "secret", b"salt")


def test_urls_name_tls_files_and_logins_and_never_show_the_password() -> None:
    url = BrokerUrl.parse("mqtts://T%C3%A9st:p%40ss@broker.example?ca=ca.pem")
    assert (url.host, url.port, url.tls) == ("broker.example", 8883, TlsFiles("ca.pem"))
    assert (url.username, url.password) == ("Tést", "p@ss")
    assert "p@ss" not in str(url) and "p@ss" not in repr(url)
    assert str(url) == "mqtts://Tést@broker.example:8883"
    assert BrokerUrl.parse(url.as_argument()) == url
    plain = BrokerUrl.parse("localhost")
    assert (plain.port, plain.tls, plain.as_argument()) == (1883, None, "mqtt://localhost:1883")
    for bad, why in [
        ("mqtt://h?ca=x", "need mqtts"),
        ("mqtts://h?cafile=x", "unknown option 'cafile'"),
        ("http://h", "mqtts://host:port for TLS"),
        ("mqtt://h:99999", "invalid port"),
    ]:
        with pytest.raises(ValueError, match=why):
            BrokerUrl.parse(bad)


def test_an_access_file_gives_each_identity_its_own_login(tmp_path: Path) -> None:
    access = tmp_path / "access.json"
    logins = {SWITCH_LOGIN: "s3", "DZAL0001": "t1"}
    access.write_text(json.dumps({"broker": "mqtts://h:8884?ca=ca.pem", "logins": logins}))
    url = broker_url(str(access))
    assert url.tls == TlsFiles(str(tmp_path.resolve() / "ca.pem"))
    terminal = url.login_as("DZAL0001")
    assert (terminal.username, terminal.password, terminal.logins) == ("DZAL0001", "t1", None)
    assert terminal.login_as("anyone") is terminal  # a plain login has no others to give
    assert url.as_argument() == str(access.resolve())  # what a child process is given
    with pytest.raises(NoLoginError, match="no login for 'DZAL0002'"):
        url.login_as("DZAL0002")
    assert BrokerUrl.parse("mqtt://h").login_as(SWITCH_LOGIN).username is None
    access.write_text(json.dumps({"broker": "mqtt://h", "logins": {"x": 1}}))
    with pytest.raises(ValueError, match=r"access\.json: logins must map"):
        load_access_file(access)


def test_connect_carries_the_login_after_the_will() -> None:
    will = ("w", b"x", 1, True)
    data = packets.connect(
        "c", version=4, keepalive_s=30, clean=True, will=will, username="DZAL0001", password="pw"
    )
    flags = data[2 + 7]  # fixed header (2), protocol name (6) and level (1), then the flags
    assert flags == 0x80 | 0x40 | 0x20 | 0x08 | 0x04 | 0x02
    assert data.endswith(b"\x00\x01w\x00\x01x\x00\x08DZAL0001\x00\x02pw")
    bare = packets.connect("c", version=5, keepalive_s=30, clean=True)
    assert bare[2 + 7] == 0x02


def test_the_acl_keeps_each_terminal_to_its_own_topics() -> None:
    lines = [line for line in acl_text().splitlines() if line and not line.startswith("#")]
    patterns = {line for line in lines if line.startswith("pattern")}
    assert patterns == {
        "pattern write tpe/%u/req",
        "pattern read tpe/%u/resp",
        "pattern write tpe/%u/req/iso8583",
        "pattern read tpe/%u/resp/iso8583",
        "pattern read tpe/%u/qr",
        "pattern write wallet/%u/pay",
        "pattern read wallet/%u/result",
        "pattern write tpe/%u/status",
        "pattern write sim/trace/%u",
        "pattern read sim/control/tpe/%u",
    }
    assert not any(line.startswith(("user", "topic")) for line in lines)  # terminals only
    components = [
        line for line in component_acl_text().splitlines() if line and not line.startswith("#")
    ]
    assert not any(line.startswith("pattern") for line in components)
    operator = components[components.index(f"user {OPERATOR_LOGIN}") + 1 :]
    assert not any("req" in line or "resp" in line for line in operator)
    assert "topic read tpe/+/req" in components[components.index(f"user {SWITCH_LOGIN}") :]


def test_the_config_is_tls_only_with_no_anonymous_clients() -> None:
    spec = AccessSpec(("DZAL0001",), port=8884, run_as="me")
    config = secured_mosquitto_config(spec, "/etc/tpesim").splitlines()
    assert "user me" in config and "per_listener_settings true" in config
    terminals, components = (
        config[config.index(f"listener {port} 127.0.0.1") :] for port in (8884, 8885)
    )
    terminals = terminals[: terminals.index("listener 8885 127.0.0.1")]
    for listener, files in ((terminals, "passwords"), (components, "components.passwords")):
        assert "allow_anonymous false" in listener
        assert f"password_file /etc/tpesim/{files}" in listener
        assert "certfile /etc/tpesim/server.pem" in listener
    # Terminals' client ids are their logins: none can take another client's id or session.
    assert "use_username_as_clientid true" in terminals
    assert "use_username_as_clientid true" not in components
    plain = secured_mosquitto_config(AccessSpec(("DZAL0001",), port=1883, tls=False), "/d")
    assert "certfile" not in plain and "password_file /d/passwords" in plain


def test_written_access_holds_every_login_and_a_server_certificate(tmp_path: Path) -> None:
    spec = AccessSpec(("DZAL0001", "DZAL0002"), host="mosquitto")
    access = write_broker_access(tmp_path, spec, now=NOW, new_password=iter("abcd").__next__)
    url = load_access_file(access)
    assert dict(url.logins or {}) == {
        SWITCH_LOGIN: "a", OPERATOR_LOGIN: "b", "DZAL0001": "c", "DZAL0002": "d",
    }  # fmt: skip
    assert (url.host, url.port, url.tls and Path(url.tls.ca or "").name) == (
        "mosquitto", 8883, "ca.pem",
    )  # fmt: skip
    assert (url.login_as(SWITCH_LOGIN).port, url.login_as(OPERATOR_LOGIN).port) == (8884, 8884)
    assert url.login_as("DZAL0001").port == 8883
    for secret in (access, tmp_path / "server.key", tmp_path / "ca.key"):
        assert secret.stat().st_mode & 0o077 == 0, secret
    for name, expected in (("passwords", ["DZAL0001", "DZAL0002"]),
                           ("components.passwords", [SWITCH_LOGIN, OPERATOR_LOGIN])):  # fmt: skip
        users = [line.split(":")[0] for line in (tmp_path / name).read_text().splitlines()]
        assert users == expected
    server = x509.load_pem_x509_certificate((tmp_path / "server.pem").read_bytes())
    ca = x509.load_pem_x509_certificate((tmp_path / "ca.pem").read_bytes())
    server.verify_directly_issued_by(ca)
    names = server.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert names.get_values_for_type(x509.DNSName) == ["mosquitto", "localhost"]
    assert server.not_valid_before_utc < NOW < server.not_valid_after_utc


def test_client_certificates_name_each_identity_and_reach_its_login(tmp_path: Path) -> None:
    """With client certificates, every identity gets one (common name = the identity, signed
    by the CA, key owner-only), the broker requires them and takes the identity from them, and
    each identity's login carries its own certificate."""
    spec = AccessSpec(("DZAL0001",), client_certs=True)
    access = write_broker_access(tmp_path, spec, now=NOW)
    config = (tmp_path / "mosquitto.conf").read_text().splitlines()
    assert {"require_certificate true", "use_identity_as_username true"} <= set(config)
    ca = x509.load_pem_x509_certificate((tmp_path / "ca.pem").read_bytes())
    url = load_access_file(access)
    clients = tmp_path.resolve() / "clients"
    for identity in spec.identities:
        tls = url.login_as(identity).tls
        cert, key = clients / f"{identity}.pem", clients / f"{identity}.key"
        assert tls == TlsFiles(str(tmp_path.resolve() / "ca.pem"), str(cert), str(key))
        certificate = x509.load_pem_x509_certificate(cert.read_bytes())
        certificate.verify_directly_issued_by(ca)
        names = certificate.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)
        assert [n.value for n in names] == [identity]
        assert key.stat().st_mode & 0o077 == 0
    assert url.login_as(SWITCH_LOGIN).tls != url.login_as("DZAL0001").tls
    with pytest.raises(ValueError, match="client certificates need TLS"):
        AccessSpec(("DZAL0001",), tls=False, client_certs=True)
    data = json.loads(access.read_text())
    del data["certificates"][OPERATOR_LOGIN]
    access.write_text(json.dumps(data))
    with pytest.raises(NoLoginError, match="no login for 'operator'"):
        load_access_file(access).login_as(OPERATOR_LOGIN)


def test_wallets_get_a_login_each_and_bad_ids_are_refused(tmp_path: Path) -> None:
    spec = AccessSpec(("DZAL0001",), wallets=("amina", "nadia-2"))
    assert spec.identities[-2:] == ("amina", "nadia-2")
    url = load_access_file(write_broker_access(tmp_path, spec, now=NOW))
    assert url.login_as("amina").username == "amina"
    for bad in ("a/b", "", "DZAL0001", SWITCH_LOGIN, "x" * 33):
        with pytest.raises(ValueError, match="wallet id"):
            AccessSpec(("DZAL0001",), wallets=(bad,))


def test_the_demo_skips_the_web_shop_without_its_login(caplog: pytest.LogCaptureFixture) -> None:
    """An access file of your own made for the TPEs only: the demo leaves the payment abroad
    out, saying why, instead of failing."""
    url = replace(BrokerUrl.parse("mqtts://127.0.0.1:8883"), logins={"DZAL0001": "secret"})
    assert has_login(url, "DZAL0001")
    assert not has_login(url, "FRWB0001")
    assert "no payment abroad" in caplog.text and "FRWB0001" in caplog.text
    assert has_login(BrokerUrl.parse("mqtt://127.0.0.1:1883"), "FRWB0001")  # no access file
