"""The mutation tool (tests/mutation, docs/testing.md): it finds the mutants it promises, leaves
docstrings, log calls and annotations alone, plants exactly one bug, and the bugs planted by
hand are each caught by the test named for them."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
import tomllib
from pathlib import Path

from tests.mutation.changes import changed_since
from tests.mutation.operators import Mutant, mutated_sql, mutated_tree, python_mutants, sql_mutants

ROOT = Path(__file__).resolve().parents[3]

SAMPLE = '''
"""A module docstring, never mutated."""
import logging

log = logging.getLogger(__name__)
LIMIT = 5


def check(amount: int, balance: int) -> str:
    """A docstring."""
    log.info("checking %d", amount * 2)
    if amount <= 0:
        return "13"
    if balance < amount and not False:
        return "51"
    audit(amount)
    return "00"
'''


def _sample(tmp_path: Path) -> list[Mutant]:
    (tmp_path / "sample.py").write_text(SAMPLE, "utf-8")
    return python_mutants(tmp_path, "sample.py")


def test_each_operator_finds_its_sites_and_nothing_else(tmp_path: Path) -> None:
    found = {(m.scope, m.line, m.description) for m in _sample(tmp_path)}
    assert found == {
        ("LIMIT", 6, "5  ->  6"),
        ("check", 12, "delete the guard"),
        ("check", 12, "swap with the next guard"),
        ("check", 12, "<=  ->  <"),
        ("check", 12, "<= bound  ->  bound + 1"),
        ("check", 12, "0  ->  1"),
        ("check", 13, "'13'  ->  'ZZ'"),
        ("check", 14, "delete the guard"),
        ("check", 14, "and  ->  or"),
        ("check", 14, "<  ->  <="),
        ("check", 14, "< bound  ->  bound + 1"),
        ("check", 14, "drop `not`"),
        ("check", 14, "False  ->  True"),
        ("check", 15, "'51'  ->  'ZZ'"),
        ("check", 16, "delete the call"),
        ("check", 17, "'00'  ->  'ZZ'"),
    }, "the log call (line 11), docstrings and annotations are never mutated"


def test_a_mutant_changes_exactly_its_site(tmp_path: Path) -> None:
    mutants = _sample(tmp_path)
    bound = next(m for m in mutants if m.description == "< bound  ->  bound + 1")
    text = ast.unparse(mutated_tree(tmp_path, bound))
    assert "balance < amount + 1" in text and text.count("+ 1") == 1
    swap = next(m for m in mutants if m.description == "swap with the next guard")
    body = mutated_tree(tmp_path, swap).body[-1]
    assert isinstance(body, ast.FunctionDef)
    assert [ast.unparse(s.test) for s in body.body if isinstance(s, ast.If)] == [
        "balance < amount and (not False)",
        "amount <= 0",
    ]
    assert len({m.key for m in mutants}) == len(mutants), "every mutant has a key of its own"


def test_sql_mutants_touch_rules_only(tmp_path: Path) -> None:
    (tmp_path / "s.sql").write_text(
        "CREATE TABLE t (\n    a INTEGER CHECK (a >= 0),\n    b TEXT\n);\n"
        "SELECT 1 WHERE 2 < 3;\n"
        "CREATE TRIGGER r BEFORE INSERT ON t BEGIN\n"
        "    SELECT CASE\n"
        "        WHEN NEW.a > NEW.b THEN RAISE(ABORT, 'too_big')\n"
        "    END;\n"
        "END;\n",
        "utf-8",
    )
    mutants = sql_mutants(tmp_path, "s.sql")
    assert {(m.line, m.description) for m in mutants} == {
        (2, ">=  ->  >"),
        (8, ">  ->  >="),
        (8, "NEW.b  ->  NEW.b + 1"),
        (8, "delete the rule"),
    }, "line 5 is no rule; the CREATE lines are not mutated"
    deleted = next(m for m in mutants if m.description == "delete the rule")
    assert "too_big" not in mutated_sql(tmp_path, deleted)


def test_the_bugs_planted_by_hand_are_each_caught_by_their_test() -> None:
    """`scripts/mutate --planted`: issue 22's examples, planted one at a time in a forked
    child, are each killed by the test planted.toml names (and the tool says so: exit 0)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-m", "tests.mutation", "--planted", "--no-record"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    planted = tomllib.loads((ROOT / "tests/mutation/planted.toml").read_text("utf-8"))
    assert done.stdout.count("  killed ") == len(planted["planted"]) >= 7, done.stdout


def _git(repo: Path, *args: str) -> None:
    subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", *args], cwd=repo,
                   check=True, capture_output=True)  # fmt: skip


def test_a_module_only_moved_or_reimported_has_not_changed(tmp_path: Path) -> None:
    """--changed follows renames and sets imports and docstrings aside: a package reorganised
    leaves its modules unchanged; new code, a changed body and a changed SQL rule count."""
    _git(tmp_path, "init", "-q")
    (tmp_path / "rules.py").write_text(f"from old import x\n{SAMPLE}", "utf-8")
    (tmp_path / "other.py").write_text(SAMPLE, "utf-8")
    (tmp_path / "schema.sql").write_text("CHECK (amount > 0)\n", "utf-8")
    _git(tmp_path, "add", "-A")
    _git(tmp_path, "commit", "-qm", "before")
    (tmp_path / "pkg").mkdir()
    moved = SAMPLE.replace('"""A docstring."""', '"""Another docstring."""')
    (tmp_path / "pkg" / "rules.py").write_text(f"from new.place import x\n{moved}", "utf-8")
    (tmp_path / "rules.py").unlink()
    (tmp_path / "other.py").write_text(SAMPLE.replace("amount <= 0", "amount < 0"), "utf-8")
    (tmp_path / "schema.sql").write_text("CHECK (amount >= 0)\n", "utf-8")
    (tmp_path / "new.py").write_text("X = 1\n", "utf-8")
    _git(tmp_path, "add", "-A")
    assert changed_since("HEAD", tmp_path) == {"other.py", "schema.sql", "new.py"}
