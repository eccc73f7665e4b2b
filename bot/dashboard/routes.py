"""The creator dashboard at `/dashboard`: one HTML page and its own scripts and styles, no CDN.

The page signs in with a creator's API key (or the admin key, which can switch creators) and talks to
the same REST API as everyone else; nothing here reads the database. The strict CSP allows only this
app's own files.
"""

from __future__ import annotations

import re
from importlib.resources import files

from fastapi import APIRouter, HTTPException, status
from fastapi.responses import HTMLResponse, Response

router = APIRouter(tags=["dashboard"], include_in_schema=False)

_ASSETS = files("bot.dashboard")
_ASSET_NAME = re.compile(r"^[a-z_]+\.(js|css)$")
_TYPES = {"js": "text/javascript; charset=utf-8", "css": "text/css; charset=utf-8"}
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)
_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


@router.get("/dashboard", response_class=HTMLResponse)
async def dashboard() -> HTMLResponse:
    """The dashboard page."""
    return HTMLResponse(_ASSETS.joinpath("dashboard.html").read_text(encoding="utf-8"), headers=_HEADERS)


@router.get("/dashboard/assets/{name}")
async def asset(name: str) -> Response:
    """One of the dashboard's scripts or styles (only names of this folder's own files)."""
    match = _ASSET_NAME.match(name)
    resource = _ASSETS.joinpath(name)
    if match is None or not resource.is_file():
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such asset")
    return Response(
        resource.read_text(encoding="utf-8"),
        media_type=_TYPES[match.group(1)],
        headers={**_HEADERS, "Cache-Control": "no-cache"},
    )
