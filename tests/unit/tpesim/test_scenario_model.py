"""Scenario files: a bad one is refused with the place and the reason."""

from __future__ import annotations

from pathlib import Path

import pytest

from tpesim.scenario import ScenarioError, load_scenario, run_scenario

GOOD = """
name: ok
terminals: [DZAL0001]
steps:
  - {terminal: DZAL0001, action: preauth, label: p, card: EDH-VALID, amount: "10,00"}
  - {terminal: DZAL0001, action: complete, of: p, amount: "5,00", expect: "00"}
"""


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (GOOD.replace("of: p", "of: q"), "no earlier step labelled 'q'"),
        (GOOD.replace("card: EDH-VALID, ", ""), "preauth needs card"),
        (GOOD.replace('expect: "00"', "expect: maybe"), "steps.1.expect"),
        (
            GOOD.replace(
                "terminal: DZAL0001, action: complete", "terminal: DZOR0001, action: complete"
            ),
            "terminal DZOR0001 is not in terminals",
        ),
        ("name: [", "while parsing"),
        (GOOD.replace('amount: "10,00"', 'amount: "1e3"'), "amount '1e3' is not an amount"),
        (GOOD.replace('amount: "10,00"', "amount: 1e3"), "amount '1e3' is not an amount"),
        (GOOD.replace('amount: "10,00"', "amount: 10.5"), "steps.0.amount"),
        (GOOD.replace('amount: "10,00"', 'amount: "-10"'), "amount '-10' is not an amount"),
        (GOOD.replace('amount: "10,00"', 'amount: "magic:9"'), "amount 'magic:9'"),
    ],
)
def test_bad_scenarios_are_refused_clearly(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "scenario.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ScenarioError, match=message.replace("(", r"\(").replace(".", r"\.")):
        load_scenario(path)


def test_a_good_scenario_loads(tmp_path: Path) -> None:
    path = tmp_path / "scenario.yaml"
    path.write_text(GOOD, encoding="utf-8")
    scenario = load_scenario(path)
    assert [s.action for s in scenario.steps] == ["preauth", "complete"]
    assert scenario.steps[1].describe() == "DZAL0001 complete amount=5,00 of=p"


@pytest.mark.parametrize(("amount", "message"), [
    ("10000000000", "too large an amount"),
    ("1,234", "more than 2 decimals for DZD"),
])  # fmt: skip
async def test_an_amount_its_terminal_cannot_take_is_refused_before_the_run(
    tmp_path: Path, amount: str, message: str
) -> None:
    """Checked against the terminal's currency when the scenario starts, before any broker,
    switch or sale: a ScenarioError naming the step, not a traceback halfway through."""
    path = tmp_path / "scenario.yaml"
    path.write_text(GOOD.replace('"10,00"', f'"{amount}"'), encoding="utf-8")
    with pytest.raises(ScenarioError, match=f"step 1: .*{message}"):
        await run_scenario(load_scenario(path), workdir=tmp_path / "run")
