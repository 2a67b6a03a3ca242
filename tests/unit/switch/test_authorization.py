"""The authorization engine: one test per decision, in the engine's order of checks."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from cards import default_card_set
from switch import CardholderPosition, authorize
from switch.security import ArqcCheck, CvvCheck, PinCheck
from wire import TerminalProfile, default_registry, magic_amounts
from wire.protocol import FinancialRequest

CARDS = default_card_set()
REGISTRY = default_registry()
NOW = datetime(2026, 11, 23, 13, 0, tzinfo=UTC)


def _terminal(tid: str) -> TerminalProfile:
    profile = REGISTRY.get(tid)
    assert profile is not None
    return profile


ALGIERS = _terminal("DZAL0001")
TUNIS = _terminal("TNTU0001")
RICH = CardholderPosition(available=10**9, spent_today=0)


def purchase(
    card_id: str,
    amount: int = 150_000,
    *,
    terminal: TerminalProfile = ALGIERS,
    **changes: object,
) -> FinancialRequest:
    card = CARDS.card(card_id)
    fields: dict[str, object] = {
        "transmission_time": "1123130000",
        "stan": 1,
        "terminal_id": terminal.tid,
        "pan": card.pan,
        "processing_code": "000000",
        "amount": amount,
        "local_time": "140000",
        "local_date": "1123",
        "expiry": card.presented_yymm,
        "entry_mode": "051",
        "merchant_id": terminal.merchant.mid,
        "currency": terminal.currency.numeric,
    }
    fields.update(changes)
    return FinancialRequest.model_validate(fields)


def decide(
    request: FinancialRequest,
    position: CardholderPosition | None = RICH,
    *,
    signed_on: bool = True,
    terminal: object = "same",
) -> str:
    profile = REGISTRY.get(request.terminal_id) if terminal == "same" else None
    card = CARDS.issuer_card(request.pan)
    return authorize(
        request,
        terminal=profile,
        signed_on=signed_on,
        cards=CARDS,
        position=position if card else None,
        now=NOW,
        magic=magic_amounts(),
    ).code


@pytest.mark.parametrize(
    ("card_id", "code"),
    [
        ("EDH-VALID", "00"),
        ("CIB-VALID", "00"),
        ("EDH-WRONG-CVV2", "00"),
        ("EDH-BLOCKED", "62"),
        ("EDH-NOT-ACTIVE", "62"),
        ("EDH-LOST", "41"),
        ("EDH-STOLEN", "43"),
        ("EDH-WRONG-EXPIRY", "54"),
        ("EDH-EXPIRED", "54"),
        ("EDH-UNKNOWN", "14"),
        ("EDH-LIMIT", "61"),
        ("EDH-PIN-TRIES", "75"),
        ("EDH-NOT-AUTHORISED", "57"),
        ("CIB-LOST", "41"),
        ("CIB-EXPIRED", "54"),
        ("CIB-UNKNOWN", "14"),
        ("CIB-PIN-TRIES", "75"),
        ("CIB-WRONG-EXPIRY", "54"),
    ],
)
def test_satim_test_cards_at_an_algerian_terminal(card_id: str, code: str) -> None:
    """Each certification card forces its documented response code."""
    assert decide(purchase(card_id)) == code


def test_floor_limit_card_passes_small_and_fails_large() -> None:
    """EDH-FLOOR-LIMIT approves up to 1 000,00 DA and answers 61 above."""
    assert decide(purchase("EDH-FLOOR-LIMIT", 100_000)) == "00"
    assert decide(purchase("EDH-FLOOR-LIMIT", 100_001)) == "61"


def test_balance_and_daily_limit() -> None:
    """51 when the account is short; 61 when today's spending would pass the daily limit."""
    assert decide(purchase("EDH-VALID", 5_000), CardholderPosition(4_999, 0)) == "51"
    assert decide(purchase("EDH-VALID", 5_000), CardholderPosition(5_000, 0)) == "00"
    assert decide(purchase("EDH-VALID", 5_000), CardholderPosition(10**9, 19_996_000)) == "61"
    assert decide(purchase("EDH-VALID", 20_000_001)) == "61"


def test_amount_rules() -> None:
    """Zero and below-minimum amounts are 13; a currency other than the terminal's is 13."""
    assert decide(purchase("EDH-VALID", 0)) == "13"
    assert decide(purchase("EDH-VALID", 999)) == "13"
    assert decide(purchase("EDH-VALID", currency="788")) == "13"


