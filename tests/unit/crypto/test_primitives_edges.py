"""Block-cipher primitive edges: whole blocks only, keys of the right length, XOR of equals,
and the CVV's and TOTP's bounds."""

from __future__ import annotations

import pytest

from cards.crypto import primitives
from cards.crypto.cvv import card_verification_value
from cards.crypto.emv import arpc_method_1
from cards.crypto.mac import retail_mac
from cards.crypto.otp import totp, totp_matches
from cards.crypto.primitives import (
    aes_decrypt_block,
    aes_encrypt_block,
    des_decrypt,
    des_encrypt,
    tdes_cbc_encrypt,
    tdes_decrypt,
    tdes_encrypt,
    xor,
)

TDES_KEY = bytes(range(16))
AES_KEY = bytes(range(16))


def test_xor_refuses_strings_of_two_lengths() -> None:
    with pytest.raises(ValueError, match=r"^xor of 2 and 1 bytes$"):
        xor(b"\x01\x02", b"\x03")
    with pytest.raises(ValueError, match=r"^xor of 1 and 2 bytes$"):
        xor(b"\x03", b"\x01\x02")
    assert xor(b"\x0f\xf0", b"\xff\xff") == b"\xf0\x0f"


@pytest.mark.parametrize("size", [0, 1, 7, 9, 15])
@pytest.mark.parametrize("cipher", [tdes_encrypt, tdes_decrypt, tdes_cbc_encrypt])
def test_des_ciphers_take_whole_8_byte_blocks(cipher: object, size: int) -> None:
    with pytest.raises(ValueError, match=f"non-empty multiple of 8 bytes, not {size}$"):
        cipher(TDES_KEY, bytes(size))  # type: ignore[operator]


@pytest.mark.parametrize("size", [0, 8, 15, 17])
@pytest.mark.parametrize("cipher", [aes_encrypt_block, aes_decrypt_block])
def test_aes_takes_whole_16_byte_blocks(cipher: object, size: int) -> None:
    with pytest.raises(ValueError, match=f"non-empty multiple of 16 bytes, not {size}$"):
        cipher(AES_KEY, bytes(size))  # type: ignore[operator]


@pytest.mark.parametrize("cipher", [des_encrypt, des_decrypt])
@pytest.mark.parametrize("size", [16, 24])
def test_single_des_takes_an_8_byte_key_only(cipher: object, size: int) -> None:
    with pytest.raises(ValueError, match=r"^a single-DES key is 8 bytes$"):
        cipher(bytes(size), bytes(8))  # type: ignore[operator]


@pytest.mark.parametrize(
    ("cvk", "expiry", "message"),
    [(bytes(24), "2812", "a CVK pair is 16 bytes"), (bytes(8), "2812", "a CVK pair is 16 bytes"),
     (bytes(24), "281", "a CVK pair is 16 bytes"),  # both wrong: the key is named first
     (bytes(16), "281", "expiry is YYMM")],
)  # fmt: skip
def test_a_cvv_needs_a_key_pair_and_a_yymm_expiry(cvk: bytes, expiry: str, message: str) -> None:
    with pytest.raises(ValueError, match=f"^{message}"):
        card_verification_value(cvk, "4123456789012345", expiry, "101")


def test_a_cvv_input_longer_than_two_blocks_is_refused() -> None:
    """26 PAN digits, YYMM and a service code make 33 digits: more than two DES blocks."""
    with pytest.raises(ValueError, match=r"^PAN, expiry and service code exceed 32 digits$"):
        card_verification_value(bytes(16), "1" * 26, "2812", "101")
    assert len(card_verification_value(bytes(16), "1" * 25, "2812", "101")) == 3


SECRET = b"12345678901234567890"


@pytest.mark.parametrize(("drift_s", "matches"), [(-90, False), (-60, False), (-30, True),
                                                   (0, True), (30, True), (60, False)])  # fmt: skip
def test_a_totp_code_holds_one_step_either_side_and_no_more(drift_s: int, matches: bool) -> None:
    """1 000 005 s is 15 s into its step: +-30 s is the next or previous step, +-60 s two away."""
    code = totp(SECRET, 1_000_005)
    assert totp_matches(SECRET, code, 1_000_005 + drift_s) is matches


@pytest.mark.parametrize("single", [False, True])
def test_a_one_shot_key_gives_the_same_blocks_and_leaves_the_kept_contexts_alone(
    single: bool,
) -> None:
    """``keep=False`` (a session's key): the same ciphertext and plaintext as a kept key,
    and the LRU of contexts neither gains an entry nor loses the keys that come back."""
    key = bytes(range(40, 48)) if single else bytes(range(40, 56))
    encrypt, decrypt = (des_encrypt, des_decrypt) if single else (tdes_encrypt, tdes_decrypt)
    block = bytes(range(8))
    primitives._tdes_ecb.cache_clear()
    kept = tdes_encrypt(TDES_KEY, block)  # a key that comes back
    assert primitives._tdes_ecb.cache_info().currsize == 1
    sealed = encrypt(key, block, keep=False)
    assert decrypt(key, sealed, keep=False) == block
    assert primitives._tdes_ecb.cache_info().currsize == 1  # nothing of the one-shot key
    assert sealed == encrypt(key, block) and decrypt(key, sealed) == block  # kept: the same
    assert primitives._tdes_ecb.cache_info().currsize == 3
    hits = primitives._tdes_ecb.cache_info().hits
    assert tdes_encrypt(TDES_KEY, block) == kept
    assert primitives._tdes_ecb.cache_info().hits == hits + 1


def test_a_chip_sessions_mac_and_arpc_keep_no_context() -> None:
    """The retail MAC of an ARQC and the ARPC are computed under a session key used once:
    neither leaves a context in the LRU (which keeps the keys that come back)."""
    session_key = bytes(range(100, 116))
    primitives._tdes_ecb.cache_clear()
    cryptogram = retail_mac(session_key, b"amount, country, TVR", padding=2)
    arpc = arpc_method_1(session_key, cryptogram, b"00")
    assert primitives._tdes_ecb.cache_info().currsize == 0
    assert len(cryptogram) == len(arpc) == 8
