"""Group overage: when a person is in more groups than fit in a token, Entra sends `_claim_names`/`hasgroups`
instead of `groups`, and the groups are read from Microsoft Graph with the sign-in's access token.

https://learn.microsoft.com/en-us/entra/identity-platform/id-token-claims-reference#groups-overage-claim
https://learn.microsoft.com/en-us/graph/api/directoryobject-getmemberobjects
"""

from __future__ import annotations

from typing import Any

import httpx

from rentguy_crm.auth.sessions import SignInRefused

GRAPH_TIMEOUT = httpx.Timeout(10.0)


def has_group_overage(claims: dict[str, Any]) -> bool:
    names = claims.get("_claim_names")
    return bool(claims.get("hasgroups")) or (isinstance(names, dict) and "groups" in names)


async def member_groups(graph_base_url: str, object_id: str, access_token: str | None) -> list[str]:
    """The ids of every group (and directory role) the person belongs to, transitively."""
    if not access_token:
        raise SignInRefused("graph_no_token", "Your groups could not be read from Microsoft Graph: the identity "
                                              "provider sent no access token.", status=503)
    url = f"{graph_base_url.rstrip('/')}/v1.0/users/{object_id}/getMemberObjects"
    try:
        async with httpx.AsyncClient(timeout=GRAPH_TIMEOUT) as client:
            response = await client.post(url, json={"securityEnabledOnly": False},
                                         headers={"Authorization": f"Bearer {access_token}"})
    except httpx.HTTPError as exc:
        raise SignInRefused("graph_unavailable", f"You are in many groups, so they must be read from Microsoft "
                                                 f"Graph, which did not answer ({type(exc).__name__}). Try again "
                                                 f"in a few minutes.", status=503) from None
    if response.status_code != 200:
        raise SignInRefused("graph_unavailable", f"You are in many groups, so they must be read from Microsoft "
                                                 f"Graph, which answered HTTP {response.status_code}. Try again in "
                                                 f"a few minutes; if it persists, tell the security officer.",
                            status=503)
    try:
        values = response.json().get("value")
    except (ValueError, AttributeError):
        values = None
    if not isinstance(values, list):
        raise SignInRefused("graph_unavailable", "Microsoft Graph answered something other than a list of groups.",
                            status=503)
    return [str(v) for v in values]
