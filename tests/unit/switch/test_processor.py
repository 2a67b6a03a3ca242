"""The switch's request processing on real SQLite, without a broker."""

from __future__ import annotations

import json
import logging
from datetime import UTC, date, datetime, time
from pathlib import Path

import pytest

from cards import default_card_set
from cards.crypto import tlv
from cards.holders import holder_pin
from switch import Processor
from switch.ledger import Ledger, check_ledger
from switch.security import SecurityModule, load_keys
from terminal import CardPresentation, RequestBuilder
from terminal.pinpad import PinPad
from tests.chips import chip_purchase
from tests.ledgers import sqlite_ledger
from tpesim.wallet import Wallet
from wire import ManualClock, default_registry
from wire.protocol import decode_response, encode, topics
from wire.protocol.messages import ReversalAdvice
from wire.registry import Registry
from wire.sealing import seal

CARDS = default_card_set()
REGISTRY = default_registry()
TID = "DZAL0001"
TOPIC = topics.request(TID)


def builder() -> RequestBuilder:
    profile = REGISTRY.get(TID)
    assert profile is not None
    return RequestBuilder(profile)


def card(card_id: str) -> CardPresentation:
    return CardPresentation.from_card(CARDS.card(card_id), CARDS)


async def answer(processor: Processor, payload: bytes) -> dict[str, str]:
    reply = await processor.process(TOPIC, payload)
    assert reply is not None
    decode_response(reply.payload)  # every answer is a well-formed response
    result: dict[str, str] = json.loads(reply.payload)
    return result


async def test_purchase_needs_sign_on_then_approves(processor: Processor) -> None:
    """Before sign-on a purchase gets 03; after it, 00 with RRN and approval code."""
    build = builder()
    now = processor.clock.now()
    assert (await answer(processor, encode(chip_purchase(build, card("EDH-VALID"), 1_000, now))))[
        "39"
    ] == "03"
    assert (await answer(processor, encode(build.sign_on(now))))["39"] == "00"
    reply = await answer(processor, encode(chip_purchase(build, card("EDH-VALID"), 150_000, now)))
    assert reply["39"] == "00"
    assert len(reply["37"]) == 12 and len(reply["38"]) == 6
    assert await processor.ledger.available("CCP-0001001") == 15_000_000 - 150_000


async def test_duplicate_replays_stored_response_without_second_posting(
    processor: Processor,
) -> None:
    """The same request twice gets the same bytes back and moves money once; a reused key
    with different content gets 94."""
    build = builder()
    now = processor.clock.now()
    await processor.process(TOPIC, encode(build.sign_on(now)))
    request = chip_purchase(build, card("EDH-VALID"), 150_000, now)
    first = await processor.process(TOPIC, encode(request))
    second = await processor.process(TOPIC, encode(request))
    assert first is not None and second is not None
    assert first.payload == second.payload
    assert await processor.ledger.available("CCP-0001001") == 15_000_000 - 150_000
    assert processor.stats.duplicates == 1
    changed = request.model_copy(update={"amount": 150_001})
    assert (await answer(processor, encode(changed)))["39"] == "94"
    assert await processor.ledger.available("CCP-0001001") == 15_000_000 - 150_000


async def test_declines_are_stored_and_replayed_as_declines(processor: Processor) -> None:
    """A decline replayed stays a decline (51 for an empty account)."""
    build = builder()
    now = processor.clock.now()
    await processor.process(TOPIC, encode(build.sign_on(now)))
    request = chip_purchase(build, card("EDH-NO-FUNDS"), 150_000, now)
    assert (await answer(processor, encode(request)))["39"] == "51"
    assert (await answer(processor, encode(request)))["39"] == "51"
    assert check_ledger(sqlite_ledger(processor.ledger).path).postings == 0


