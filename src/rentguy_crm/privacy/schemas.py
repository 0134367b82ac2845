"""Request and answer shapes of the privacy and data-correction API."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from rentguy_crm.kit.inputs import MultiLine, RecordId, SingleLine

Reason = Annotated[str, Field(min_length=3, max_length=300), SingleLine]
RequestRef = Annotated[str, Field(min_length=1, max_length=64), SingleLine]
Short = Annotated[str, Field(max_length=320), SingleLine]
CsvText = Annotated[str, Field(min_length=1, max_length=900_000), MultiLine]
Side = Literal["keep", "other"]
MergeField = Literal["first_name", "last_name", "email", "phone", "company", "owner", "marketing_opt_in"]


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class MergeRequest(Body):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "other_id": 42, "reason": "same person, second e-mail address", "prefer": {"email": "other"},
        "dry_run": True}]})

    other_id: RecordId = Field(description="The contact merged away (it answers 404 afterwards)")
    reason: Reason
    prefer: dict[MergeField, Side] = Field(default_factory=dict,
                                           description="Per conflicting field: keep (default) or other")
    dry_run: bool = False


class MergeAnswer(BaseModel):
    keep_id: int
    other_id: int
    dry_run: bool
    reason: str
    moves: dict[str, int]
    follows: dict[str, int]
    fields: list[dict[str, Any]]
    result: dict[str, Any]


class ImportRequest(Body):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "csv": "E-mail;Voornaam;Achternaam;Telefoon\nanna@example.nl;Anna;de Vries;06 12345678\n",
        "file_name": "beurs-2026.csv", "dry_run": True}]})

    csv: CsvText = Field(description="The CSV file's text (semicolon, comma or tab; a header line first)")
    file_name: Annotated[str, Field(min_length=1, max_length=200), SingleLine] = "upload.csv"
    mapping: dict[Short, Short] | None = Field(default=None, description='{"Header in the file": "column"}')
    dry_run: bool = False
    start_automations: bool = False


class ImportAnswer(BaseModel):
    kind: str
    dry_run: bool
    delimiter: str
    encoding: str
    warnings: list[str]
    counts: dict[str, int]
    rows: list[dict[str, Any]]


class PersonRequest(Body):
    """Exactly one of e-mail, phone or contact id names the person."""

    email: Short | None = None
    phone: Annotated[str, Field(max_length=40), SingleLine] | None = None
    contact_id: RecordId | None = None

    @model_validator(mode="after")
    def _one(self) -> PersonRequest:
        if sum(v is not None for v in (self.email, self.phone, self.contact_id)) != 1:
            raise ValueError("give exactly one of email, phone, contact_id")
        return self


class AccessRequest(PersonRequest):
    request: RequestRef | None = Field(default=None, description="Reference of the access request")


class ErasureRequest(PersonRequest):
    request: RequestRef = Field(description="Reference of the erasure request (audited)")
    dry_run: bool = False


class ErasureAnswer(BaseModel):
    request: str
    dry_run: bool
    mode: str
    contact_ids: list[int]
    counts: dict[str, int]
    runs_cancelled: int
    kept: dict[str, str]
    scrubbed_cells: int


class RetentionRequest(Body):
    dry_run: bool = False


class RetentionAnswer(BaseModel):
    tenant: str
    cutoff: dt.datetime
    dry_run: bool
    people_anonymised: int
    leads_anonymised: int
