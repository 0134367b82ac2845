"""A vendor webhook's JSON body, read after the caller is authenticated (so an anonymous caller learns nothing
from validation answers) and validated into the door's model; bad input is a 422 problem naming the field."""

from __future__ import annotations

import json
from typing import TypeVar

from fastapi import Request
from pydantic import BaseModel, ValidationError

from rentguy_crm.errors import ValidationFailed, field_errors

Model = TypeVar("Model", bound=BaseModel)


async def parsed(request: Request, model: type[Model], vendor: str) -> Model:
    try:
        raw = json.loads(await request.body())
    except (ValueError, UnicodeDecodeError):
        raise ValidationFailed(f"The {vendor} webhook body is not valid JSON.") from None
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        errors = field_errors(list(exc.errors()))
        raise ValidationFailed("; ".join(f"{e['field']}: {e['message']}" for e in errors[:5]),
                               errors=errors) from None
