"""Published test vectors (shared/domain/cards-iso8583-crypto.md appendix A, ANSI X9.24-1:2009
A.4 and the X9.24-3:2017 supplement)."""

from __future__ import annotations

import pytest

from cards.crypto import (
    card_verification_value,
    decipher_iso4,
    dukpt_aes,
    dukpt_tdes,
    emv,
    encipher_iso4,
    encode_iso0,
    ibm3624_offset,
    key_check_value,
    retail_mac,
    tdes_encrypt,
    visa_pvv,
)
from cards.crypto.mac import aes_cmac
from cards.crypto.pinblock import iso4_pan_field, iso4_pin_field
from cards.crypto.primitives import aes_decrypt_block, aes_encrypt_block, tdes_decrypt

h = bytes.fromhex
DOUBLE_KEY = h("0123456789ABCDEFFEDCBA9876543210")


def test_key_check_value() -> None:
    """KCV of 0123…3210 is 08D7."""
    assert key_check_value(DOUBLE_KEY, 2) == h("08D7")


@pytest.mark.parametrize(
    ("pin", "pan", "block"),
    [("1234", "5555555551234567", "041261AAAAEDCBA9"),
     ("123456789012", "5555555551234567", "0C1261032D8226A9"),
     ("1234", "4012345678909", "041274EDCBA9876F")],
)  # fmt: skip
def test_iso0_pin_block(pin: str, pan: str, block: str) -> None:
    """ISO 9564 format 0 blocks (psec; X9.24-1 A.4)."""
    assert encode_iso0(pin, pan) == h(block)


def test_iso4_fields_and_block() -> None:
    """ISO format 4 PIN/PAN fields (X9.24-3 supplement) and enciphered block (psec)."""
    assert iso4_pin_field("1234", h("2F69ADDE2E9E7ACE")) == h("441234AAAAAAAAAA2F69ADDE2E9E7ACE")
    assert iso4_pan_field("4111111111111111") == h("44111111111111111000000000000000")
    assert iso4_pan_field("112233445566778899") == h("61122334455667788990000000000000")
    key = h("00112233445566778899AABBCCDDEEFF")
    block = encipher_iso4(key, "1234", "1234567890123456789", b"\xff" * 8)
    assert block == h("28B41FDDD29B743E93124BD8E32D921E")
    assert decipher_iso4(key, block, "1234567890123456789") == "1234"


@pytest.mark.parametrize(
    ("pvki", "pin", "pan", "pvv"),
    [(1, "4524", "1122334455667788", "8523"), (2, "1912", "1122334455667788", "3244"),
     (1, "0570", "1122334455667718", "3144"), (1, "8299", "1122334455667708", "4422")],
)  # fmt: skip
def test_visa_pvv(pvki: int, pin: str, pan: str, pvv: str) -> None:
    """Visa PVV under PVK 0123…3210 (psec)."""
    assert visa_pvv(DOUBLE_KEY, pvki, pin, pan) == pvv


@pytest.mark.parametrize(
    ("pin", "offset"), [("4524", "0000"), ("5635", "1111"), ("0000", "6586"), ("1234", "7710")]
)
def test_ibm3624_offset(pin: str, offset: str) -> None:
    """IBM 3624 offsets with decimalization table 1234567890123456 (psec)."""
    assert ibm3624_offset(DOUBLE_KEY, "1234567890123456", pin, "1122334455667788") == offset


@pytest.mark.parametrize(
    ("cvk", "pan", "expiry", "service", "cvv"),
    [("0123456789ABCDEFFEDCBA9876543210", "4123456789012345", "8701", "101", "561"),
     ("0123456789ABCDEFFEDCBA9876543210", "4123456789012345", "8701", "000", "636"),
     ("0123456789ABCDEFFEDCBA9876543210", "4123456789012345", "8701", "999", "651"),
     ("99999999999999998888888888888888", "2222222222222222", "3333", "111", "361")],
)  # fmt: skip
def test_cvv(cvk: str, pan: str, expiry: str, service: str, cvv: str) -> None:
    """CVV, CVV2 (000) and iCVV (999)."""
    assert card_verification_value(h(cvk), pan, expiry, service) == cvv


@pytest.mark.parametrize(
    ("padding", "mac"), [(1, "3DDE5C5511661CBF"), (2, "E16941032C3BC7D4"), (3, "BA90F750EF43F668")]
)
def test_retail_mac(padding: int, mac: str) -> None:
    """ISO 9797-1 algorithm 3 over 'hello world', K1 = 8 x 'A', K2 = 8 x 'B' (psec)."""
    assert retail_mac(b"A" * 8 + b"B" * 8, b"hello world", padding=padding) == h(mac)


