"""The ledger tables' CHECK constraints, on SQLite and PostgreSQL, each at its edge: the row
just inside is accepted and the row just outside refused.

A transfer written by a batch (``batch = 1``: the bulk writer checks its rules set-based) is not
seen by the per-row rule triggers, so for such rows the CHECKs are the database's only wall;
these inserts are batch rows. The other tables' CHECKs are the wall for any writer."""

from __future__ import annotations

import pytest

from tests.ledgers import LATE_US, LedgerBackend, insert_statement
from tests.unit.ledger.test_ledger import HOLD, sound_ledger  # noqa: F401 - the fixture

AT = LATE_US
ROW = {
    "kind": "'adjustment'", "phase": "'single'", "pending_id": "NULL",
    "debit_account": "'issuer:algerie-poste:DZD'", "credit_account": "'CCP-0001001'",
    "amount": "1", "currency": "'DZD'", "timeout_s": "0", "at_us": str(AT),
    "expires_us": "NULL", "digest": "''", "settlement_run": "NULL", "batch": "1",
}  # fmt: skip
"""A batch row every CHECK accepts; each case changes some of its columns."""


def _transfer(transfer_id: str, **changes: str) -> str:
    return insert_statement("transfers", {"id": f"'{transfer_id}'", **ROW, **changes})


INSIDE = {
    "as is": {},
    "timeout 0": {"timeout_s": "0"},
    "a clearing kind outside a run": {"kind": "'clearing'"},
    "more than the card has (checked set-based by the batch, not per row)": {
        "debit_account": "'CCP-0001001'", "credit_account": "'issuer:algerie-poste:DZD'",
        "amount": "15000001"},
    "a hold with its deadline": {"phase": "'pending'", "timeout_s": "30",
                                 "expires_us": str(AT + 30_000_000)},
}  # fmt: skip
OUTSIDE = {
    "amount 0": {"amount": "0"},
    "timeout -1": {"timeout_s": "-1"},
    "batch 2": {"batch": "2"},
    "a clear outside a run": {"phase": "'clear'"},
    "a run's clearing not a clear": {"kind": "'clearing'", "settlement_run": "'r1'"},
    "a deadline on a single": {"expires_us": str(AT)},
    "a hold's deadline off by 1 µs": {"phase": "'pending'", "timeout_s": "30",
                                     "expires_us": str(AT + 30_000_001)},
}  # fmt: skip


@pytest.mark.parametrize("case", INSIDE)
async def test_a_batch_transfer_inside_every_check_is_accepted(
    sound_ledger: LedgerBackend,  # noqa: F811 - the fixture
    case: str,
) -> None:
    await sound_ledger.raw([_transfer("inside", **INSIDE[case])])


@pytest.mark.parametrize("case", OUTSIDE)
async def test_a_batch_transfer_outside_a_check_is_refused(
    sound_ledger: LedgerBackend,  # noqa: F811 - the fixture
    case: str,
) -> None:
    with pytest.raises(sound_ledger.integrity_error):
        await sound_ledger.raw([_transfer("outside", **OUTSIDE[case])])


_FLAGGED = "UPDATE accounts SET debits_pending = credits_posted - debits_posted + {extra} " \
    "WHERE id = 'CCP-0001001'"  # fmt: skip
_ADVICE = ("INSERT INTO standin_advices VALUES ('{hold}', 'algerie-poste', 'EDH-VALID', "
           "'CCP-0001001', {amount}, '2026-11-23', 'now')")  # fmt: skip
_REPLAY = "INSERT INTO standin_replays VALUES ('{hold}', {trued}, {shortfall}, 'now')"
_PINS = "INSERT INTO card_security (card_id, pin_failures, updated_at) VALUES ('X', {n}, 'now')"

OTHER_TABLES = {
    "a cardholder spending all it has": ([_FLAGGED.format(extra=0)], True),
    "a cardholder spending one unit more": ([_FLAGGED.format(extra=1)], False),
    "a stand-in advice of 1": ([_ADVICE.format(hold=HOLD, amount=1)], True),
    "a stand-in advice of 0": ([_ADVICE.format(hold=HOLD, amount=0)], False),
    "a replay trued 0, short 0": ([_ADVICE.format(hold=HOLD, amount=1),
                                   _REPLAY.format(hold=HOLD, trued=0, shortfall=0)], True),
    "a replay trued -1": ([_ADVICE.format(hold=HOLD, amount=1),
                           _REPLAY.format(hold=HOLD, trued=-1, shortfall=0)], False),
    "a replay short -1": ([_ADVICE.format(hold=HOLD, amount=1),
                           _REPLAY.format(hold=HOLD, trued=0, shortfall=-1)], False),
    "no wrong PIN yet": ([_PINS.format(n=0)], True),
    "minus one wrong PIN": ([_PINS.format(n=-1)], False),
}  # fmt: skip


@pytest.mark.parametrize("case", OTHER_TABLES)
async def test_the_other_tables_checks_at_their_edges(
    sound_ledger: LedgerBackend,  # noqa: F811 - the fixture
    case: str,
) -> None:
    statements, accepted = OTHER_TABLES[case]
    if accepted:
        await sound_ledger.raw(statements)
    else:
        with pytest.raises(sound_ledger.integrity_error):
            await sound_ledger.raw(statements)