async def test_reversal_undoes_and_is_idempotent(processor: Processor) -> None:
    """An 0400 voids the purchase once; repeating it changes nothing."""
    build = builder()
    now = processor.clock.now()
    await processor.process(TOPIC, encode(build.sign_on(now)))
    purchase = chip_purchase(build, card("EDH-VALID"), 80_000, now)
    await processor.process(TOPIC, encode(purchase))
    reversal = build.reversal(purchase, now)
    for _ in range(2):
        assert (await answer(processor, encode(reversal)))["39"] == "00"
    assert await processor.ledger.available("CCP-0001001") == 15_000_000
    report = check_ledger(sqlite_ledger(processor.ledger).path)
    assert report.ok and report.reversals == 1


async def test_reversal_before_its_original_blocks_the_original(processor: Processor) -> None:
    """A reversal of an unknown original is stored and acknowledged; the late original is
    then declined (12) and never posted."""
    build = builder()
    now = processor.clock.now()
    await processor.process(TOPIC, encode(build.sign_on(now)))
    purchase = chip_purchase(build, card("EDH-VALID"), 80_000, now)
    reply = await answer(processor, encode(build.reversal(purchase, now)))
    assert (reply["39"], reply["44"]) == ("00", "original unknown; stored")
    assert (await answer(processor, encode(purchase)))["39"] == "12"
    assert await processor.ledger.available("CCP-0001001") == 15_000_000


async def test_magic_no_response_posts_but_stays_silent(processor: Processor) -> None:
    """77,99 DA is posted like any approval, and the reply is marked not to be sent."""
    build = builder()
    now = processor.clock.now()
    await processor.process(TOPIC, encode(build.sign_on(now)))
    reply = await processor.process(
        TOPIC, encode(chip_purchase(build, card("EDH-VALID"), 7_799, now))
    )
    assert reply is not None and not reply.send and reply.response_code == "00"
    assert await processor.ledger.available("CCP-0001001") == 15_000_000 - 7_799


async def test_bad_input_is_answered_30_logged_masked_and_counted(
    processor: Processor, caplog: pytest.LogCaptureFixture
) -> None:
    """Malformed payloads get DE39 30 on the right MTI; unattributable topics are dropped. A
    terminal's format errors are logged at most once a second, the others counted."""
    pan = CARDS.card("EDH-VALID").pan
    with caplog.at_level(logging.WARNING, logger="switch"):
        reply = await answer(processor, f'{{"mti": "0200", "2": "{pan}", "11": "000009"'.encode())
        assert (reply["mti"], reply["39"], reply["11"]) == ("0210", "30", "000009")
        reply = await answer(processor, b'{"mti": "0400", "11": "000010"}')
        assert (reply["mti"], reply["39"]) == ("0410", "30")
        assert await processor.process("tpe/+/req", b"{}") is None
        assert await processor.process("elsewhere", b"{}") is None
        assert isinstance(processor.clock, ManualClock)
        processor.clock.advance(1.0)
        assert (await answer(processor, b"[]"))["39"] == "30"
    assert processor.stats.format_errors == 3
    assert processor.stats.unattributed == 2
    assert pan not in caplog.text
    assert "628058******7215" in caplog.text
    assert caplog.text.count("format error from DZAL0001") == 2
    assert "(1 more since the last one logged)" in caplog.text


