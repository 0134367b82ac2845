"""The web app's navigation: one list, in screen order. A screen appends its entry when it is built, so the menu
never links to a page that does not exist."""

from __future__ import annotations

from dataclasses import dataclass

from rentguy_crm.auth.permissions import Permission
from rentguy_crm.auth.service import Principal


@dataclass(frozen=True)
class NavEntry:
    key: str          # marks the current page (`active` in the page's context)
    path: str
    label: str        # gettext msgid, translated when the layout renders
    permission: Permission


NAVIGATION: list[NavEntry] = [
    NavEntry("today", "/", "Today", Permission.CRM_READ),
    NavEntry("leads", "/leads", "Leads", Permission.CRM_READ),
    NavEntry("pipelines", "/pipelines", "Pipelines", Permission.CRM_READ),
    NavEntry("tasks", "/tasks", "Tasks", Permission.CRM_READ),
    NavEntry("automations", "/automations", "Automations", Permission.AUTOMATION_READ),
    NavEntry("templates", "/templates", "Templates", Permission.TEMPLATES_READ),
    NavEntry("tickets", "/tickets", "Tickets", Permission.TICKETS_READ),
    NavEntry("reports", "/reports", "Reports", Permission.REPORTS_READ),
    NavEntry("admin", "/admin", "Admin", Permission.ADMIN),
]


def add(entry: NavEntry) -> None:
    """Add a screen to the menu (once; a second call with the same key replaces the first)."""
    for index, known in enumerate(NAVIGATION):
        if known.key == entry.key:
            NAVIGATION[index] = entry
            return
    NAVIGATION.append(entry)


def entries_for(principal: Principal) -> list[NavEntry]:
    """The screens this person may open: a link they cannot follow is not shown."""
    return [entry for entry in NAVIGATION if principal.can(entry.permission)]
