"""MAC edges: the retail MAC key is exactly K1 ‖ K2."""

from __future__ import annotations

import re

import pytest

from cards.crypto import retail_mac


@pytest.mark.parametrize("size", [0, 8, 15, 17, 24])
def test_retail_mac_key_is_16_bytes(size: int) -> None:
    """A single-DES or a three-key TDES key is not a retail MAC key."""
    message = re.escape("a retail MAC key is 16 bytes (K1 ‖ K2)")
    with pytest.raises(ValueError, match=f"^{message}$"):
        retail_mac(bytes(size), b"hello world")
