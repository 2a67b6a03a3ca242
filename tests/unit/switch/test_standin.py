"""Stand-in processing: issuer availability, the stand-in rules, the true-up of replayed advices,
and the whole flow through the processor on real SQLite."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from cards import default_card_set
from cards.models import StandIn
from switch import Processor
from switch.flows.standin import stand_in
from switch.ledger import check_ledger
from switch.ledger.rules import Phase, Transfer, TransferKind
from switch.ledger.standin import StandInAdvice, TrueUp, refund_of_true_up, true_up
from switch.rules.authorization import Decision
from switch.rules.issuers import IssuerHosts, IssuerState, Routing, parse_issuer_command
from terminal import CardPresentation, RequestBuilder
from tests.chips import chip_purchase
from wire import default_registry
from wire.protocol import encode, topics
from wire.protocol.messages import IsoMessage

CARDS = default_card_set()
REGISTRY = default_registry()
RULES = StandIn(max_amount=500_000, daily_count=3, daily_amount=1_000_000)
CARD = CARDS.card("EDH-VALID")


def test_issuer_availability_routes_or_stands_in() -> None:
    hosts = IssuerHosts(deadline_s=1.0)
    assert hosts.route("algerie-poste") == Routing(True, 0.0)
    hosts.set("algerie-poste", IssuerState.DOWN)
    assert hosts.route("algerie-poste") == Routing(False, 0.0)
    assert hosts.route("banque-cib") == Routing(True, 0.0)  # one issuer at a time
    hosts.set("algerie-poste", IssuerState.SLOW, 0.4)
    assert hosts.route("algerie-poste") == Routing(True, 0.4)  # slow, but within the deadline
    hosts.set("algerie-poste", IssuerState.SLOW, 2.5)
    assert hosts.route("algerie-poste") == Routing(False, 1.0)  # waited the deadline, stands in
    hosts.set("algerie-poste", IssuerState.UP)
    assert hosts.route("algerie-poste") == Routing(True, 0.0)
    with pytest.raises(ValueError, match="negative"):
        hosts.set("x", IssuerState.SLOW, -1)


@pytest.mark.parametrize(
    ("amount", "usage", "rules", "code", "reason"),
    [
        (200_000, (0, 0), RULES, "00", "stand-in approval"),
        (500_000, (2, 500_000), RULES, "00", "stand-in approval"),  # at every bound, still in
        (500_001, (0, 0), RULES, "91", "above stand-in amount"),
        (10_000, (3, 30_000), RULES, "91", "stand-in count reached"),
        (200_000, (1, 900_000), RULES, "91", "stand-in total reached"),
        (10_000, (0, 0), None, "91", "issuer unavailable"),
    ],
)
def test_stand_in_rules_bound_what_the_switch_approves(
    amount: int, usage: tuple[int, int], rules: StandIn | None, code: str, reason: str
) -> None:
    decision = stand_in(Decision("00", "approved", CARD), amount=amount, rules=rules, usage=usage)
    assert (decision.code, decision.reason, decision.stand_in) == (code, reason, code == "00")


def test_the_switch_s_own_declines_stand() -> None:
    wrong_pin = Decision("55", "incorrect PIN", CARD, pin_failures=1)
    assert stand_in(wrong_pin, amount=1_000, rules=RULES, usage=(0, 0)) == wrong_pin


HOLD = Transfer(
    id="purchase:DZAL0001:000001:1123130000", kind=TransferKind.PURCHASE, phase=Phase.PENDING,
    debit_account="standin:algerie-poste:DZD", credit_account="merchant:M:DZD", amount=30_000,
    currency="DZD", card_id="EDH-VALID",
)  # fmt: skip
ADVICE = StandInAdvice(HOLD.id, "algerie-poste", "EDH-VALID", "CCP-0001001", 30_000,
                       date(2026, 11, 23))  # fmt: skip


@pytest.mark.parametrize(
    ("available", "trued", "shortfall"),
    [(50_000, 30_000, 0), (30_000, 30_000, 0), (1_250, 1_250, 28_750), (0, 0, 30_000),
     (-5, 0, 30_000)],
)  # fmt: skip
def test_a_true_up_takes_what_the_cardholder_has_and_the_issuer_the_rest(
    available: int, trued: int, shortfall: int
) -> None:
    outcome, transfers = true_up(ADVICE, HOLD, available)
    assert outcome == TrueUp(trued, shortfall)
    moves = {(t.debit_account, t.credit_account): t.amount for t in transfers}
    expected = {("CCP-0001001", HOLD.debit_account): trued,
                ("issuer:algerie-poste:DZD", HOLD.debit_account): shortfall}  # fmt: skip
    assert moves == {k: v for k, v in expected.items() if v}
    back = refund_of_true_up(ADVICE, HOLD, outcome)
    assert {(t.credit_account, t.debit_account): t.amount for t in back} == moves
    assert len({t.id for t in transfers + back}) == len(transfers) + len(back)


async def _send(processor: Processor, request: IsoMessage) -> str:
    reply = await processor.process(topics.request("DZAL0001"), encode(request))
    assert reply is not None
    answer = json.loads(reply.payload)
    return " ".join(part for part in (answer["39"], answer.get("38", "")[:1],
                                      answer.get("44", "")) if part)  # fmt: skip


def _purchase(processor: Processor, build: RequestBuilder, card_id: str, amount: int) -> Any:
    card = CardPresentation.from_card(CARDS.card(card_id), CARDS)
    return chip_purchase(build, card, amount, processor.clock.now())


async def test_stand_in_holds_on_the_issuer_then_the_replay_trues_up(
    processor: Processor, tmp_path: Path
) -> None:
    """Issuer down: approvals marked stand-in (DE38 S…, DE44) held on the stand-in account;
    back up: replayed, the cardholder pays what there is, the issuer the shortfall; a reversal
    of a trued-up sale gives both back; the checker passes throughout."""
    profile = REGISTRY.get("DZAL0001")
    assert profile is not None
    build = RequestBuilder(profile)
    await processor.process(
        topics.request("DZAL0001"), encode(build.sign_on(processor.clock.now()))
    )
    await processor.set_issuer("algerie-poste", IssuerState.DOWN)
    first = _purchase(processor, build, "EDH-VALID", 20_000)
    assert await _send(processor, first) == "00 S stand-in"
    no_funds = _purchase(processor, build, "EDH-NO-FUNDS", 30_000)
    assert await _send(processor, no_funds) == "00 S stand-in"
    too_much = _purchase(processor, build, "EDH-VALID", 600_000)
    assert await _send(processor, too_much) == "91 above stand-in amount"
    ledger = processor.ledger
    assert await ledger.available("CCP-0001001") == 15_000_000  # not the cardholder's money yet
    assert await ledger.available("standin:algerie-poste:DZD") == -50_000
    assert len(await ledger.standin_queue()) == 2
    assert await processor.set_issuer("algerie-poste", IssuerState.UP) == 2
    assert await ledger.standin_queue() == []
    assert await ledger.available("CCP-0001001") == 15_000_000 - 20_000
    assert await ledger.available("CCP-0001005") == 0  # had 12,50 DA: the issuer paid 287,50
    assert await ledger.available("standin:algerie-poste:DZD") == 0
    assert check_ledger(tmp_path / "ledger.db").ok
    assert await processor.set_issuer("algerie-poste", IssuerState.UP) == 0  # nothing twice
    code, mark = (await _send(processor, _purchase(processor, build, "EDH-VALID", 1_000))).split()
    assert code == "00" and mark != "S"  # the issuer decides again (its codes are hex)
    reversal = build.reversal(no_funds, processor.clock.now())
    assert await _send(processor, reversal) == "00"  # after the true-up: both shares back
    assert await ledger.available("CCP-0001005") == 1_250
    assert await ledger.available("standin:algerie-poste:DZD") == 0
    report = check_ledger(tmp_path / "ledger.db")
    assert report.ok, report.render()


def test_issuer_commands_the_switch_and_the_fault_buttons_both_read() -> None:
    assert parse_issuer_command("down") == (IssuerState.DOWN, 0.0)
    assert parse_issuer_command(" up ") == (IssuerState.UP, 0.0)
    assert parse_issuer_command("slow:2.5") == (IssuerState.SLOW, 2.5)
    assert parse_issuer_command("slow:2") == (IssuerState.SLOW, 2.0)
    for senseless in ("slow", "slow:", "slow:-1", "slow:nan", "slow:inf", "slow:1e3"):
        with pytest.raises(ValueError, match="slow needs seconds"):
            parse_issuer_command(senseless)
    with pytest.raises(ValueError, match="not a valid IssuerState"):
        parse_issuer_command("stop")