def test_aes_cmac_rfc4493_example_2() -> None:
    """RFC 4493 example 2."""
    key, message = h("2b7e151628aed2a6abf7158809cf4f3c"), h("6bc1bee22e409f96e93d7e117393172a")
    assert aes_cmac(key, message) == h("070a16b46b4d4144f79bdd9dd04a287c")


# ANSI X9.24-1:2009 A.4.2: initial sequence, counters 1..21.
TDES_TRANSACTION_KEYS = [
    "042666B49184CFA368DE9628D0397BC9", "C46551CEF9FD24B0AA9AD834130D3BC7",
    "0DF3D9422ACA56E547676D07AD6BADFA", "279C0F6AEED0BE652B2C733E1383AE91",
    "5F8DC6D2C845C125508DDC048093B83F", "5E415CB0BAF9F03CD0C14B63FB62FF43",
    "0C8F780B7C8B49D0AE84A9EB2A6CE660", "27F66D5244FF62E1AA6F6120EDEB4280",
    "27E31064FDC565698900E2057F658E7E", "6CF2500A22507C7CC776CEADC1E33014",
    "3E8260BA04B2D620C01482B3819A18B7", "B716E1E11CF53D80726CAEE75C3A624F",
    "E072EDF95340535FB6C581C58FBF2533", "A80046087F5B8F245AAD95E18429084F",
    "93DD5B956C4878472E453AAEFD32A5AA", "59598DCBD9BD94C094165CE453585F57",
    "2B5F01F4F0CC05EA639D523231BF1BA2", "9CF640F279C2AEE615F725EEEAC2CBAF",
    "C3DF489FDF1153B4F03DE97C27DC4C2F", "658488507721B3F14737FA93F923CBD2",
    "E161D1956A61F6D2F37AFD7F9CC3699A",
]  # fmt: skip
TDES_PIN_BLOCKS = [
    "1B9C1845EB993A7A", "10A01C8D02C69107", "18DC07B94797B466", "0BC79509D5645DF7",
    "5BC0AF22AD87B327", "A16DF70AE36158D8", "27711C16CB257F8E", "50E55547A5027551",
    "536CF7F678ACFC8D", "EDABBA23221833FE", "2328981C57B4BDBA", "038D03CC926CF286",
    "6C8AA97088B62C68", "F17C9E1D72CD4950", "B170F6E7F7F2F64A", "D5D9638559EF53D6",
    "D544F8CDD292C863", "7A21BD10F36DC41D", "78649BD17D0DFA60", "7E7E16EA0C31AD56",
    "72105C22EBC791E6",
]  # fmt: skip
# A.4.3: rollover sequence from counter 0x0FF800.
TDES_ROLLOVER = [
    ("EFF800", "F9CDFEBF4F5B1D9EB3EC12454527E176", "33365F5CC6F23C35"),
    ("EFF801", "5BEE92627E97825C911BF619DF72CA3B", "3A86BF003F835C9D"),
    ("EFF802", "64CA2F8AB93F61B01620B00BF77C7301", "3DB977D05C36DF3F"),
    ("EFF804", "35A168695B3BA83307E871C42021DD37", "BA83243305712099"),
    ("EFF808", "12C380FCB72ED3C26FC6079AF63F4787", "B0DA04AC90A36D85"),
    ("EFF810", "D8007C833A1E3C49C6889B97A68C54FF", "2CF02BD9C309EEDA"),
    ("EFF820", "A9C9FF9B735FDD49591F296B0BF0FD70", "9D1E2F77AEEE81C6"),
    ("EFF840", "0E3E221062CB5E03A384602783A004FA", "40870B0F8BA2011C"),
    ("EFF880", "CA8225C587124DFBB87F279C0BE29727", "22E340D6ABB40981"),
    ("EFF900", "906AAC1751D4971A144D52C76C6E1F97", "1A4C10AFBA03A430"),
    ("EFFA00", "2B9E2CE7C2750337E10B54D2989EA6AF", "849763B43E5F9CFF"),
    ("EFFC00", "F9430DF975082491C77BE4EF4FDB91EE", "DEFC6F09F8927B71"),
    ("F00000", "AA4D58DB653EC74A48C75F2F047DD2B5", "73EC88AD0AC5830E"),
]
TDES_BDK = DOUBLE_KEY
TDES_IKSN = h("FFFF9876543210E00000")
CLEAR_PIN_BLOCK = h("041274EDCBA9876F")


