"""The terminal shell's decisions, without a broker: a scripted channel stands for the switch
(connected or not, answering each request with a code or not at all), so every branch of
:class:`~terminal.shell.tpe.Terminal` is reached exactly.

Pinned here: what may be decided offline (only a chip sale under the floor limit, powered,
with no switch in reach) and what it leaves (a Y3 advice queued, an ``O`` journal line, a
receipt kept for paper); what the request carries for each way of reading a card; the STAN
slip fault; a power loss mid-sale; voids, completions, cancellations and batch closes on a
terminal with no network; the batch number; and the latency measured on the stopwatch."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import cast

import pytest

from cards import default_card_set
from cards.crypto import tlv
from cards.holders import holder_pin
from cards.masking import mask_pan
from switch.security import SecurityModule, load_keys
from terminal import CardPresentation
from terminal.builder import ENTRY_MODES
from terminal.channel import Channel
from terminal.machine import Event, State, TerminalMachine
from terminal.pinpad import PinPad
from terminal.records import (
    InProcessMemory,
    NotLastSaleError,
    PowerLostError,
    TerminalError,
)
from terminal.shell.tpe import Terminal
from tpesim.wallet import Wallet
from wire import ManualClock, default_registry
from wire.journal import EntryKind
from wire.protocol import FinancialRequest, IsoMessage
from wire.protocol.codec import decode_request
from wire.protocol.fields import format_transmission_time
from wire.protocol.messages import BatchRequest, OfflineAdvice, Response
from wire.protocol.responses import error_response
from wire.registry import TerminalProfile
from wire.transport.base import BrokerUrl

CARDS = default_card_set()
SECURITY = SecurityModule(load_keys())
WALLET = Wallet(CARDS, SECURITY)
PROFILE = cast(TerminalProfile, default_registry().get("DZAL0001"))
CARD_ID = "EDH-VALID"
CARD = CardPresentation.from_card(CARDS.card(CARD_ID), CARDS)
PIN = holder_pin(CARD_ID)
NOW = datetime(2026, 11, 23, 13, 0, tzinfo=UTC)

Answer = Callable[[IsoMessage], str | None]


class _Channel:
    """Stands for the terminal's channel: ``answer`` gives each request's response code (None:
    no answer in time); while disconnected, nothing is answered; ``reachable`` says whether
    reconnecting works."""

    def __init__(self) -> None:
        self.connected = False
        self.reachable = True
        self.answer: Answer = lambda request: "00"
        self.exchanged: list[IsoMessage] = []
        self.sent_unanswered: list[IsoMessage] = []
        self.reconnects = 0
        self.aborts = 0
        self.broker = BrokerUrl("127.0.0.1", 1)

    @property
    def mtis(self) -> list[str]:
        return [message.mti for message in self.exchanged]

    async def connect(self) -> None:
        self.connected = True

    async def reconnect(self) -> None:
        if not self.reachable:
            raise TerminalError("broker away")
        self.reconnects += 1
        self.connected = True

    async def abort(self) -> None:
        self.aborts += 1
        self.connected = False

    async def close(self) -> None:
        self.connected = False

    async def exchange(
        self, request: IsoMessage, payload: bytes, response_mti: str, timeout_s: float
    ) -> Response | None:
        self.exchanged.append(request)
        code = self.answer(request) if self.connected else None
        return None if code is None else error_response(request, code, "")  # type: ignore[arg-type]

    async def send(self, request: IsoMessage, payload: bytes) -> None:
        self.sent_unanswered.append(request)


class _HeardMachine(TerminalMachine):
    """The terminal's state machine, remembering every event it heard."""

    def __init__(self, tid: str, state: State) -> None:
        super().__init__(tid, state)
        self.heard: list[Event] = []

    def handle(self, event: Event) -> State:
        self.heard.append(event)
        return super().handle(event)


class _WatchedMemory(InProcessMemory):
    """Non-volatile memory remembering every request written to it (None: cleared)."""

    def __init__(self) -> None:
        super().__init__()
        self.written: list[bytes | None] = []

    def store_in_flight(self, tid: str, request: bytes | None, next_stan: int) -> None:
        self.written.append(request)
        super().store_in_flight(tid, request, next_stan)


