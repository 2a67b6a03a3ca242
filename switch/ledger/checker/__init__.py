"""The ledger invariant checker: every invariant of the money (``check``), those of the card
flows (``flows``), read through one small database interface (``db``)."""
