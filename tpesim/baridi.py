"""A simulated wallet app in the style of Algérie Poste's BaridiMob: the holder scans the code a
terminal shows, types the amount when the code has none, confirms with the app's one-time code,
and the app sends the payment to the switch over MQTT (``wallet/{id}/pay``), then waits for the
result (``wallet/{id}/result``). See switch.flows.qr_payments for what the switch checks."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from types import TracebackType
from typing import Self

from cards.catalog import CardSet
from switch.security import SecurityModule
from wire.clock import Clock, SystemClock
from wire.protocol import topics
from wire.protocol.wallet import QrPaymentRequest, QrPaymentResult
from wire.transport import MqttClient
from wire.transport.base import BrokerUrl
from wire.transport.mqtt import MqttTransport

__all__ = ["DEMO_WALLET", "WalletApp", "WalletError"]

DEMO_WALLET = "demo-wallet"
"""The wallet app ``tpesim demo`` pays its QR codes with (a login on its locked-down broker)."""


class WalletError(RuntimeError):
    """The app cannot pay: no such card, or no answer in time."""


class WalletApp:
    """``async with WalletApp("amina", pan, broker, cards=…, security=…) as app:
    await app.pay(code)``. ``security`` plays the holder's phone: it shows the one-time code."""

    def __init__(
        self,
        wallet: str,
        pan: str,
        broker: BrokerUrl,
        *,
        cards: CardSet,
        security: SecurityModule,
        clock: Clock | None = None,
        timeout_s: float = 10.0,
    ) -> None:
        card = cards.issuer_card(pan)
        if card is None:
            raise WalletError(f"no card {pan[:6]}…{pan[-4:]} to enroll in a wallet")
        self.wallet, self.pan, self.timeout_s = wallet, pan, timeout_s
        self._issuer = cards.products[card.product].issuer
        self._security = security
        self._clock = clock or SystemClock()
        login = broker.login_as(wallet)  # its own login on a locked-down broker
        self._transport: MqttTransport = MqttClient(login, client_id=f"wallet-{wallet}")
        self._waiting: dict[str, asyncio.Future[QrPaymentResult]] = {}
        self._reader: asyncio.Task[None] | None = None
        self._numbers = itertools.count(1)

    async def __aenter__(self) -> Self:
        await self._transport.__aenter__()
        await self._transport.subscribe(topics.wallet_result(self.wallet), qos=1)
        self._reader = asyncio.create_task(self._read(), name=f"wallet-{self.wallet}")
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
        await self._transport.__aexit__(kind, error, trace)

    async def _read(self) -> None:
        async for inbound in self._transport.messages():
            with contextlib.suppress(ValueError):
                result = QrPaymentResult.model_validate_json(inbound.payload)
                waiter = self._waiting.pop(result.reference, None)
                if waiter is not None and not waiter.done():
                    waiter.set_result(result)

    def one_time_code(self) -> str:
        """The code the app shows now."""
        return self._security.wallet_code(self._issuer, self.pan, self._clock.now().timestamp())

    async def pay(
        self, code: str, amount: int | None = None, *, otp: str | None = None
    ) -> QrPaymentResult:
        """Pay the scanned ``code`` (``amount`` in minor units for a static one), confirmed with
        the app's one-time code (``otp`` to type another); the switch's result."""
        now = self._clock.now()
        reference = f"{int(now.timestamp() * 1000):x}-{next(self._numbers)}"
        typed = otp or self.one_time_code()
        request = QrPaymentRequest(wallet=self.wallet, reference=reference, sent_at=now, qr=code,
                                   pan=self.pan, amount=amount, otp=typed)  # fmt: skip
        waiter: asyncio.Future[QrPaymentResult] = asyncio.get_running_loop().create_future()
        self._waiting[reference] = waiter
        await self._transport.publish(topics.wallet_pay(self.wallet),
                                      request.model_dump_json().encode())  # fmt: skip
        try:
            async with asyncio.timeout(self.timeout_s):
                return await waiter
        except TimeoutError:
            raise WalletError(
                f"wallet {self.wallet}: no answer within {self.timeout_s:g} s"
            ) from None
        finally:
            self._waiting.pop(reference, None)