def _terminal(*, pinpad: bool = True) -> tuple[Terminal, _Channel]:
    """A terminal at NOW on a manual clock, with its scripted channel (not signed on yet)."""
    keys = PinPad(SECURITY.inject_terminal_key(PROFILE.tid, "tdes")) if pinpad else None
    tpe = Terminal(PROFILE, BrokerUrl("127.0.0.1", 1), clock=ManualClock(NOW), pinpad=keys,
                   reversal_attempts=2)  # fmt: skip
    channel = _Channel()
    tpe.channel = cast(Channel, channel)
    return tpe, channel


async def _signed_on(*, pinpad: bool = True) -> tuple[Terminal, _Channel]:
    tpe, channel = _terminal(pinpad=pinpad)
    await tpe.__aenter__()
    assert channel.mtis == ["0800"]
    channel.exchanged.clear()
    return tpe, channel


async def _sale(tpe: Terminal, amount: int = 5_000, **options: object) -> FinancialRequest:
    """Run a chip and PIN sale; the request the switch was sent."""
    channel = cast(_Channel, tpe.channel)
    await tpe.purchase(CARD, amount, PIN, WALLET.chip(CARD_ID), **options)  # type: ignore[arg-type]
    return cast(FinancialRequest, next(m for m in reversed(channel.exchanged) if m.mti == "0200"))


def _unreachable(channel: _Channel) -> None:
    channel.connected = False
    channel.reachable = False


# -- the request, its time and its counting -----------------------------------------------


async def test_a_sale_goes_out_at_the_terminals_clock_and_is_counted_once() -> None:
    tpe, _ = await _signed_on()
    request = await _sale(tpe)
    assert request.transmission_time == format_transmission_time(NOW)
    assert tpe.stats.outcomes == {"00": 1}
    assert tpe.batch_number == 1


async def test_the_latency_is_read_on_the_stopwatch() -> None:
    tpe, _ = await _signed_on()
    ticks = iter([10.0, 10.25])
    tpe.stopwatch = lambda: next(ticks)
    outcome = await tpe.purchase(CARD, 5_000, PIN, WALLET.chip(CARD_ID))
    assert outcome.latency_ms == 250.0


@pytest.mark.parametrize(("code", "event"), [("00", Event.APPROVAL_RECEIVED),
                                             ("51", Event.DECLINE_RECEIVED)])  # fmt: skip
async def test_the_state_machine_hears_the_verdict(code: str, event: Event) -> None:
    tpe, channel = await _signed_on()
    channel.answer = lambda request: code
    tpe.machine = _HeardMachine(tpe.tid, tpe.machine.state)
    await _sale(tpe)
    assert tpe.machine.heard == [Event.REQUEST_SENT, event, Event.RECEIPT_DONE]


async def test_a_dropped_connection_is_mended_before_a_sale() -> None:
    tpe, channel = await _signed_on()
    channel.connected = False
    outcome = await tpe.purchase(CARD, 5_000, PIN, WALLET.chip(CARD_ID))
    assert outcome.approved and channel.reconnects == 1


async def test_a_cut_network_refuses_a_sale_without_sending_it() -> None:
    tpe, channel = await _signed_on()
    await tpe.cut_network()
    with pytest.raises(TerminalError, match="no network"):
        await tpe.purchase(CARD, 5_000, PIN, WALLET.chip(CARD_ID))
    assert channel.exchanged == []


# -- PIN pad and what may be keyed in -----------------------------------------------------


async def test_a_terminal_without_pin_pad_keys_sells_without_a_pin_and_refuses_one() -> None:
    tpe, channel = await _signed_on(pinpad=False)
    outcome = await tpe.purchase(CARD, 5_000, None, WALLET.chip(CARD_ID))
    request = cast(FinancialRequest, channel.exchanged[-1])
    assert outcome.approved and request.ksn is None and request.pin_block is None
    with pytest.raises(TerminalError, match="no PIN pad keys"):
        await tpe.purchase(CARD, 5_000, PIN, WALLET.chip(CARD_ID))
    plastic = WALLET.plastic(CARD_ID)
    online = await tpe.purchase(CARD, 5_000, PIN, entry="ecommerce", plastic=plastic)
    assert online.approved  # a payment page asks no PIN: the one given is dropped


async def test_what_cannot_be_keyed_in_together_never_leaves() -> None:
    tpe, channel = await _signed_on()
    with pytest.raises(TerminalError, match="cash-back"):
        await tpe.purchase(CARD, 5_000, PIN, WALLET.chip(CARD_ID), refund=True, cash_back=100)
    assert channel.exchanged == []


