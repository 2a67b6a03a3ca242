"""The merchant API's request bodies refuse an explicit null for every optional field with a
validation error (a 422), never an exception of another kind (a 500, as Schemathesis's negative
data once found on balance inquiries)."""

from __future__ import annotations

import pytest
from pydantic import BaseModel, ValidationError

from tpesim.api import models

BODIES = [
    cls
    for cls in vars(models).values()
    if isinstance(cls, type) and issubclass(cls, models._Body) and cls is not models._Body
]
OPTIONAL = [
    (body, name) for body in BODIES for name, f in body.model_fields.items() if f.default is None
]


def test_every_body_with_an_optional_field_is_covered() -> None:
    assert {body.__name__ for body, _ in OPTIONAL} >= {"PaymentRequest", "BalanceInquiryRequest"}


@pytest.mark.parametrize(("body", "name"), OPTIONAL, ids=lambda v: getattr(v, "__name__", v))
def test_a_null_optional_field_is_a_validation_error(body: type[BaseModel], name: str) -> None:
    with pytest.raises(ValidationError, match=f"{name} must be left out, not null"):
        body.model_validate({name: None})
