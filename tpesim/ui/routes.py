"""The dashboard and the virtual terminal over HTTP: two pages (plain HTML and JavaScript, no
build step), their JSON, the server-sent event stream, and the fault buttons.

Not part of the versioned merchant API (left out of its OpenAPI document): pages may change
with the dashboard."""

from __future__ import annotations

import dataclasses
from importlib import resources
from typing import Any, Literal

from fastapi import APIRouter, HTTPException
from fastapi.responses import HTMLResponse, PlainTextResponse, StreamingResponse
from pydantic import BaseModel, Field

from cards.catalog import CardSet
from cards.currency import currency
from cards.masking import mask_pan
from switch.rules.issuers import parse_issuer_command
from switch.service import restart_pause
from terminal.control import TERMINAL_COMMANDS
from tpesim.api.desk import PaymentDesk
from tpesim.ui.hub import HubUnavailableError, LiveHub
from tpesim.ui.ladder import LANES, Transaction, mermaid
from tpesim.ui.ledger_view import ledger_view
from wire.protocol import topics
from wire.protocol.explain import explain_message, mti_meaning

__all__ = ["Fault", "dashboard_router"]


class Fault(BaseModel):
    """A fault button: what to act on and what to do to it."""

    target: Literal["terminal", "issuer", "switch"]
    id: str = Field(default="", max_length=40, pattern=r"^[A-Za-z0-9_-]*$")
    """The terminal id or issuer id (empty for the switch)."""
    action: str = Field(max_length=20)
    """terminal: unplug, plug, paper-out, paper-in; issuer: up, down, slow:SECONDS;
    switch: restart or restart:SECONDS."""


def _fault_topic(fault: Fault, issuers: set[str], tids: set[str]) -> str:
    """The ``sim/control`` topic for ``fault``; HTTPException 422 when it makes no sense."""
    if fault.target == "switch":
        if restart_pause(fault.action.encode()) is None:
            raise HTTPException(422, "the switch knows restart or restart:SECONDS")
        return topics.SWITCH_CONTROL
    if fault.target == "terminal":
        if fault.id not in tids or fault.action not in TERMINAL_COMMANDS:
            raise HTTPException(422, f"a terminal of this fleet and one of {TERMINAL_COMMANDS}")
        return topics.terminal_control(fault.id)
    if fault.id not in issuers:
        raise HTTPException(422, f"no issuer {fault.id!r}; know {sorted(issuers)}")
    try:
        parse_issuer_command(fault.action)  # what the switch will make of it
    except ValueError as error:
        raise HTTPException(422, f"up, down or slow:SECONDS: {error}") from None
    return topics.issuer_control(fault.id)


def _page(name: str) -> str:
    return resources.files("tpesim.ui.static").joinpath(name).read_text("utf-8")


def dashboard_router(hub: LiveHub, desk: PaymentDesk, cards: CardSet) -> APIRouter:
    """Routes for the dashboard (``/``) and the virtual terminal (``/terminal``)."""
    router = APIRouter(include_in_schema=False)
    issuers = {product.issuer for product in cards.products.values()}

    @router.get("/", response_class=HTMLResponse)
    async def dashboard() -> str:
        return _page("dashboard.html")

    @router.get("/terminal", response_class=HTMLResponse)
    async def virtual_terminal() -> str:
        return _page("terminal.html")

    @router.get("/ui/static/{name}")
    async def static(name: str) -> PlainTextResponse:
        kinds = {"js": "text/javascript", "css": "text/css"}
        kind = kinds.get(name.rsplit(".", 1)[-1])
        if kind is None or "/" in name or name.startswith("."):
            raise HTTPException(404, "no such file")
        try:
            return PlainTextResponse(_page(name), media_type=kind)
        except FileNotFoundError:
            raise HTTPException(404, "no such file") from None

    @router.get("/ui/state")
    async def state() -> dict[str, Any]:
        snapshot = hub.snapshot()
        snapshot["fleet"] = [info.model_dump() for info in desk.terminal_list()]
        snapshot["issuer_ids"] = sorted(issuers)
        return snapshot

    @router.get("/ui/cards")
    async def card_list() -> list[dict[str, Any]]:
        return [
            {"id": card.id, "pan": mask_pan(card.pan), "product": cards.products[card.product].name,
             "currency": cards.products[card.product].currency, "note": card.note or "",
             "decimals": currency(cards.accounts[card.account].currency).exponent}
            for card in cards.cards
        ]  # fmt: skip

    @router.get("/ui/events")
    async def events() -> StreamingResponse:
        headers = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
        return StreamingResponse(hub.stream(), media_type="text/event-stream", headers=headers)

    def seen(transaction_id: str) -> Transaction:
        found = hub.transaction(transaction_id)
        if found is None:
            raise HTTPException(404, f"no transaction {transaction_id!r} seen")
        return found

    @router.get("/ui/transactions/{transaction_id}")
    async def transaction(transaction_id: str) -> dict[str, Any]:
        found = seen(transaction_id)
        return {
            "summary": found.summary(),
            "lanes": LANES,
            "arrows": [dataclasses.asdict(arrow) for arrow in found.ladder()],
            "mti_names": {
                e.mti: dataclasses.asdict(mti_meaning(e.mti)) for e in found.events if e.mti
            },
            "messages": [
                {
                    "hop": e.hop,
                    "event": e.event,
                    "at": e.at.isoformat(),
                    "notes": e.notes,
                    "route": e.route,
                    "reason": e.reason,
                    "fields": [dataclasses.asdict(f) for f in explain_message(e.message)],
                }
                for e in found.events
            ],
        }

    @router.get("/ui/transactions/{transaction_id}/mermaid", response_class=PlainTextResponse)
    async def transaction_mermaid(transaction_id: str) -> str:
        return mermaid(seen(transaction_id))

    @router.get("/ui/ledger")
    async def ledger() -> dict[str, Any]:
        if hub.ledger is None:
            raise HTTPException(503, "the ledger is not in this process")
        return ledger_view(await hub.ledger.account_balances())

    @router.post("/ui/faults", status_code=202)
    async def fault(body: Fault) -> dict[str, str]:
        topic = _fault_topic(body, issuers, set(desk.terminals) | set(hub.terminals))
        try:
            await hub.command(topic, body.action)
        except HubUnavailableError as error:
            raise HTTPException(503, str(error)) from None
        return {"topic": topic, "command": body.action}

    return router