# -- how the card is read -----------------------------------------------------------------


async def test_a_chip_sale_carries_its_cryptogram_and_nothing_of_the_plastic() -> None:
    tpe, _ = await _signed_on()
    request = await _sale(tpe, 5_000, plastic=WALLET.plastic(CARD_ID), cash_back=1_000)
    assert request.icc_data is not None
    tags = tlv.decode_dict(bytes.fromhex(request.icc_data))
    assert len(tags["9F37"]) == 4  # the unpredictable number
    assert tags["9F02"] == bytes.fromhex(f"{6_000:012d}")  # the sale and the cash
    assert request.track2 is None and request.card_security_code is None
    assert request.entry_mode == ENTRY_MODES["chip"]


@pytest.mark.parametrize(("entry", "track2", "cvv2"), [("magstripe", True, False),
                                                       ("keyed", False, True),
                                                       ("ecommerce", False, True)])  # fmt: skip
async def test_a_card_not_read_by_its_chip_sends_no_cryptogram(
    entry: str, track2: bool, cvv2: bool
) -> None:
    tpe, _ = await _signed_on()
    request = await _sale(tpe, entry=entry, plastic=WALLET.plastic(CARD_ID))
    assert request.icc_data is None and request.entry_mode == ENTRY_MODES[entry]
    assert (request.track2 is not None, request.card_security_code is not None) == (track2, cvv2)


async def test_a_faulty_chip_reader_falls_back_to_the_stripe() -> None:
    tpe, _ = await _signed_on()
    tpe.chip_reader_fault = True
    fallback = await _sale(tpe, plastic=WALLET.plastic(CARD_ID))
    assert fallback.entry_mode == ENTRY_MODES["fallback"] and fallback.track2 is not None
    assert fallback.icc_data is None
    swiped = await _sale(tpe, entry="magstripe", plastic=WALLET.plastic(CARD_ID))
    assert swiped.entry_mode == ENTRY_MODES["magstripe"]
    with pytest.raises(TerminalError, match="chip reader is faulty"):
        await _sale(tpe)


async def test_an_unknown_entry_is_refused_even_with_the_plastic() -> None:
    tpe, channel = await _signed_on()
    with pytest.raises(TerminalError, match="unknown card entry 'swipe'"):
        await _sale(tpe, entry="swipe", plastic=WALLET.plastic(CARD_ID))
    assert channel.exchanged == []


# -- offline decisions --------------------------------------------------------------------


async def test_offline_a_chip_sale_up_to_the_floor_limit_is_approved_and_queued() -> None:
    tpe, channel = await _signed_on()
    tpe.offline_floor_limit = 1
    _unreachable(channel)
    outcome = await tpe.purchase(CARD, 1, PIN, WALLET.chip(CARD_ID))
    assert outcome.response_code == "Y3" and outcome.printed
    ((advice, _),) = tpe.saf
    assert isinstance(advice, OfflineAdvice) and advice.stan == outcome.stan
    assert [(e.kind, e.amount) for e in tpe.journal] == [(EntryKind.OFFLINE, 1)]
    assert tpe.journal[0].stan == outcome.stan
    assert tpe.stats.outcomes == {"Y3": 1} and tpe.unprinted == []
    second = await tpe.purchase(CARD, 1, PIN, WALLET.chip(CARD_ID))
    assert second.response_code == "Y3" and len(tpe.saf) == 2
    assert channel.exchanged == []  # nothing tried while the switch is out of reach


async def test_offline_above_the_floor_limit_is_declined_and_nothing_queued() -> None:
    tpe, channel = await _signed_on()
    tpe.offline_floor_limit = 5_000
    tpe.paper = False
    _unreachable(channel)
    outcome = await tpe.purchase(CARD, 5_001, PIN, WALLET.chip(CARD_ID))
    assert outcome.response_code == "Z3" and not outcome.printed
    assert tpe.saf == [] and tpe.journal == [] and tpe.unprinted == [outcome.receipt]


async def test_a_terminal_is_online_only_until_given_a_floor_limit() -> None:
    tpe, channel = await _signed_on()
    _unreachable(channel)
    with pytest.raises(TerminalError, match="broker away"):
        await tpe.purchase(CARD, 1, PIN, WALLET.chip(CARD_ID))


