"""The request MAC (wire.sealing) against independent oracles: psec's ANSI X9.19
retail MAC for TDES DUKPT and `cryptography`'s AES-CMAC for AES DUKPT.

Terminals and the switch share ``mac_of``, ``mac_input`` and ``seal``, so a bug in them is the
same on both sides and a round trip cannot see it; these tests compute the MAC the way
docs/protocol.md describes it, with code that is not tpesim's.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TypeVar

import pytest
from cryptography.hazmat.primitives import cmac
from cryptography.hazmat.primitives.ciphers import algorithms
from cryptography.utils import CryptographyDeprecationWarning

from cards import default_card_set
from switch.security import SecurityModule, load_keys
from terminal import CardPresentation, RequestBuilder
from wire import default_registry
from wire.protocol import decode_request, encode
from wire.protocol.codec import Encoding
from wire.protocol.messages import IsoMessage
from wire.sealing import (
    MAC_PLACEHOLDER,
    DukptFlavour,
    TransactionKeys,
    mac_input,
    mac_of,
    seal,
)

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from psec import mac as psec_mac

T = TypeVar("T")

TDES_MAC_KEY = bytes.fromhex("0123456789ABCDEFFEDCBA9876543210")
AES_MAC_KEY = bytes.fromhex("000102030405060708090A0B0C0D0E0F")
KSN_TDES = bytes.fromhex("FFFF9876544B15C00001")
KSN_AES = bytes.fromhex("123456782A58AE0900000001")
NOW = datetime(2026, 11, 23, 13, 0, tzinfo=UTC)
CARDS = default_card_set()
ZEROS = b'"64":"0000000000000000"'
"""DE64 while the MAC is computed, as docs/protocol.md spells it: 16 zero digits."""


def _oracle(call: Callable[[], T]) -> T:
    """Run an oracle call with its TDES deprecation warnings silenced."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CryptographyDeprecationWarning)
        warnings.simplefilter("ignore", DeprecationWarning)
        return call()


def _retail_mac(key: bytes, data: bytes) -> str:
    """psec's X9.19 retail MAC, padding method 1, K1 ‖ K2 given as two single-DES keys."""
    mac = _oracle(lambda: psec_mac.generate_retail_mac(key[:8] * 2, key[8:] * 2, data, 1))
    return mac.hex().upper()


def _aes_cmac(key: bytes, data: bytes) -> str:
    """`cryptography`'s AES-CMAC, first 8 bytes."""
    signer = cmac.CMAC(algorithms.AES(key))
    signer.update(data)
    return signer.finalize()[:8].hex().upper()


def _keys(flavour: DukptFlavour) -> TransactionKeys:
    if flavour == "aes":
        return TransactionKeys("aes", KSN_AES, bytes(16), AES_MAC_KEY)
    return TransactionKeys("tdes", KSN_TDES, bytes(16), TDES_MAC_KEY)


def _oracle_mac(flavour: DukptFlavour, data: bytes) -> str:
    if flavour == "aes":
        return _aes_cmac(AES_MAC_KEY, data)
    return _retail_mac(TDES_MAC_KEY, data)


def _sale(ksn: bytes) -> IsoMessage:
    profile = default_registry().get("DZAL0001")
    assert profile is not None
    card = CardPresentation.from_card(CARDS.card("EDH-VALID"), CARDS)
    return RequestBuilder(profile).purchase(card, 5_000, NOW, ksn=ksn.hex().upper(),
                                            entry_mode="012")  # fmt: skip


def test_placeholder_is_sixteen_zero_digits() -> None:
    """DE64 during MAC computation is exactly 16 zero digits, as the protocol documents."""
    assert MAC_PLACEHOLDER == "0000000000000000"


def test_mac_input_zeroes_only_the_value_of_de64() -> None:
    """The JSON MAC input is the payload with DE64's value (any length) set to 16 zeros."""
    payload = b'{"mti":"0800","11":"000001","64":"ABCDEF0123456789","70":"001"}'
    assert mac_input(payload) == b'{"mti":"0800","11":"000001",' + ZEROS + b',"70":"001"}'
    assert mac_input(b'{"64" : "AB"}') == b'{"64" : "0000000000000000"}'
    assert mac_input(b'{"11":"000001"}') == b'{"11":"000001"}'


def test_mac_input_leaves_a_second_de64_member_covered() -> None:
    """Only the first "64" member is zeroed: a second one stays in the bytes the MAC covers,
    so altering it breaks the MAC."""
    payload = b'{"64":"1111111111111111","x":{"64":"2222"}}'
    assert mac_input(payload) == b"{" + ZEROS + b',"x":{"64":"2222"}}'
    altered = payload.replace(b'"2222"', b'"3333"')
    assert mac_of("tdes", TDES_MAC_KEY, payload) != mac_of("tdes", TDES_MAC_KEY, altered)


def test_mac_input_in_binary_is_every_byte_before_the_mac() -> None:
    """ISO 8583 binary: the MAC input is the message without its last 8 bytes."""
    payload = bytes(range(40))
    assert mac_input(payload, Encoding.ISO8583) == bytes(range(32))


