"""Static files of the web app: our own small CSS and JS (`web/static/`), and the pinned npm packages served from
`node_modules` by an allow-list: only these exact files, nothing from a CDN, nothing copied into the repository."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from fastapi import APIRouter
from fastapi import Path as PathParam
from fastapi.responses import FileResponse

from rentguy_crm.config import PROJECT_ROOT
from rentguy_crm.errors import NotFound, ServiceUnavailable

router = APIRouter(include_in_schema=False)

OWN = Path(__file__).parent / "static"
NODE_MODULES = PROJECT_ROOT / "node_modules"
# Public name → file inside node_modules (as package-lock.json pins it).
VENDOR: dict[str, str] = {
    "htmx.min.js": "htmx.org/dist/htmx.min.js",
    "htmx-ext-sse.min.js": "htmx-ext-sse/dist/sse.min.js",
    "pico.min.css": "@picocss/pico/css/pico.min.css",
    "sortable.min.js": "sortablejs/Sortable.min.js",
}
MEDIA_TYPES = {".js": "text/javascript", ".css": "text/css", ".svg": "image/svg+xml", ".png": "image/png"}
# Assets change only with a release or `npm ci`; a short cache keeps pages quick without stale files for long.
CACHE = {"Cache-Control": "public, max-age=3600", "X-Content-Type-Options": "nosniff"}
FileName = Annotated[str, PathParam(max_length=100, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")]


def _media_type(name: str) -> str:
    return MEDIA_TYPES.get(Path(name).suffix, "application/octet-stream")


@router.get("/static/vendor/{name}")
async def vendor_file(name: FileName) -> FileResponse:
    relative = VENDOR.get(name)
    if relative is None:
        raise NotFound(f"No asset '{name}'; the web app serves {', '.join(sorted(VENDOR))}.")
    path = NODE_MODULES / relative
    if not path.is_file():
        raise ServiceUnavailable(f"The web asset {relative} is not installed: run 'make install' (npm ci).")
    return FileResponse(path, media_type=_media_type(name), headers=CACHE)


@router.get("/static/app/{name}")
async def own_file(name: FileName) -> FileResponse:
    path = OWN / name
    if not path.is_file() or path.suffix not in MEDIA_TYPES:
        raise NotFound(f"No asset '{name}' in the web app's static files.")
    return FileResponse(path, media_type=_media_type(name), headers=CACHE)
