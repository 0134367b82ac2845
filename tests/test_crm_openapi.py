"""The OpenAPI document of the CRM routes: summaries everywhere, and request examples that are valid bodies."""

from __future__ import annotations

import pytest
from pydantic import BaseModel

from rentguy_crm.crm import schemas
from rentguy_crm.privacy import schemas as privacy_schemas

BODIES: list[type[BaseModel]] = [schemas.ContactCreate, schemas.ContactUpdate, schemas.LeadCreate,
                                 schemas.LeadUpdate, schemas.DealCreate, schemas.DealUpdate, schemas.StageMove,
                                 schemas.ActivityCreate, schemas.ActivityUpdate,
                                 # Data correction lives under /api/v1/crm/contacts too (docs/privacy.md).
                                 privacy_schemas.MergeRequest, privacy_schemas.ImportRequest]


def test_every_crm_operation_has_a_summary(app) -> None:
    document = app.openapi()
    missing = [f"{method.upper()} {path}" for path, ops in document["paths"].items() if path.startswith("/api/")
               for method, op in ops.items() if not op.get("summary")]
    assert missing == []


def test_every_request_body_in_the_document_has_an_example(app) -> None:
    document = app.openapi()
    refs = [op["requestBody"]["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[1]
            for path, ops in document["paths"].items() if path.startswith("/api/v1/crm/")
            for op in ops.values() if "requestBody" in op]
    assert refs
    assert [name for name in refs if not document["components"]["schemas"][name].get("examples")] == []
    assert set(refs) == {model.__name__ for model in BODIES}


@pytest.mark.parametrize("model", BODIES, ids=[m.__name__ for m in BODIES])
def test_documented_example_is_a_valid_body(model: type[BaseModel]) -> None:
    examples = model.model_json_schema()["examples"]
    for example in examples:
        model.model_validate(example)