@pytest.mark.parametrize(
    "options",
    [{"refund": True}, {"preauth": True}, {"cash_back": 100}, {"amount": 0, "inquiry": True},
     {"entry": "magstripe"}, {"chip": None}],
)  # fmt: skip
async def test_only_a_chip_sale_may_be_decided_offline(options: dict[str, object]) -> None:
    tpe, channel = await _signed_on()
    tpe.offline_floor_limit = 10_000
    _unreachable(channel)
    kind = {"amount": 1_000, "chip": WALLET.chip(CARD_ID), "plastic": WALLET.plastic(CARD_ID)}
    with pytest.raises(TerminalError, match="broker away"):
        await tpe.purchase(CARD, pin=PIN, **(kind | options))  # type: ignore[arg-type]
    assert tpe.saf == [] and tpe.journal == []


# -- faults of the terminal itself ----------------------------------------------------------


async def test_a_slipped_stan_counter_reuses_the_previous_key_once() -> None:
    tpe, _ = await _signed_on()
    tpe.reuse_key = True
    first = await _sale(tpe, 1_000)  # nothing to reuse yet: the fault waits
    tpe.clock.advance(60)  # type: ignore[attr-defined]
    second = await _sale(tpe, 2_000)
    third = await _sale(tpe, 3_000)
    assert (second.stan, second.transmission_time) == (first.stan, first.transmission_time)
    assert third.stan > first.stan and third.transmission_time != first.transmission_time
    assert not tpe.reuse_key


async def test_power_lost_mid_sale_leaves_only_the_request_in_memory() -> None:
    tpe, channel = await _signed_on()
    memory = InProcessMemory()
    tpe.memory = memory
    tpe.power_fails = True
    with pytest.raises(PowerLostError):
        await tpe.purchase(CARD, 5_000, PIN, WALLET.chip(CARD_ID))
    (request,) = channel.sent_unanswered
    assert channel.exchanged == [] and channel.aborts == 1 and not tpe.powered
    stored = memory.load_in_flight(tpe.tid)
    assert stored is not None and decode_request(stored) == request
    with pytest.raises(TerminalError, match="no power"):
        await tpe.purchase(CARD, 5_000, PIN, WALLET.chip(CARD_ID))
    tpe.offline_floor_limit = 10_000  # not even offline: there is no power
    with pytest.raises(TerminalError, match="no power"):
        await tpe.purchase(CARD, 5_000, PIN, WALLET.chip(CARD_ID))


@pytest.mark.parametrize("answered", [True, False])
async def test_memory_forgets_a_sale_once_answered_or_reversed(answered: bool) -> None:
    tpe, channel = await _signed_on()
    memory = _WatchedMemory()
    tpe.memory = memory
    channel.answer = lambda request: "00" if answered or request.mti != "0200" else None
    await tpe.purchase(CARD, 5_000, PIN, WALLET.chip(CARD_ID))
    assert [stored is not None for stored in memory.written] == [True, False]
    assert memory.load_in_flight(tpe.tid) is None


# -- voids --------------------------------------------------------------------------------


async def test_a_void_names_the_sale_it_means() -> None:
    tpe, channel = await _signed_on()
    with pytest.raises(NotLastSaleError):
        await tpe.void_last((1, "1123130000"))
    sale = await _sale(tpe)
    with pytest.raises(NotLastSaleError):
        await tpe.void_last((sale.stan + 1, sale.transmission_time))
    voided = await tpe.void_last((sale.stan, sale.transmission_time))
    assert voided.reversal == "acknowledged" and channel.mtis[-1] == "0420"
    assert voided.masked_pan == mask_pan(CARD.pan) and CARD.pan not in voided.receipt
    again = await _sale(tpe)
    assert (await tpe.void_last()).stan == again.stan


async def test_no_void_without_network_and_none_without_a_sale() -> None:
    tpe, channel = await _signed_on()
    await tpe.cut_network()
    with pytest.raises(TerminalError, match="nothing to void"):
        await tpe.void_last()
    await tpe.restore_network()
    sale = await _sale(tpe)
    await tpe.cut_network()
    with pytest.raises(TerminalError, match="no network"):
        await tpe.void_last()
    assert tpe.last_sale == sale and channel.mtis[-1] == "0200"


# -- pre-authorizations -------------------------------------------------------------------