def test_tdes_dukpt_initial_sequence() -> None:
    """IPEK, then 21 KSNs with their transaction keys and PIN blocks (X9.24-1 A.4.2)."""
    ipek = dukpt_tdes.initial_key(TDES_BDK, TDES_IKSN)
    assert ipek == h("6AC292FAA1315B4D858AB3A3D7D5933A")
    ksn = TDES_IKSN
    for counter, (key, block) in enumerate(zip(TDES_TRANSACTION_KEYS, TDES_PIN_BLOCKS,
                                               strict=True), start=1):  # fmt: skip
        ksn = dukpt_tdes.next_ksn(ksn)
        assert dukpt_tdes.ksn_counter(ksn) == counter
        txn_key = dukpt_tdes.transaction_key(ipek, ksn)
        assert txn_key == h(key), counter
        assert tdes_encrypt(dukpt_tdes.pin_key(txn_key), CLEAR_PIN_BLOCK) == h(block), counter


def test_tdes_dukpt_rollover_sequence() -> None:
    """KSN advance skips counters with more than 10 one bits (X9.24-1 A.4.3)."""
    ipek = dukpt_tdes.initial_key(TDES_BDK, TDES_IKSN)
    ksn = h("FFFF9876543210" + TDES_ROLLOVER[0][0])
    for tail, key, block in TDES_ROLLOVER:
        assert ksn.hex().upper().endswith(tail)
        txn_key = dukpt_tdes.transaction_key(ipek, ksn)
        assert txn_key == h(key)
        assert tdes_encrypt(dukpt_tdes.pin_key(txn_key), CLEAR_PIN_BLOCK) == h(block)
        ksn = dukpt_tdes.next_ksn(ksn)


def test_tdes_dukpt_request_mac() -> None:
    """First request MAC: X9.19 over '4012345678909D987' with the MAC request variant."""
    ipek = dukpt_tdes.initial_key(TDES_BDK, TDES_IKSN)
    txn_key = dukpt_tdes.transaction_key(ipek, dukpt_tdes.next_ksn(TDES_IKSN))
    mac = retail_mac(dukpt_tdes.mac_request_key(txn_key), b"4012345678909D987", length=4)
    assert mac == h("9CCC7817")


def test_tdes_dukpt_exhaustion() -> None:
    """Counter 0x1FF800 (the ten top bits) is the last key; after it the terminal is re-keyed."""
    ipek = dukpt_tdes.initial_key(TDES_BDK, TDES_IKSN)
    last = h("FFFF98765432101FF800")
    assert dukpt_tdes.ksn_counter(last) == 0x1FF800
    assert len(dukpt_tdes.transaction_key(ipek, last)) == 16
    with pytest.raises(dukpt_tdes.DukptExhaustedError):
        dukpt_tdes.next_ksn(last)
    with pytest.raises(ValueError, match="at most 10 one bits"):
        dukpt_tdes.transaction_key(ipek, h("FFFF98765432101FFC00"))  # eleven one bits


AES_BDK = h("FEDCBA9876543210F1F1F1F1F1F1F1F1")
AES_IKID = h("1234567890123456")
AES_TRANSACTION_KEYS = {
    0x00000001: "4F21B565BAD9835E112B6465635EAE44",
    0x00000002: "2F34D68DE10F68D38091A73B9E7C437C",
    0x00000003: "031504E530365CF81264238540518318",
    0x00000004: "0EEFC7ADA628BA68878DA9165A8A1887",
    0x00000005: "C2A7AC328A5DA2D6002D62465BFC028B",
    0x00000006: "D30F7D9351DA58448A2F5E92B4EE3B7D",
    0x00000007: "A8253CEED9AC042C54F75D35C8352278",
    0x00000008: "718EE6CF0B27E53D5F7AF99C4D8146A2",
    0x0001FFFE: "E21E8C8D347F8561A2BE752DAA85A111",
    0x00020000: "F7AE9025468A25D37B7249CFFED224C8",
    0x00020001: "692C8EA4013645135B36497131DF9D2C",
    0xFFFE2000: "48E585B694EB0B18D5C35443E163C0BA",
    0xFFFE4000: "396C2C7CA1EA701C03B86B7D41F0C562",
    0xFFFE8000: "0387625F189B58AE03EF0E8CCA41105E",
    0xFFFF0000: "F6BA59389BD14A9855BE9727E7C52E3C",
}