@pytest.mark.parametrize("flavour", ["aes", "tdes"])
def test_json_mac_matches_the_independent_oracle(flavour: DukptFlavour) -> None:
    """mac_of over a JSON payload = the oracle's MAC over it with DE64 = 16 zeros."""
    payload = b'{"mti":"0800","7":"1123140322","11":"000001","41":"DZAL0001",' + ZEROS + b"}"
    sent = payload.replace(ZEROS, b'"64":"FFFFFFFFFFFFFFFF"')
    expected = _oracle_mac(flavour, payload)
    assert mac_of(flavour, _keys(flavour).mac_key, payload) == expected
    assert mac_of(flavour, _keys(flavour).mac_key, sent) == expected
    assert _keys(flavour).mac(sent) == expected


def test_tdes_retail_mac_known_answer() -> None:
    """A fixed TDES request MAC, pinned (computed once with psec, padding method 1)."""
    payload = b'{"mti":"0800","64":"0000000000000000"}'
    assert mac_of("tdes", TDES_MAC_KEY, payload) == "D0FA4A568D2FE4AB"
    assert _retail_mac(TDES_MAC_KEY, payload) == "D0FA4A568D2FE4AB"


def test_the_two_flavours_use_different_algorithms() -> None:
    """AES DUKPT MACs with AES-CMAC, TDES DUKPT with the retail MAC: never the other one."""
    payload = b'{"mti":"0800",' + ZEROS + b"}"
    assert mac_of("aes", TDES_MAC_KEY, payload) == _aes_cmac(TDES_MAC_KEY, payload)
    assert mac_of("tdes", TDES_MAC_KEY, payload) == _retail_mac(TDES_MAC_KEY, payload)
    assert _aes_cmac(TDES_MAC_KEY, payload) != _retail_mac(TDES_MAC_KEY, payload)


@pytest.mark.parametrize("flavour", ["aes", "tdes"])
def test_binary_mac_matches_the_independent_oracle(flavour: DukptFlavour) -> None:
    """mac_of over ISO 8583 binary = the oracle's MAC over every byte but the last 8."""
    payload = encode(_sale(_keys(flavour).ksn).model_copy(update={"mac": MAC_PLACEHOLDER}),
                     Encoding.ISO8583)  # fmt: skip
    mac = mac_of(flavour, _keys(flavour).mac_key, payload, Encoding.ISO8583)
    assert mac == _oracle_mac(flavour, payload[:-8])
    assert mac != _oracle_mac(flavour, payload)


@pytest.mark.parametrize("flavour", ["aes", "tdes"])
def test_sealed_json_carries_the_oracles_mac(flavour: DukptFlavour) -> None:
    """seal in JSON: the message's own JSON with DE64 = the oracle's MAC over the placeholder."""
    keys = _keys(flavour)
    message = _sale(keys.ksn)
    sealed = seal(message, keys)
    mac = json.loads(sealed)["64"]
    assert mac == _oracle_mac(flavour, sealed.replace(f'"64":"{mac}"'.encode(), ZEROS))
    assert sealed == encode(message.model_copy(update={"mac": mac}))


@pytest.mark.parametrize("flavour", ["aes", "tdes"])
def test_sealed_binary_ends_with_the_oracles_mac(flavour: DukptFlavour) -> None:
    """seal in binary: the message in ISO 8583 whose last 8 bytes are the oracle's MAC of the
    bytes before them; it decodes with that MAC in DE64."""
    keys = _keys(flavour)
    message = _sale(keys.ksn)
    sealed = seal(message, keys, Encoding.ISO8583)
    assert sealed[-8:].hex().upper() == _oracle_mac(flavour, sealed[:-8])
    placeholder = encode(message.model_copy(update={"mac": MAC_PLACEHOLDER}), Encoding.ISO8583)
    assert sealed[:-8] == placeholder[:-8] and len(sealed) == len(placeholder)
    assert decode_request(sealed, Encoding.ISO8583).mac == sealed[-8:].hex().upper()


@pytest.mark.parametrize("encoding", [Encoding.JSON, Encoding.ISO8583], ids=["json", "binary"])
def test_seal_without_keys_is_the_plain_encoding(encoding: Encoding) -> None:
    """Without keys, seal is the message's encoding as is: no DE64."""
    message = _sale(KSN_AES)
    assert seal(message, None, encoding) == encode(message, encoding)
    assert decode_request(seal(message, None, encoding), encoding).mac is None


@pytest.mark.parametrize("flavour", ["aes", "tdes"])
def test_the_host_verifies_what_a_terminal_sealed(flavour: DukptFlavour) -> None:
    """The HSM's own transaction keys seal a request that it then verifies, in both encodings."""
    hsm = SecurityModule(load_keys())
    ksn = KSN_AES if flavour == "aes" else KSN_TDES
    keys = hsm.transaction(ksn)
    for encoding in (Encoding.JSON, Encoding.ISO8583):
        sealed = seal(_sale(ksn), keys, encoding)
        mac = decode_request(sealed, encoding).mac
        assert mac is not None
        assert hsm.verify_mac(ksn=ksn, payload=sealed, mac=mac.lower(), encoding=encoding)