async def test_pin_tries_block_the_card_across_restarts(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Right PIN 00; wrong twice 55; third wrong 75; the card stays blocked (75) even with the
    right PIN, also after the switch restarts; no PIN block reaches the log or the ledger."""
    caplog.set_level(logging.DEBUG)
    clock = ManualClock(datetime(2026, 11, 23, 13, 0, tzinfo=UTC))
    security = SecurityModule(load_keys())
    pad = PinPad(security.inject_terminal_key(TID))
    build = builder()
    card_ = card("CIB-VALID")
    right = holder_pin("CIB-VALID")
    path = tmp_path / "ledger.db"
    codes: list[str] = []
    blocks: list[str] = []
    for attempt, pin in enumerate([right, "0000", "9999", "1111", right, right]):
        async with await Ledger.open(path, CARDS, clock) as ledger:
            processor = Processor(ledger=ledger, cards=CARDS, registry=REGISTRY, clock=clock,
                                  magic=None, security=security)  # fmt: skip
            now = clock.now()
            if attempt == 0:
                await processor.process(TOPIC, encode(build.sign_on(now)))
            keys = pad.next_transaction()
            block = keys.encrypt_pin(pin, card_.pan)
            blocks.append(block)
            request = chip_purchase(build, card_, 10_000, now, pin_block=block, ksn=keys.ksn_hex)
            codes.append((await answer(processor, seal(request, keys)))["39"])
            clock.advance(1)
    assert codes == ["00", "55", "55", "75", "75", "75"]
    ledger_bytes = b"".join(f.read_bytes() for f in tmp_path.glob("ledger.db*"))
    for block in blocks:
        assert block not in caplog.text
        assert block.encode() not in ledger_bytes


async def test_mac_is_verified_before_anything_else(processor: Processor) -> None:
    """A sealed request is served; a flipped MAC bit or an altered amount get 63 and move no
    money; DE64 without DE53 is a format error naming DE53."""
    pad = PinPad(processor.security.inject_terminal_key(TID))
    build = builder()
    now = processor.clock.now()
    sign_on_keys = pad.next_transaction()
    sign_on = build.sign_on(now, ksn=sign_on_keys.ksn_hex)
    assert (await answer(processor, seal(sign_on, sign_on_keys)))["39"] == "00"
    keys = pad.next_transaction()
    request = chip_purchase(build, card("EDH-VALID"), 50_000, now, ksn=keys.ksn_hex)
    sealed = seal(request, keys)
    mac = json.loads(sealed)["64"]
    flipped = sealed.replace(mac.encode(), (mac[:-1] + f"{int(mac[-1], 16) ^ 1:X}").encode())
    altered = sealed.replace(b'"000000050000"', b'"000000000100"')
    for tampered in (flipped, altered):
        reply = await answer(processor, tampered)
        assert (reply["39"], reply["44"]) == ("63", "MAC does not verify")
    assert processor.stats.attacks == {"mac": 2}
    assert await processor.ledger.available("CCP-0001001") == 15_000_000
    assert (await answer(processor, sealed))["39"] == "00"
    assert await processor.ledger.available("CCP-0001001") == 15_000_000 - 50_000
    no_ksn = json.loads(sealed) | {"11": "000099"}
    del no_ksn["53"]
    reply = await answer(processor, json.dumps(no_ksn).encode())
    assert (reply["39"], reply["44"]) == ("30", "format error: DE53")


async def test_an_unsigned_request_is_refused_where_the_mac_is_required(
    processor: Processor,
) -> None:
    """Where the registry marks a merchant ``mac_required``, its terminals' unsigned requests
    get 63 'MAC required', count as attacks and do nothing; sealed ones are served, and other
    merchants' unsigned ones too, unless the switch requires a MAC of every terminal."""
    strict_merchants = [
        m.model_copy(update={"mac_required": m.tid_prefix == "DZAL"}) for m in REGISTRY.merchants
    ]

    def sharing_the_ledger(registry: Registry, *, require_mac: bool = False) -> Processor:
        return Processor(ledger=processor.ledger, cards=CARDS, registry=registry,
                         clock=processor.clock, magic=None, require_mac=require_mac)  # fmt: skip

    strict = sharing_the_ledger(Registry(strict_merchants))
    now, build = processor.clock.now(), builder()
    pad = PinPad(strict.security.inject_terminal_key(TID))
    keys = pad.next_transaction()
    assert (await answer(strict, seal(build.sign_on(now, ksn=keys.ksn_hex), keys)))["39"] == "00"
    for unsigned in (build.sign_on(now), chip_purchase(build, card("EDH-VALID"), 50_000, now)):
        reply = await answer(strict, encode(unsigned))
        assert (reply["39"], reply["44"]) == ("63", "MAC required")
    assert strict.stats.attacks == {"unsigned": 2}
    assert await processor.ledger.available("CCP-0001001") == 15_000_000
    oran = REGISTRY.get("DZOR0001")
    assert oran is not None
    oran_sign_on = encode(RequestBuilder(oran).sign_on(now))
    served = await strict.process(topics.request(oran.tid), oran_sign_on)
    assert served is not None and served.response_code == "00"
    everyone = sharing_the_ledger(REGISTRY, require_mac=True)
    refused = await everyone.process(topics.request(oran.tid), oran_sign_on)
    assert refused is not None and refused.response_code == "63"


async def test_a_request_for_another_terminal_is_an_attack(
    processor: Processor, caplog: pytest.LogCaptureFixture
) -> None:
    """A purchase naming DZAL0002 in DE41 but sent on DZAL0001's topic (the sender's identity
    under the broker's ACL) is refused as a format error on DE41 and counted as an attack,
    every time; it is logged at most once a second."""
    other = REGISTRY.get("DZAL0002")
    assert other is not None
    request = chip_purchase(RequestBuilder(other), card("EDH-VALID"), 50_000, processor.clock.now())
    with caplog.at_level(logging.WARNING, logger="switch"):
        for _ in range(3):
            reply = await processor.process(TOPIC, encode(request))
            assert reply is not None and reply.tid == TID
            assert (reply.response_code, json.loads(reply.payload)["44"]) == (
                "30",
                "format error: DE41",
            )
    assert processor.stats.attacks == {"impersonation": 3}
    assert caplog.text.count("attack (impersonation) from DZAL0001") == 1
    assert await processor.ledger.available("CCP-0001001") == 15_000_000


async def test_chip_cryptogram_replay_and_arpc(tmp_path: Path) -> None:
    """A chip purchase is approved with an ARPC in tag 91; the same ATC again (new STAN) is
    declined 05 'ATC replayed', also after a restart; a flipped ARQC bit is declined 05."""
    clock = ManualClock(datetime(2026, 11, 23, 13, 0, tzinfo=UTC))
    security = SecurityModule(load_keys())
    pad = PinPad(security.inject_terminal_key(TID))
    build = builder()
    wallet = Wallet(CARDS, security)
    chip = wallet.chip("EDH-VALID")
    card_ = card("EDH-VALID")
    path = tmp_path / "ledger.db"

    async def buy(tags: dict[str, bytes], first: bool = False) -> dict[str, str]:
        async with await Ledger.open(path, CARDS, clock) as ledger:
            processor = Processor(ledger=ledger, cards=CARDS, registry=REGISTRY, clock=clock,
                                  magic=None, security=security)  # fmt: skip
            if first:
                await processor.process(TOPIC, encode(build.sign_on(clock.now())))
            keys = pad.next_transaction()
            request = build.purchase(card_, 5_000, clock.now(), ksn=keys.ksn_hex,
                                     icc_data=tlv.encode(tags).hex().upper())  # fmt: skip
            clock.advance(1)
            return await answer(processor, seal(request, keys))

    tags = chip.generate_arqc(build.terminal_data(5_000, clock.now(), b"\x01\x02\x03\x04"))
    approved = await buy(tags, first=True)
    assert approved["39"] == "00"
    tag91 = tlv.decode_dict(bytes.fromhex(approved["55"]))["91"]
    assert tag91[-2:] == b"00" and len(tag91) == 10
    replayed = await buy(tags)
    assert (replayed["39"], replayed["44"]) == ("05", "ATC replayed")
    fresh = chip.generate_arqc(build.terminal_data(5_000, clock.now(), b"\x05\x06\x07\x08"))
    flipped = fresh | {"9F26": bytes([fresh["9F26"][0] ^ 0x80]) + fresh["9F26"][1:]}
    assert (await buy(flipped))["44"] == "ARQC does not verify"
    assert (await buy(fresh))["39"] == "00"  # the genuine one with the same ATC still passes


async def test_card_code_fields_are_required_by_entry_mode(processor: Processor) -> None:
    """Magstripe (DE22 02x) without DE35, or keyed (01x) without DE48, is a format error."""
    build = builder()
    now = processor.clock.now()
    await processor.process(TOPIC, encode(build.sign_on(now)))
    magstripe = build.purchase(card("EDH-VALID"), 5_000, now, entry_mode="021")
    reply = await answer(processor, encode(magstripe))
    assert (reply["39"], reply["44"]) == ("30", "DE35 missing")
    keyed = build.purchase(card("EDH-VALID"), 5_000, now, entry_mode="012")
    reply = await answer(processor, encode(keyed))
    assert (reply["39"], reply["44"]) == ("30", "DE48 (CVV2) missing")
    other_card = build.purchase(card("EDH-VALID"), 5_000, now, entry_mode="021",
                                track2="6280581110008007=29062011000000000")  # fmt: skip
    reply = await answer(processor, encode(other_card))
    assert (reply["39"], reply["44"]) == ("30", "DE35 differs from DE2")


async def test_reversal_advice_and_its_repeat(processor: Processor) -> None:
    """An 0420 voids the hold like an 0400 and is answered 0430; its 0421 repeat (same STAN and
    DE7) replays the stored 0430 without touching the ledger again."""
    build = builder()
    now = processor.clock.now()
    await answer(processor, encode(build.sign_on(now)))
    purchase = chip_purchase(build, card("EDH-VALID"), 70_000, now)
    assert (await answer(processor, encode(purchase)))["39"] == "00"
    reversal = build.reversal(purchase, now)
    advice = ReversalAdvice(**reversal.model_dump(exclude={"mti"}))
    first = await answer(processor, encode(advice))
    assert (first["mti"], first["39"]) == ("0430", "00")
    repeat = await answer(processor, encode(advice.model_copy(update={"mti": "0421"})))
    assert repeat == first
    assert processor.stats.duplicates == 1
    assert await processor.ledger.available("CCP-0001001") == 15_000_000
    assert check_ledger(sqlite_ledger(processor.ledger).path).ok


async def test_refund_and_preauthorization_flows(processor: Processor) -> None:
    """A refund (DE3 200000) is accepted without a balance check and credits at clearing; an
    0100 holds, its 0220 posts part of it, a second 0220 gets 12."""
    build = builder()
    now = processor.clock.now()
    await answer(processor, encode(build.sign_on(now)))
    refund = chip_purchase(build, card("EDH-NO-FUNDS"), 500_000, now, processing_code="200000")
    assert (await answer(processor, encode(refund)))["39"] == "00"
    preauth = chip_purchase(build, card("EDH-VALID"), 80_000, now, preauth=True)
    reply = await answer(processor, encode(preauth))
    assert (reply["mti"], reply["39"]) == ("0110", "00")
    completion = build.completion(preauth, 30_000, now)
    assert (await answer(processor, encode(completion)))["39"] == "00"
    again = build.completion(preauth, 10_000, now)
    assert (await answer(processor, encode(again)))["39"] == "12"
    assert await processor.ledger.available("CCP-0001001") == 15_000_000 - 30_000
    report = check_ledger(sqlite_ledger(processor.ledger).path)
    assert report.ok, report.render()


async def test_cutoff_moves_late_sales_to_the_next_business_day(tmp_path: Path) -> None:
    """With a 14:00 cut-off, a sale at 14:00 in Algiers (13:00 UTC) belongs to tomorrow."""
    clock = ManualClock(datetime(2026, 11, 23, 13, 0, tzinfo=UTC))
    async with await Ledger.open(tmp_path / "ledger.db", CARDS, clock) as ledger:
        late = Processor(ledger=ledger, cards=CARDS, registry=REGISTRY, clock=clock, magic=None,
                         cutoff=time(14, 0))  # fmt: skip
        build = builder()
        await answer(late, encode(build.sign_on(clock.now())))
        purchase = chip_purchase(build, card("EDH-VALID"), 10_000, clock.now())
        assert (await answer(late, encode(purchase)))["39"] == "00"
        (hold,) = await ledger.transfers_where("kind = 'purchase'")
        assert hold.business_day == date(2026, 11, 24)
