"""The merchant (ECR) API over HTTP: a cash register starts payments on simulated terminals,
reads their status and receipt, refunds, completes or cancels pre-authorizations and closes the
batch. Versioned under ``/v1``; the OpenAPI document is served at ``/openapi.json`` (and
browsable at ``/docs``). Every refusal is an RFC 9457 problem (``application/problem+json``)
naming the field at fault, and nothing of a refused request reaches a terminal or the switch."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from tpesim.api.desk import ApiError, PaymentDesk
from tpesim.api.models import (
    BalanceInquiry,
    BalanceInquiryRequest,
    BatchResult,
    CompletionRequest,
    Payment,
    PaymentRequest,
    Problem,
    RefundRequest,
    TerminalInfo,
)

__all__ = ["create_app"]

PROBLEM = "application/problem+json"
_ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"model": Problem, "content": {PROBLEM: {}}} for status in (400, 404, 409, 422, 503)
}
_REPLAYABLE: dict[int | str, dict[str, Any]] = {
    **_ERRORS,
    200: {"model": Payment, "description": "The same payment again: its key was seen before."},
}


def _problem(status: int, title: str, detail: str, field: str | None = None) -> JSONResponse:
    return _problem_response(Problem(title=title, status=status, detail=detail, field=field))


def _problem_response(body: Problem) -> JSONResponse:
    return JSONResponse(body.model_dump(), status_code=body.status, media_type=PROBLEM)


def create_app(desk: PaymentDesk, back_office: APIRouter | None = None) -> FastAPI:
    """The API over ``desk`` (its terminals must be connected), with the issuer's
    ``back_office`` routes when given (tpesim.api.back_office)."""
    app = FastAPI(
        title="tpesim merchant API",
        version="1.0.0",
        description="Drive simulated payment terminals from a cash register (ECR). Test cards "
        "and magic amounts force every outcome: see docs/test-cards.md.",
    )

    @app.exception_handler(ApiError)
    async def api_error(_: Request, error: ApiError) -> JSONResponse:
        return _problem(error.status, error.title, error.detail, error.field)

    @app.exception_handler(RequestValidationError)
    async def invalid(_: Request, error: RequestValidationError) -> JSONResponse:
        return _problem_response(Problem.invalid_request(error.errors()))

    @app.exception_handler(HTTPException)
    async def http_error(_: Request, error: HTTPException) -> JSONResponse:
        return _problem(error.status_code, "HTTP error", str(error.detail))

    @app.get("/v1/terminals", response_model=list[TerminalInfo])
    async def terminals() -> list[TerminalInfo]:
        """The terminals this API drives."""
        return desk.terminal_list()

    @app.post(
        "/v1/terminals/{terminal_id}/payments",
        response_model=Payment,
        status_code=201,
        responses=_REPLAYABLE,
    )
    async def pay(terminal_id: str, body: PaymentRequest, response: Response) -> Payment:
        """Run a payment on the terminal and wait for its outcome (approved, declined, timeout —
        reversed by the terminal — or decided offline). The same ``idempotency_key`` again
        returns the same payment (200) without a second charge."""
        payment, new = await desk.pay(terminal_id, body)
        response.status_code = 201 if new else 200
        return payment

    @app.get("/v1/payments/{payment_id}", response_model=Payment, responses=_ERRORS)
    async def payment(payment_id: str) -> Payment:
        """A payment's status and receipt."""
        return desk.payment(payment_id)

    @app.post(
        "/v1/payments/{payment_id}/refund",
        response_model=Payment,
        status_code=201,
        responses=_REPLAYABLE,
    )
    async def refund(payment_id: str, body: RefundRequest, response: Response) -> Payment:
        """Refund an approved purchase, in full or in part (DE3 20)."""
        refunded, new = await desk.refund(payment_id, body)
        response.status_code = 201 if new else 200
        return refunded

    @app.post("/v1/payments/{payment_id}/completion", response_model=Payment, responses=_ERRORS)
    async def complete(payment_id: str, body: CompletionRequest) -> Payment:
        """Complete an approved pre-authorization (0220) for at most its amount."""
        return await desk.complete(payment_id, body)

    @app.post("/v1/payments/{payment_id}/cancel", response_model=Payment, responses=_ERRORS)
    async def cancel(payment_id: str) -> Payment:
        """Cancel an approved pre-authorization (0400): its hold is released."""
        return await desk.cancel(payment_id)

    @app.post("/v1/payments/{payment_id}/void", response_model=Payment, responses=_ERRORS)
    async def void(payment_id: str) -> Payment:
        """Void an approved purchase or refund that is still its terminal's last (the cancel
        key): its reversal goes out (0420) and the batch forgets it."""
        return await desk.void(payment_id)

    @app.post(
        "/v1/terminals/{terminal_id}/balance-inquiries",
        response_model=BalanceInquiry,
        responses=_ERRORS,
    )
    async def balance_inquiry(terminal_id: str, body: BalanceInquiryRequest) -> BalanceInquiry:
        """Ask a test card's available balance (DE3 31): nothing is charged; the receipt
        prints the balance."""
        return await desk.balance_inquiry(terminal_id, body)

    @app.post("/v1/terminals/{terminal_id}/batch", response_model=BatchResult, responses=_ERRORS)
    async def close_batch(terminal_id: str) -> BatchResult:
        """Close the terminal's batch (0500); the switch says in balance or why not."""
        return await desk.close_batch(terminal_id)

    if back_office is not None:
        app.include_router(back_office, responses=_ERRORS)
    return app