async def _preauthorized(tpe: Terminal) -> int:
    outcome = await tpe.purchase(CARD, 8_000, PIN, WALLET.chip(CARD_ID), preauth=True)
    assert outcome.approved and outcome.stan in tpe.authorizations
    return outcome.stan


async def test_a_completion_needs_its_preauthorization_and_the_network() -> None:
    tpe, channel = await _signed_on()
    with pytest.raises(TerminalError, match="no open pre-authorization with STAN 000042"):
        await tpe.complete(42, 1_000)
    stan = await _preauthorized(tpe)
    await tpe.cut_network()
    with pytest.raises(TerminalError, match="no network"):
        await tpe.complete(stan, 1_000)
    await tpe.restore_network()
    channel.answer = lambda request: None
    assert await tpe.complete(stan, 6_000) is None
    ((queued, _),) = tpe.saf
    assert queued.mti == "0220" and stan in tpe.authorizations
    channel.answer = lambda request: "00"
    assert await tpe.flush_saf() == 0
    assert tpe.authorizations == {} and [e.amount for e in tpe.journal] == [6_000]


@pytest.mark.parametrize(("answer", "verdict", "still_open"),
                         [("00", "acknowledged", False), (None, "unresolved", True)])  # fmt: skip
async def test_a_cancelled_preauthorization_closes_once_acknowledged(
    answer: str | None, verdict: str, still_open: bool
) -> None:
    tpe, channel = await _signed_on()
    with pytest.raises(TerminalError, match="no open pre-authorization"):
        await tpe.cancel_authorization(7)
    stan = await _preauthorized(tpe)
    await tpe.cut_network()
    with pytest.raises(TerminalError, match="no network"):
        await tpe.cancel_authorization(stan)
    await tpe.restore_network()
    channel.answer = lambda request: answer
    assert await tpe.cancel_authorization(stan) == verdict
    assert (stan in tpe.authorizations) == still_open


# -- batch close --------------------------------------------------------------------------


def _batches(channel: _Channel) -> list[BatchRequest]:
    return [m for m in channel.exchanged if isinstance(m, BatchRequest)]


@pytest.mark.parametrize("verdict", ["00", "95"])  # in balance, or out of it (explained)
async def test_a_batch_close_answered_opens_the_next_batch(verdict: str) -> None:
    tpe, channel = await _signed_on()
    await _sale(tpe)
    channel.answer = lambda request: verdict if request.mti == "0500" else "00"
    response = await tpe.close_batch()
    assert response.response_code == verdict and _batches(channel)[0].batch_number == 1
    assert tpe.batch_number == 2 and tpe.journal == [] and tpe.last_sale is None
    tpe.batch_number = 999_999
    await tpe.close_batch()
    assert tpe.batch_number == 1  # DE60 is six digits: it wraps


async def test_an_unanswered_or_refused_batch_close_keeps_the_batch() -> None:
    tpe, channel = await _signed_on()
    sale = await _sale(tpe)
    channel.answer = lambda request: None if request.mti == "0500" else "00"
    with pytest.raises(TerminalError, match="batch close unanswered"):
        await tpe.close_batch()
    channel.answer = lambda request: "96" if request.mti == "0500" else "00"
    assert (await tpe.close_batch()).response_code == "96"
    assert tpe.batch_number == 1 and [e.stan for e in tpe.journal] == [sale.stan]
    assert [b.batch_number for b in _batches(channel)] == [1, 1]


async def test_a_batch_close_sends_what_waits_first_and_needs_the_network() -> None:
    tpe, channel = await _signed_on()
    channel.answer = lambda request: None if request.mti.startswith("04") else "00"
    await _sale(tpe)
    await tpe.void_last()
    assert len(tpe.saf) == 1
    await tpe.cut_network()
    with pytest.raises(TerminalError, match="no network"):
        await tpe.close_batch()
    channel.connected = True
    tpe.link_cut = False
    channel.answer = lambda request: "00"
    channel.exchanged.clear()
    await tpe.close_batch()
    assert channel.mtis == ["0421", "0500"] and tpe.saf == []


def test_a_new_terminal_is_connected_to_nothing_yet_and_online_only() -> None:
    tpe = Terminal(PROFILE, BrokerUrl("127.0.0.1", 1))
    assert (tpe.offline_floor_limit, tpe.batch_number, tpe.link_cut) == (0, 1, False)
    assert tpe.powered and not tpe.reuse_key and tpe.paper
