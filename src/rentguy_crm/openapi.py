"""The OpenAPI document: each operation lists the RFC 9457 problem responses it can give, with one schema.

The statuses follow from what the operation takes, so a new route is documented by the same rules as the rest:
authentication (401/403) on every keyed route, 404 where a path names a record, 409/413/415 on bodies that
write, 422 wherever there is input, 429 on lead capture and 503 wherever the database is asked."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

from rentguy_crm.errors import PROBLEM_CONTENT_TYPE

PROBLEM_SCHEMA: dict[str, Any] = {
    "title": "Problem",
    "type": "object",
    "description": "RFC 9457 problem details. `errors` names each field that was refused.",
    "required": ["type", "title", "status", "detail"],
    "properties": {
        "type": {"type": "string", "format": "uri"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "instance": {"type": "string"},
        "errors": {"type": "array", "items": {
            "type": "object", "required": ["field", "message"],
            "properties": {"field": {"type": "string", "description": "Dotted path of the field, or `body`"},
                           "message": {"type": "string"}, "type": {"type": ["string", "null"]}}}},
    },
}

DESCRIPTIONS = {
    400: "Bad request (e.g. a malformed header or captcha)",
    401: "No valid API key (or signature)",
    403: "The key's roles lack the permission",
    404: "No such record for this tenant",
    409: "Conflicts with the current state",
    413: "Body too large",
    415: "Body is not JSON",
    422: "Invalid input; `errors` names each field",
    429: "Rate limited; see Retry-After",
    503: "Database busy or unreachable; nothing was changed, retry after Retry-After",
}

# Routes anyone may call: no API key.
PUBLIC = {"/healthz", "/readyz", "/status", "/api/v1/public/leads", "/api/v1/webhooks/typeform/{tenant}"}
# Reports whose 503 carries the report itself rather than a problem.
REPORTS = {"/readyz", "/status"}
LEAD_CAPTURE = {"/api/v1/public/leads", "/api/v1/leads", "/api/v1/webhooks/typeform/{tenant}"}


def statuses_for(path: str, method: str, operation: dict[str, Any]) -> set[int]:
    if path in REPORTS or path == "/healthz":
        return set()
    params = operation.get("parameters") or []
    writes = method in ("post", "put", "patch")
    found = {503}
    if path not in PUBLIC:
        found |= {401, 403}
    if params or "requestBody" in operation or writes:
        found.add(422)
    if any(p.get("in") == "path" for p in params) or writes:
        found.add(404)
    if writes:
        found |= {409, 413, 415}
    if path in LEAD_CAPTURE:
        found |= {400, 401, 409, 429}
    return found


def _problem(status: int, given: dict[str, Any] | None) -> dict[str, Any]:
    description = (given or {}).get("description") or DESCRIPTIONS.get(status, "Error")
    return {"description": description,
            "content": {PROBLEM_CONTENT_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}}}


def document_problems(schema: dict[str, Any]) -> dict[str, Any]:
    """Add the problem responses to every operation of a generated document (in place) and return it."""
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    components["Problem"] = PROBLEM_SCHEMA
    for name in ("HTTPValidationError", "ValidationError"):  # FastAPI's own 422 shape; ours is the problem
        components.pop(name, None)
    for path, operations in schema.get("paths", {}).items():
        for method, operation in operations.items():
            responses: dict[str, Any] = operation.setdefault("responses", {})
            wanted = statuses_for(path, method, operation) | {
                int(code) for code in responses if str(code).isdigit() and int(code) >= 400}
            for status in sorted(wanted):
                responses[str(status)] = _problem(status, responses.get(str(status)))
            if path in REPORTS:
                ok = responses.get("200", {})
                responses["503"] = {"description": "Not ready or a component is down (the same report)",
                                    "content": ok.get("content", {"application/json": {}})}
    return schema


def install(app: FastAPI) -> None:
    """Make `app.openapi()` return the document with the problem responses."""
    generate = app.openapi  # FastAPI's: builds the document once and keeps it
    documented: list[int] = []

    def openapi() -> dict[str, Any]:
        schema = generate()
        if id(schema) not in documented:
            documented.append(id(schema))
            document_problems(schema)
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