def test_cross_border_rules() -> None:
    """A domestic-only card abroad is 62; the CTI card at home in TND is approved."""
    assert decide(purchase("TN-VALID")) == "62"
    assert decide(purchase("EDH-VALID", terminal=TUNIS, amount=15_000)) == "62"
    assert decide(purchase("TN-CTI", 12_345, terminal=TUNIS)) == "00"


def test_terminal_rules() -> None:
    """Unknown or not signed-on terminals, or a wrong MID, are 03; a non-purchase DE3 is 12."""
    assert decide(purchase("EDH-VALID"), terminal=None) == "03"
    assert decide(purchase("EDH-VALID"), signed_on=False) == "03"
    assert decide(purchase("EDH-VALID", merchant_id="DZ0000000000999")) == "03"
    assert decide(purchase("EDH-VALID", processing_code="010000")) == "12"  # cash withdrawal
    assert decide(purchase("EDH-VALID", processing_code="400000")) == "12"  # transfer


def _cash(amount: int, currency: str = "012") -> str:
    return f"0040{currency}C{amount:012d}"


def test_balance_inquiry_rules() -> None:
    """DE3 31: no amount (13 with one); the card's checks still apply (43 stolen, 54 expired,
    62 abroad); no limit nor balance check, so an empty account gets 00 (and its balance)."""
    inquiry = "310000"
    assert decide(purchase("EDH-VALID", 0, processing_code=inquiry)) == "00"
    empty = CardholderPosition(0, 0)
    assert decide(purchase("EDH-NO-FUNDS", 0, processing_code=inquiry), empty) == "00"
    assert decide(purchase("EDH-VALID", 1_000, processing_code=inquiry)) == "13"
    assert decide(purchase("CIB-STOLEN", 0, processing_code=inquiry)) == "43"
    assert decide(purchase("EDH-VALID", 0, terminal=TUNIS, processing_code=inquiry)) == "62"


def test_cash_back_rules() -> None:
    """DE3 09: DE4 is purchase + cash, DE54 the cash (13 when missing, not less than DE4, or in
    another currency); Edahabia gives up to 20 000 DA (61 above), CIB none (57); the whole of
    DE4 is what the balance must cover (51)."""

    def cash_back(card_id: str, total: int, cash: str | None) -> FinancialRequest:
        return purchase(card_id, total, processing_code="090000", additional_amounts=cash)

    assert decide(cash_back("EDH-VALID", 150_000, _cash(100_000))) == "00"
    assert decide(cash_back("EDH-VALID", 150_000, None)) == "13"
    assert decide(cash_back("EDH-VALID", 150_000, _cash(150_000))) == "13"
    assert decide(cash_back("EDH-VALID", 150_000, _cash(1_000, "504"))) == "13"
    assert decide(cash_back("EDH-VALID", 2_100_000, _cash(2_000_001))) == "61"
    assert decide(cash_back("CIB-VALID", 150_000, _cash(1_000))) == "57"
    short = cash_back("EDH-VALID", 150_000, _cash(100_000))
    assert decide(short, CardholderPosition(149_999, 0)) == "51"


def test_unknown_bin_is_no_such_issuer() -> None:
    """A Luhn-valid PAN whose BIN no product owns gets 15."""
    assert decide(purchase("EDH-VALID", pan="4111111111111111")) == "15"


@pytest.mark.parametrize("ending", ["05", "51", "91", "96"])
def test_magic_amounts_force_their_code(ending: str) -> None:
    """77,xx DA answers xx for any card the issuer knows, even a rich valid one."""
    amount = magic_amounts().amount_for(ending, ALGIERS.currency)
    assert amount == 7700 + int(ending)
    assert decide(purchase("EDH-VALID", amount)) == ending


def test_magic_no_response_still_decides() -> None:
    """77,99 DA is authorized as usual but marked to get no answer."""
    amount = magic_amounts().amount_for("99", ALGIERS.currency)
    request = purchase("EDH-VALID", amount)
    decision = authorize(
        request,
        terminal=ALGIERS,
        signed_on=True,
        cards=CARDS,
        position=RICH,
        now=NOW,
        magic=magic_amounts(),
    )
    assert (decision.code, decision.respond) == ("00", False)


