"""``tpesim bench crypto``: what the switch's security checks cost per authorization.

Requests are built first by keyed terminals (PIN block, chip ARQC, MAC), rotating over the card
set's everyday cards and several terminals; then, per request, the switch's side is timed: MAC
verification, PIN verification (DUKPT derivation, PIN block, PVV) and ARQC verification with the
ARPC. Every request has its own KSN, so its working keys are derived afresh; the intermediate
keys of the counter's walk are kept from earlier requests of the same terminal and the ICC master
keys per card, as a host or issuer HSM would (cards.crypto.dukpt_aes).
"""

from __future__ import annotations

import math
import os
import platform
import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from cards.catalog import CardSet, default_card_set
from cards.crypto import tlv
from cards.holders import Holders, default_holders
from switch.security import ArqcCheck, PinCheck, SecurityModule, load_keys
from terminal.builder import CardPresentation, RequestBuilder
from terminal.pinpad import PinPad
from tpesim.wallet import Wallet
from wire.protocol.codec import decode_request
from wire.protocol.messages import FinancialRequest
from wire.registry import default_registry
from wire.sealing import DukptFlavour, seal

__all__ = [
    "CRYPTO_LIMIT_US",
    "EVERYDAY_CARDS",
    "CryptoBench",
    "bench_terminals",
    "machine",
    "percentile",
    "run_crypto_bench",
    "sealed_purchases",
]

CRYPTO_LIMIT_US = 300.0
"""Budget per authorization for MAC + PIN + ARQC on the 2-core reference machine."""

EVERYDAY_CARDS = ("EDH-VALID", "EDH-VALID-2", "EDH-VALID-3", "CIB-VALID", "CIB-VALID-2")
"""Cards of the shipped set that pay everyday purchases."""


def machine() -> str:
    """What a bench ran on, for its report: Python, CPUs, architecture."""
    return (
        f"{platform.python_implementation()} {platform.python_version()}, "
        f"{os.cpu_count()} CPUs, {platform.machine()}"
    )