def test_aes_dukpt_initial_key_and_transaction_keys() -> None:
    """AES-128 BDK: initial key, and transaction keys for counters from 1 to 0xFFFF0000."""
    ik = dukpt_aes.initial_key(AES_BDK, AES_IKID)
    assert ik == h("1273671EA26AC29AFA4D1084127652A1")
    for counter, key in AES_TRANSACTION_KEYS.items():
        ksn = AES_IKID + counter.to_bytes(4, "big")
        assert dukpt_aes.transaction_key(ik, ksn) == h(key), hex(counter)


def test_aes_dukpt_kept_intermediate_keys_give_the_vectors_in_any_order() -> None:
    """The kept walk (initial and intermediate keys) serves later transactions correctly:
    the vectors hold backwards and again, interleaved with the same walks under another BDK
    (same derivation data, other keys)."""
    ik = dukpt_aes.initial_key(AES_BDK, AES_IKID)
    other = dukpt_aes.initial_key(bytes(16), AES_IKID)
    for _ in range(2):
        for counter, key in reversed(AES_TRANSACTION_KEYS.items()):
            ksn = AES_IKID + counter.to_bytes(4, "big")
            assert dukpt_aes.transaction_key(other, ksn) != h(key)
            assert dukpt_aes.transaction_key(ik, ksn) == h(key), hex(counter)


def test_kept_cipher_contexts_hold_no_state_between_calls() -> None:
    """FIPS-197 C.1 and SP 800-67's TDES example, interleaved and repeated, with the kept ECB
    contexts: each call gives the block's own encryption whatever came before."""
    aes_key, aes_plain = (
        h("000102030405060708090A0B0C0D0E0F"),
        h("00112233445566778899AABBCCDDEEFF"),
    )
    aes_cipher = h("69C4E0D86A7B0430D8CDB78070B4C55A")
    tdes_key = h("0123456789ABCDEF23456789ABCDEF01456789ABCDEF0123")
    tdes_plain, tdes_cipher = b"The qufc", h("A826FD8CE53B855F")
    for _ in range(3):
        assert aes_encrypt_block(aes_key, aes_plain * 2) == aes_cipher * 2
        assert tdes_encrypt(tdes_key, tdes_plain) == tdes_cipher
        assert aes_decrypt_block(aes_key, aes_cipher) == aes_plain
        assert tdes_decrypt(tdes_key, tdes_cipher) == tdes_plain


def test_aes_dukpt_ksn_sequence_and_pin_key() -> None:
    """Advancing from 0x1FFFE skips 0x1FFFF (17 one bits); PIN key #1 (X9.24-3 supplement)."""
    ksn = AES_IKID + (0x1FFFE).to_bytes(4, "big")
    assert dukpt_aes.ksn_counter(dukpt_aes.next_ksn(ksn)) == 0x20000
    ik = dukpt_aes.initial_key(AES_BDK, AES_IKID)
    first = dukpt_aes.next_ksn(AES_IKID + bytes(4))
    pin_key = dukpt_aes.working_key(dukpt_aes.transaction_key(ik, first), first,
                                    dukpt_aes.KeyUsage.PIN_ENCRYPTION)  # fmt: skip
    assert pin_key == h("AF8CB133A78F8DC2D1359F18527593FB")
    with pytest.raises(dukpt_tdes.DukptExhaustedError):
        dukpt_aes.next_ksn(AES_IKID + (0xFFFF0000).to_bytes(4, "big"))


def test_emv_option_a_session_key_arqc_arpc() -> None:
    """ICC MK KCV 1DA5, SK KCV 0995, ARQC 4B46…A58B, ARPC-1 F8C9…5AD1 (pyemv test_ac_hsm)."""
    mk = emv.icc_master_key(DOUBLE_KEY, "9901234567890123", "45")
    assert key_check_value(mk, 2) == h("1DA5")
    sk = emv.common_session_key(mk, h("1234567890123456"))
    assert key_check_value(sk, 2) == h("0995")
    data = h("0123456789ABCDEF0123456789ABCDEF")
    arqc = emv.generate_ac(sk, data)
    assert arqc == h("4B46013359B7A58B")
    assert emv.verify_ac(sk, data, arqc)
    assert not emv.verify_ac(sk, data, bytes([arqc[0] ^ 1]) + arqc[1:])
    assert emv.arpc_method_1(mk, arqc, h("0000")) == h("F8C9CECAABD55AD1")
