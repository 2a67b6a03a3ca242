"""`tpesim cards issue`: a seeded card set with its keys apart, usable end to end."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest

from cards import load_card_set, luhn_is_valid
from cards.holders import load_holders
from switch.security import SecurityModule, load_keys
from tests.conftest import MosquittoProcess
from tpesim.issue import issue_card_set

TODAY = date(2026, 11, 23)


def test_issue_is_seeded_and_keeps_keys_apart(tmp_path: Path) -> None:
    """Same seed → same files; cards carry PVVs of the holders' PINs, never a key."""
    first = issue_card_set(product_id="cib", count=25, seed=4, today=TODAY)
    again = issue_card_set(product_id="cib", count=25, seed=4, today=TODAY)
    other = issue_card_set(product_id="cib", count=25, seed=5, today=TODAY)
    assert (first.cards_yaml, first.keys_yaml) == (again.cards_yaml, again.keys_yaml)
    assert first.cards_yaml != other.cards_yaml and first.keys_yaml != other.keys_yaml
    cards_file, holders_file, keys_file = first.write(tmp_path)
    cards, holders, keys = (load_card_set(cards_file), load_holders(holders_file),
                            load_keys(keys_file))  # fmt: skip
    assert len(cards.cards) == 25 == len({c.pan for c in cards.cards})
    issuer = keys.issuer("banque-cib")
    for secret in (issuer.imk_ac, issuer.pvk, issuer.cvk):
        assert secret.hex().upper() not in first.cards_yaml
    security = SecurityModule(keys)
    for card in cards.cards:
        assert luhn_is_valid(card.pan) and card.pan.startswith("990012")
        assert card.pvv == security.pvv("banque-cib", card.pan, holders.holder_pin(card.id))
        assert card.expiry > "2027-11"
    with pytest.raises(ValueError, match="unknown product"):
        issue_card_set(product_id="visa-gold", count=1, seed=1, today=TODAY)


@pytest.mark.integration
def test_issued_set_runs_the_demo(mosquitto: MosquittoProcess, tmp_path: Path) -> None:
    """`tpesim cards issue` then `tpesim demo --cards --keys --holders`: the switch verifies
    PINs and cryptograms with the generated keys, and the ledger balances."""
    out = tmp_path / "set"
    issue = subprocess.run(
        [sys.executable, "-m", "tpesim", "cards", "issue", "--product", "edahabia",
         "--count", "12", "--seed", "9", "--out", str(out)],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert issue.returncode == 0, issue.stderr
    assert sorted(p.name for p in out.iterdir()) == ["cards.yaml", "holders.yaml", "keys.yaml"]
    demo = subprocess.run(
        [sys.executable, "-m", "tpesim", "demo", "--broker", str(mosquitto.url),
         "--terminals", "2", "--transactions", "30", "--seed", "2", "--timeout", "2",
         "--cards", str(out / "cards.yaml"), "--keys", str(out / "keys.yaml"),
         "--holders", str(out / "holders.yaml"), "--workdir", str(tmp_path / "run"), "--json"],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert demo.returncode == 0, demo.stderr
    summary = json.loads(demo.stdout)
    # Everyday chip + PIN purchases, plus the plan's below-minimum (13), wrong-PIN (55),
    # tampered-MAC (63) and cloned-card (05) ones.
    assert set(summary["responses"]) <= {"00", "05", "13", "55", "63"}
    assert summary["approved"] >= 25
    assert summary["ledger"]["ok"] is True