def percentile(values: list[float], q: float) -> float:
    """The value at quantile ``q`` (0..1) of ``values`` (nearest rank); 0.0 when empty."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)] if ordered else 0.0


@dataclass(frozen=True)
class CryptoBench:
    """Timings in microseconds per authorization."""

    count: int
    dukpt: str
    total: list[float]
    parts: dict[str, list[float]]

    def summary(self) -> dict[str, Any]:
        mean = statistics.fmean(self.total)
        return {
            "count": self.count,
            "dukpt": self.dukpt,
            "mean_us": round(mean, 1),
            "p50_us": round(percentile(self.total, 0.50), 1),
            "p99_us": round(percentile(self.total, 0.99), 1),
            "per_second": round(1e6 / mean),
            "parts_p50_us": {k: round(percentile(v, 0.50), 1) for k, v in self.parts.items()},
            "limit_us": CRYPTO_LIMIT_US,
            "within_limit": mean < CRYPTO_LIMIT_US,
            "machine": machine(),
        }

    def render(self) -> str:
        s = self.summary()
        parts = "\n".join(
            f"  {name:<13} p50 {us:7.1f} µs" for name, us in s["parts_p50_us"].items()
        )
        verdict = "within" if s["within_limit"] else "OVER"
        return (
            f"tpesim bench crypto: {s['count']} authorizations, {s['dukpt'].upper()} DUKPT, "
            f"chip + PIN + MAC ({s['machine']})\n{parts}\n"
            f"  {'total':<13} mean {s['mean_us']:.1f} µs, p50 {s['p50_us']:.1f} µs, "
            f"p99 {s['p99_us']:.1f} µs ({s['per_second']}/s on one core); "
            f"{verdict} the {CRYPTO_LIMIT_US:.0f} µs budget"
        )


def bench_terminals(
    security: SecurityModule, dukpt: DukptFlavour, fleet_size: int = 4
) -> list[tuple[RequestBuilder, PinPad]]:
    """Keyed Algerian terminals of the shipped registry (the first of ``fleet_size``), each
    with its request builder and PIN pad."""
    return [
        (RequestBuilder(p), PinPad(security.inject_terminal_key(p.tid, dukpt)))
        for p in default_registry().fleet(fleet_size)
        if p.country.code == "DZ"
    ]


def sealed_purchases(
    terminals: list[tuple[RequestBuilder, PinPad]],
    count: int,
    security: SecurityModule,
    cards: CardSet,
    *,
    amount: int = 10_000,
    card_ids: Sequence[str] = EVERYDAY_CARDS,
    holders: Holders | None = None,
) -> list[tuple[FinancialRequest, bytes]]:
    """``count`` chip + PIN purchases of ``amount`` minor units, MAC'd, rotating over
    ``terminals`` and ``card_ids`` (chip counters advance in list order); ``holders`` know the
    PINs (the shipped holders by default)."""
    holders = holders or default_holders()
    wallet = Wallet(cards, security, holders=holders)
    now = datetime.now(UTC)
    built: list[tuple[FinancialRequest, bytes]] = []
    for index in range(count):
        builder, pad = terminals[index % len(terminals)]
        card_id = card_ids[index % len(card_ids)]
        card = CardPresentation.from_card(cards.card(card_id), cards)
        tags = wallet.chip(card_id).generate_arqc(
            builder.terminal_data(amount, now, index.to_bytes(4, "big"))
        )
        keys = pad.next_transaction()
        request = builder.purchase(
            card,
            amount,
            now,
            pin_block=keys.encrypt_pin(holders.holder_pin(card_id), card.pan),
            ksn=keys.ksn_hex,
            icc_data=tlv.encode(tags).hex().upper(),
        )
        payload = seal(request, keys)
        sealed = decode_request(payload)  # the model with its MAC, as the switch sees it
        if not isinstance(sealed, FinancialRequest):
            raise TypeError("a purchase decodes as a FinancialRequest")
        built.append((sealed, payload))
    return built


def run_crypto_bench(count: int = 2000, dukpt: DukptFlavour = "aes") -> CryptoBench:
    """Time the switch-side checks of ``count`` chip + PIN purchases (after 100 warm-up ones)."""
    cards = default_card_set()
    security = SecurityModule(load_keys())
    warmup = 100
    requests = sealed_purchases(bench_terminals(security, dukpt), count + warmup, security, cards)
    clock = time.perf_counter_ns
    total: list[float] = []
    parts: dict[str, list[float]] = {"MAC verify": [], "PIN verify": [], "ARQC + ARPC": []}
    for index, (request, payload) in enumerate(requests):
        card = cards.issuer_card(request.pan)
        if (
            card is None or card.pvv is None or request.ksn is None or request.mac is None
            or request.pin_block is None or request.icc_data is None
        ):  # fmt: skip
            raise RuntimeError(f"bench request {index} lacks a field to verify")
        issuer = cards.products[card.product].issuer
        ksn = bytes.fromhex(request.ksn)
        t0 = clock()
        mac_ok = security.verify_mac(ksn=ksn, payload=payload, mac=request.mac)
        t1 = clock()
        pin = security.verify_pin(issuer=issuer, pan=request.pan, pvv=card.pvv,
                                  pin_block=bytes.fromhex(request.pin_block), ksn=ksn)  # fmt: skip
        t2 = clock()
        icc = tlv.decode_dict(bytes.fromhex(request.icc_data))
        arqc = security.verify_arqc(issuer=issuer, pan=request.pan, icc=icc)
        security.arpc(issuer=issuer, pan=request.pan, icc=icc, response_code="00")
        t3 = clock()
        if not (mac_ok and pin is PinCheck.OK and arqc is ArqcCheck.OK):
            raise RuntimeError(f"bench request {index} did not verify: {mac_ok} {pin} {arqc}")
        if index >= warmup:
            total.append((t3 - t0) / 1000)
            for name, (a, b) in zip(parts, ((t0, t1), (t1, t2), (t2, t3)), strict=True):
                parts[name].append((b - a) / 1000)
    return CryptoBench(count=count, dukpt=dukpt, total=total, parts=parts)
