"""The web app's routes as a table: every page and fragment with the permission it needs and how to call it.
The role and tenant-isolation tests walk this table, and a test checks it names every route the web app has."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from rentguy_crm.auth.permissions import Permission
from rentguy_crm.auth.sessions import CSRF_HEADER


@dataclass(frozen=True)
class PageRoute:
    method: str
    template: str                      # the route's path as the router declares it
    needs: Permission | None           # None: any signed-in person; see PUBLIC for routes without sign-in
    record: str | None = None          # which record fills the path: contact, lead
    form: Callable[[dict[str, int]], dict[str, str]] | None = None

    def path(self, ids: dict[str, int]) -> str:
        path = self.template
        for kind in ("contact", "lead"):
            path = path.replace("{" + kind + "_id}", str(ids[kind]))
        return path


PAGES: list[PageRoute] = [
    PageRoute("GET", "/", Permission.CRM_READ),
    PageRoute("GET", "/ui/today/new-leads", Permission.CRM_READ),
    PageRoute("GET", "/ui/today/my-tasks", Permission.CRM_READ),
    PageRoute("GET", "/ui/today/tickets", Permission.TICKETS_READ),
    PageRoute("GET", "/ui/today/automations", Permission.AUTOMATION_READ),
    PageRoute("GET", "/leads", Permission.CRM_READ),
    PageRoute("GET", "/ui/leads/list", Permission.CRM_READ),
    PageRoute("POST", "/ui/leads/{lead_id}/assign", Permission.CRM_WRITE, "lead", lambda ids: {"owner": ""}),
    PageRoute("POST", "/ui/leads/{lead_id}/spam", Permission.CRM_WRITE, "lead"),
    PageRoute("POST", "/ui/leads/{lead_id}/not-spam", Permission.CRM_WRITE, "lead"),
    PageRoute("GET", "/contacts/{contact_id}", Permission.CRM_READ, "contact"),
    PageRoute("GET", "/ui/contacts/{contact_id}/timeline", Permission.CRM_READ, "contact"),
    PageRoute("POST", "/sign-out", None),
]
# Open without signing in (and what they show does not depend on a tenant's records).
PUBLIC = {("GET", "/sign-in"), ("POST", "/ui/language"), ("GET", "/ui/branding.css"),
          ("GET", "/static/vendor/{name}"), ("GET", "/static/app/{name}")}
# Streams: covered by tests/web/test_live_updates.py (an endless response cannot be read to its end).
STREAMS = {("GET", "/ui/events")}


def web_headers(session_headers: dict[str, str], *, csrf: bool = True, htmx: bool = False) -> dict[str, str]:
    """A browser's headers: a page (Accept: text/html) or an htmx request, with or without the CSRF token."""
    headers = {k: v for k, v in session_headers.items() if csrf or k != CSRF_HEADER}
    headers["Accept"] = "text/html"
    if htmx:
        headers["HX-Request"] = "true"
    return headers
