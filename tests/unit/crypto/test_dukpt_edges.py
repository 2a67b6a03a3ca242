"""DUKPT edges: the AES-256 BDK vectors of the X9.24-3:2017 supplement, AES-192 and TDES key
types against the standard's derivation data written out by hand, and the KSN, key and counter
limits of both schemes (X9.24-1:2009, X9.24-3:2017)."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from cards.crypto import dukpt_aes, dukpt_tdes
from cards.crypto.dukpt_aes import KeyAlgorithm, KeyUsage

h = bytes.fromhex
IKID = h("1234567890123456")
AES128_BDK = h("FEDCBA9876543210F1F1F1F1F1F1F1F1")
AES256_BDK = AES128_BDK * 2
# X9.24-3:2017 supplement, AES-256 BDK (as carried by openemv/dukpt test/dukpt_aes256_test.c).
AES256_IK = h("CE9CE0C101D1138F97FB6CAD4DF045A7083D4EAE2D35A31789D01CCF0949550F")
AES256_TRANSACTION_KEYS = {
    0x00000001: "54AC2B32B145EA4A554CB8BC44B17467063A799856B1CCC2A138D36E8DBF78B3",
    0x00000002: "5DD5A0253842BBBE1D7C0DA27021412C6F1FAB53FB928DEAE56DA06090A9DE97",
    0x00000003: "8EEEF7C464AE415BB1D73FAED21993CD669F7999092A579EC6DD3CC680C65171",
    0x00000004: "C18CBED570B3B89ECADA7CEC9C224CD5A86ECF3DE377D3EFAB720F8C4D76B9D0",
    0x00000005: "6B3C3C93307151C25DC2309456F01C5C3108DAD571C321899A9B7E0C009FD2EB",
    0x00000006: "B8BB61AE3E2D5CD8C699E0C578FB2C7B89B0C0CF02DBAB60864D8049C986C844",
    0x00000007: "88D0ACA287B3066F5DE0C93396337D4C2DA8D92C1F720A576D62CEB4C979E01E",
    0x00000008: "20A796D5077D51B8E7613893A4F095B134E02917DC84BD391F3661D0873FF308",
    0x0001FFFE: "A289508CBF1228452CD86AB77B15CB35577AC828C18BB66681E5A16D6C9CCED3",
    0x00020000: "D62DDA94A47D7DA5D763443B4ECB15EA8DD62E0E4F915958BA459591F8312E37",
    0x00020001: "44110A1102748D4A3AC326F53D8CAC650212590CA7126D54546DDE0F20E89CEE",
    0xFFFE2000: "4625EB06E4886D4AFCC9AE37ED4F4E4E1653C9E60E3F24742A87A26AA96AB7A6",
    0xFFFE4000: "FF20E1BB575539ACCB44E3111BE8757F83AE8549A2DD71B441A4A424F7FFD4B1",
    0xFFFE8000: "630535C9C53E1EC6524016930B56F6728909C45403536B419AEBCB25B7351C07",
    0xFFFF0000: "6D6DB7AAAE8B3EA90E57A39E4BBA71E173B21B446B30A78D64BFC6A8806C55EE",
}
AES_COUNTER_RULE = re.escape("a transaction KSN counter is 1 .. with at most 16 one bits")


def aes_ecb(key: bytes, *blocks: str) -> bytes:
    """AES-ECB of the given hex blocks, straight from ``cryptography`` (the test's own path)."""
    encryptor = Cipher(algorithms.AES(key), modes.ECB()).encryptor()
    return b"".join(encryptor.update(h(block)) for block in blocks)


def test_aes256_bdk_supplement_vectors() -> None:
    """AES-256 BDK: the 32-byte initial key and transaction keys from counter 1 to 0xFFFF0000."""
    ik = dukpt_aes.initial_key(AES256_BDK, IKID)
    assert ik == AES256_IK
    for counter, key in AES256_TRANSACTION_KEYS.items():
        ksn = IKID + counter.to_bytes(4, "big")
        assert dukpt_aes.transaction_key(ik, ksn) == h(key), hex(counter)


def test_key_algorithm_lengths() -> None:
    """X9.24-3 key types and their lengths in bits: 2TDEA 128, 3TDEA 192, AES 128/192/256."""
    assert {algorithm.name: algorithm.bits for algorithm in KeyAlgorithm} == {
        "TDES_2KEY": 128, "TDES_3KEY": 192, "AES128": 128, "AES192": 192, "AES256": 256,
    }  # fmt: skip


def test_aes192_bdk_initial_and_transaction_key_follow_the_derivation_data() -> None:
    """A 24-byte BDK derives a 24-byte initial key: two blocks of derivation data
    01 <block> 8001 (initial key) 0003 (AES-192) 00C0 (192 bits) ‖ IK-ID, cut to 24 bytes;
    its first transaction key uses usage 8000 and derivation ID ‖ counter."""
    bdk = bytes(range(24))
    ik = dukpt_aes.initial_key(bdk, IKID)
    tail = IKID.hex()
    assert ik == aes_ecb(bdk, f"01018001000300C0{tail}", f"01028001000300C0{tail}")[:24]
    ksn = IKID + (1).to_bytes(4, "big")
    blocks = ["01018000000300C0 90123456 00000001", "01028000000300C0 90123456 00000001"]
    assert dukpt_aes.transaction_key(ik, ksn) == aes_ecb(ik, *blocks)[:24]


@pytest.mark.parametrize(
    ("algorithm", "header", "blocks", "size"),
    [(KeyAlgorithm.TDES_2KEY, "2000 0000 0080", 1, 16),
     (KeyAlgorithm.TDES_3KEY, "2000 0001 00C0", 2, 24),
     (KeyAlgorithm.AES128, "2000 0002 0080", 1, 16),
     (KeyAlgorithm.AES192, "2000 0003 00C0", 2, 24),
     (KeyAlgorithm.AES256, "2000 0004 0100", 2, 32)],
)  # fmt: skip
def test_working_key_of_each_type_follows_the_derivation_data(
    algorithm: KeyAlgorithm, header: str, blocks: int, size: int
) -> None:
    """A MAC generation key of each type from AES-128 transaction key #1: usage 2000, the
    algorithm, its length in bits, then derivation ID ‖ counter; as many AES blocks as the
    key needs, cut to the key's length."""
    ik = dukpt_aes.initial_key(AES128_BDK, IKID)
    ksn = IKID + (1).to_bytes(4, "big")
    txn_key = dukpt_aes.transaction_key(ik, ksn)
    data = [f"01{n:02X}{header.replace(' ', '')}9012345600000001" for n in range(1, blocks + 1)]
    key = dukpt_aes.working_key(txn_key, ksn, KeyUsage.MAC_GENERATION, algorithm)
    assert len(key) == size
    assert key == aes_ecb(txn_key, *data)[:size]


@pytest.mark.parametrize("size", [0, 8, 20, 33])
def test_aes_bdk_of_another_length_is_refused(size: int) -> None:
    """Only 16-, 24- and 32-byte AES keys."""
    with pytest.raises(ValueError, match=r"^an AES DUKPT key is 16, 24 or 32 bytes$"):
        dukpt_aes.initial_key(bytes(size), IKID)


@pytest.mark.parametrize("size", [7, 9])
def test_aes_initial_key_id_is_8_bytes(size: int) -> None:
    """BDK ID ‖ derivation ID, no more, no less."""
    with pytest.raises(ValueError, match=r"^an initial key ID is 8 bytes$"):
        dukpt_aes.initial_key(AES128_BDK, bytes(size))


@pytest.mark.parametrize("size", [11, 13])
def test_aes_ksn_is_12_bytes(size: int) -> None:
    """Every KSN reader refuses 11 and 13 bytes."""
    ik = dukpt_aes.initial_key(AES128_BDK, IKID)
    ksn = IKID + bytes(size - 9) + b"\x01"
    calls: list[Callable[[], object]] = [
        lambda: dukpt_aes.ksn_counter(ksn),
        lambda: dukpt_aes.next_ksn(ksn),
        lambda: dukpt_aes.transaction_key(ik, ksn),
        lambda: dukpt_aes.working_key(ik, ksn, KeyUsage.PIN_ENCRYPTION),
    ]
    for call in calls:
        with pytest.raises(ValueError, match=r"^an AES DUKPT KSN is 12 bytes$"):
            call()


@pytest.mark.parametrize("counter", [0, 0x0001FFFF, 0xFFFF8000, 0xFFFFFFFF])
def test_aes_transaction_counter_is_1_or_more_with_at_most_16_one_bits(counter: int) -> None:
    """Counter 0 is the initial KSN, not a transaction; 17 or more one bits are never used."""
    ik = dukpt_aes.initial_key(AES128_BDK, IKID)
    with pytest.raises(ValueError, match=f"^{AES_COUNTER_RULE}$"):
        dukpt_aes.transaction_key(ik, IKID + counter.to_bytes(4, "big"))


def test_tdes_counter_constants_agree() -> None:
    """The counter is the low 21 bits of the KSN (X9.24-1), and the mask is exactly those."""
    assert dukpt_tdes.COUNTER_BITS == 21
    assert dukpt_tdes.COUNTER_MASK == (1 << dukpt_tdes.COUNTER_BITS) - 1 == 0x1FFFFF
    assert dukpt_tdes.ksn_counter(b"\xff" * 10) == 0x1FFFFF


@pytest.mark.parametrize("size", [9, 11])
def test_tdes_ksn_is_10_bytes(size: int) -> None:
    """Every KSN reader refuses 9 and 11 bytes."""
    bdk = h("0123456789ABCDEFFEDCBA9876543210")
    ipek = h("6AC292FAA1315B4D858AB3A3D7D5933A")
    ksn = b"\xff" * (size - 1) + b"\x01"
    calls: list[Callable[[], object]] = [
        lambda: dukpt_tdes.ksn_counter(ksn),
        lambda: dukpt_tdes.next_ksn(ksn),
        lambda: dukpt_tdes.initial_key(bdk, ksn),
        lambda: dukpt_tdes.transaction_key(ipek, ksn),
    ]
    for call in calls:
        with pytest.raises(ValueError, match=r"^a TDES DUKPT KSN is 10 bytes$"):
            call()


@pytest.mark.parametrize("size", [8, 24])
def test_tdes_bdk_is_16_bytes(size: int) -> None:
    """Only double-length BDKs, as X9.24-1 DUKPT defines."""
    with pytest.raises(ValueError, match=r"^a TDES BDK is 16 bytes$"):
        dukpt_tdes.initial_key(bytes(size), h("FFFF9876543210E00000"))