def test_tnd_magic_amount_has_three_decimals() -> None:
    """In TND the magic amount is 77,0xx DT (77 051 millimes → 51)."""
    assert magic_amounts().amount_for("51", TUNIS.currency) == 77_051


def test_pin_rules() -> None:
    """Wrong PIN → 55 and one more failure; the limit-th → 75; blocked stays 75; a right PIN
    resets the count; an unreadable block is a format error on DE52 (30)."""
    request = purchase("EDH-VALID")

    def verdict(pin: PinCheck | None, failures: int) -> tuple[str, int | None]:
        decision = authorize(request, terminal=ALGIERS, signed_on=True, cards=CARDS,
                             position=RICH, now=NOW, pin=pin, pin_failures=failures)  # fmt: skip
        return decision.code, decision.pin_failures

    assert verdict(PinCheck.OK, 0) == ("00", None)
    assert verdict(PinCheck.WRONG, 0) == ("55", 1)
    assert verdict(PinCheck.WRONG, 1) == ("55", 2)
    assert verdict(PinCheck.WRONG, 2) == ("75", 3)
    assert verdict(PinCheck.OK, 3) == ("75", None)
    assert verdict(None, 3) == ("75", None)
    assert verdict(PinCheck.OK, 2) == ("00", 0)
    assert verdict(PinCheck.UNREADABLE, 0) == ("30", None)
    expired = purchase("EDH-EXPIRED")
    decision = authorize(expired, terminal=ALGIERS, signed_on=True, cards=CARDS, position=RICH,
                         now=NOW, pin=PinCheck.WRONG)  # fmt: skip
    assert (decision.code, decision.pin_failures) == ("54", None)  # an unusable card first


def test_cryptogram_rules() -> None:
    """Bad DE55 → 30; ARQC fails → 05; ATC not above the last one → 05; a good ARQC is
    approved and its ATC is recorded, even when the PIN is then wrong."""
    request = purchase("EDH-VALID")

    def verdict(arqc: ArqcCheck | None, atc: int | None, last: int | None,
                pin: PinCheck | None = None) -> tuple[str, str, int | None]:  # fmt: skip
        decision = authorize(request, terminal=ALGIERS, signed_on=True, cards=CARDS,
                             position=RICH, now=NOW, arqc=arqc, atc=atc, last_atc=last,
                             pin=pin)  # fmt: skip
        return decision.code, decision.reason, decision.atc

    assert verdict(ArqcCheck.OK, 5, 4) == ("00", "approved", 5)
    assert verdict(ArqcCheck.OK, 1, None) == ("00", "approved", 1)
    assert verdict(ArqcCheck.OK, 4, 4) == ("05", "ATC replayed", None)
    assert verdict(ArqcCheck.OK, 3, 4) == ("05", "ATC replayed", None)
    assert verdict(ArqcCheck.FAILED, None, 4) == ("05", "ARQC does not verify", None)
    assert verdict(ArqcCheck.MALFORMED, None, None) == ("30", "DE55 incomplete", None)
    assert verdict(ArqcCheck.OK, 6, 5, PinCheck.WRONG) == ("55", "incorrect PIN", 6)
    assert verdict(None, None, 9) == ("00", "approved", None)


@pytest.mark.parametrize(
    ("cvv", "code", "reason"),
    [(CvvCheck.OK, "00", "approved"), (CvvCheck.WRONG_CVV, "05", "CVV mismatch"),
     (CvvCheck.WRONG_CVV2, "05", "CVV2 mismatch"), (CvvCheck.TRACK_MISSING, "30", "DE35 missing"),
     (CvvCheck.TRACK_MISMATCH, "30", "DE35 differs from DE2"),
     (CvvCheck.CVV2_MISSING, "30", "DE48 (CVV2) missing")],
)  # fmt: skip
def test_card_code_rules(cvv: CvvCheck, code: str, reason: str) -> None:
    """Magstripe CVV / keyed CVV2 verdicts map to 05 (wrong) or 30 (field missing/wrong)."""
    decision = authorize(purchase("EDH-VALID"), terminal=ALGIERS, signed_on=True, cards=CARDS,
                         position=RICH, now=NOW, cvv=cvv)  # fmt: skip
    assert (decision.code, decision.reason) == (code, reason)
