"""Issue 21: a terminal's requests are accepted only under the DUKPT key issued to it, and a chip
read must carry the chip's cryptogram. Each case fails on 8711cbc, where a MAC or PIN block
under another terminal's key, or a chip read without DE55, was approved."""

from __future__ import annotations

import json

import pytest

from cards import default_card_set
from cards.holders import holder_pin
from switch import Processor
from switch.security import SecurityModule, load_keys
from terminal import CardPresentation, RequestBuilder
from terminal.pinpad import PinPad
from tests.chips import chip_data, chip_purchase
from wire import default_registry
from wire.protocol import encode, topics
from wire.sealing import DukptFlavour, seal

CARDS = default_card_set()
REGISTRY = default_registry()
SECURITY = SecurityModule(load_keys())
TID, OTHER = "DZAL0001", "DZAL0002"
ACCOUNT = CARDS.card("EDH-VALID").account


def _builder(tid: str = TID) -> RequestBuilder:
    profile = REGISTRY.get(tid)
    assert profile is not None
    return RequestBuilder(profile)


def _card(card_id: str = "EDH-VALID") -> CardPresentation:
    return CardPresentation.from_card(CARDS.card(card_id), CARDS)


async def _answer(processor: Processor, payload: bytes, tid: str = TID) -> dict[str, str]:
    reply = await processor.process(topics.request(tid), payload)
    assert reply is not None
    answer: dict[str, str] = json.loads(reply.payload)
    return answer


async def _signed_on(processor: Processor, *tids: str) -> None:
    for tid in tids:
        sign_on = _builder(tid).sign_on(processor.clock.now())
        assert (await _answer(processor, encode(sign_on), tid))["39"] == "00"


def test_each_terminal_owns_exactly_the_keys_issued_to_it() -> None:
    """Every KSN of a terminal's own key is its own, whatever the counter; another terminal's,
    or a key id never issued, is not; nor a KSN of another length."""
    for flavour in ("aes", "tdes"):
        pad = PinPad(SECURITY.inject_terminal_key(TID, flavour))
        ksns = [bytes.fromhex(pad.next_transaction().ksn_hex) for _ in range(3)]
        assert all(SECURITY.issued_to(TID, ksn) for ksn in ksns)
        assert not any(SECURITY.issued_to(OTHER, ksn) for ksn in ksns)
        forged = bytearray(ksns[0])
        forged[5] ^= 0x01  # inside the derivation / device id
        assert not SECURITY.issued_to(TID, bytes(forged))
    assert not SECURITY.issued_to(TID, bytes(11))


@pytest.mark.parametrize("flavour", ["aes", "tdes"])
async def test_a_request_sealed_under_another_terminals_key_is_refused(
    processor: Processor, flavour: DukptFlavour
) -> None:
    """DZAL0002's requests sealed (validly) under DZAL0001's key get 63, count as an attack and
    move no money; under its own key the same sale is approved."""
    await _signed_on(processor, OTHER)
    build = _builder(OTHER)
    stolen = PinPad(SECURITY.inject_terminal_key(TID, flavour))
    keys = stolen.next_transaction()
    request = chip_purchase(build, _card(), 5_000, processor.clock.now(), ksn=keys.ksn_hex)
    answer = await _answer(processor, seal(request, keys), OTHER)
    assert (answer["39"], answer["44"]) == ("63", "key not issued to TID")
    assert processor.stats.attacks == {"key": 1}
    assert await processor.ledger.available(ACCOUNT) == 15_000_000
    own = PinPad(SECURITY.inject_terminal_key(OTHER, flavour)).next_transaction()
    request = chip_purchase(build, _card(), 5_000, processor.clock.now(), ksn=own.ksn_hex)
    assert (await _answer(processor, seal(request, own), OTHER))["39"] == "00"


async def test_a_pin_block_under_another_terminals_key_is_refused(processor: Processor) -> None:
    """An unsigned request whose PIN block is under another terminal's key (right PIN) gets 63,
    not a PIN verdict: the key is checked before the PIN is."""
    await _signed_on(processor, OTHER)
    keys = PinPad(SECURITY.inject_terminal_key(TID)).next_transaction()
    card = _card()
    block = keys.encrypt_pin(holder_pin("EDH-VALID"), card.pan)
    request = chip_purchase(_builder(OTHER), card, 5_000, processor.clock.now(),
                            pin_block=block, ksn=keys.ksn_hex)  # fmt: skip
    answer = await _answer(processor, encode(request), OTHER)
    assert (answer["39"], answer["44"]) == ("63", "key not issued to TID")
    assert await processor.ledger.available(ACCOUNT) == 15_000_000


@pytest.mark.parametrize("entry_mode", ["051", "071"])
async def test_a_chip_read_without_chip_data_is_refused(
    processor: Processor, entry_mode: str
) -> None:
    """DE22 05x or 07x without DE55 → 30 'DE55 missing (chip read)', nothing held; the same
    sale with the chip's cryptogram is approved."""
    await _signed_on(processor, TID)
    build, now = _builder(), processor.clock.now()
    bare = build.purchase(_card(), 5_000, now, entry_mode=entry_mode)
    answer = await _answer(processor, encode(bare))
    assert (answer["39"], answer["44"]) == ("30", "DE55 missing (chip read)")
    assert await processor.ledger.available(ACCOUNT) == 15_000_000
    icc = chip_data(build, _card(), 5_000, now)
    read = build.purchase(_card(), 5_000, now, entry_mode=entry_mode, icc_data=icc)
    assert (await _answer(processor, encode(read)))["39"] == "00"
