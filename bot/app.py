"""The FastAPI app: routes plus a lifespan that starts and stops the whole service.

Making the app touches nothing: the session cookie's key, like every other start-up I/O, is loaded
when the service starts (`bot.preflight`).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from functools import partial

from fastapi import FastAPI, Request, status
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DBAPIError

from bot.api import audience, audit, chat, creators, health, knowledge, knowledge_batch, personality
from bot.api.engine_routers import engine_routers
from bot.api.guard import RequestGuard
from bot.dashboard import routes as dashboard_routes
from bot.demo import load_demo
from bot.foundation.api_errors import COMMON_ERRORS, error_responses
from bot.foundation.messages import storable
from bot.identity import authenticate
from bot.runtime import Coachline
from bot.session_cookies import StartedSessionMiddleware
from bot.startup import report_startup
from bot.web import routes as web_routes
from bot.web.docs import mount_docs

log = logging.getLogger(__name__)


def create_app(service: Coachline, *, demo: bool = False) -> FastAPI:
    """The HTTP app around one Coachline instance; the lifespan starts and stops it.

    With `demo`, the demo creator (a handbook and the 21-day program) is loaded at start and the page
    at `/` talks to it.
    """

    def lifespan(app: FastAPI) -> AbstractAsyncContextManager[None]:
        return running(app, service, demo=demo)

    app = FastAPI(
        title="Coachline",
        summary="An AI twin for coaches on their chat channels.",
        version="0.1.0",
        lifespan=lifespan,
        docs_url=None,  # served by bot.web.docs from local files instead of a CDN
        redoc_url=None,
    )
    app.state.coachline = service  # read by bot.api.deps only, which hands routes the parts they name
    app.add_middleware(
        StartedSessionMiddleware,
        secret_key=lambda: service.session_secret,
        session_cookie="coachline_session",
        same_site="lax",
        https_only=service.settings.public_url.startswith("https://"),
        max_age=60 * 60 * 24 * 365,
    )
    # Added last, so it runs first: the key and the body's size are checked before anything reads it.
    app.add_middleware(
        RequestGuard,
        key_is_valid=partial(key_is_valid, service),
        body_limit=service.settings.max_body_bytes,
        upload_limit=service.settings.max_upload_bytes,
    )
    app.add_exception_handler(RequestValidationError, _validation_error)  # type: ignore[arg-type]
    app.add_exception_handler(DBAPIError, _database_error)  # type: ignore[arg-type]
    app.include_router(health.router)
    for channel in service.channels.values():
        # Webhooks (`/webhooks/<channel>`) belong to their channel, which verifies and parses them.
        # First after health: a request is matched against the routes in order, and a platform's
        # webhook is the most frequent request (matching it last cost a fifth of its acknowledgement).
        channel_router = channel.router()
        if channel_router is not None:
            app.include_router(channel_router)
    # The chat router's errors, documented in the one error shape without touching its module.
    app.include_router(chat.router, responses={**COMMON_ERRORS, **error_responses(413, 429, 504)})
    app.include_router(audience.router)
    app.include_router(creators.router)
    app.include_router(knowledge.router)
    app.include_router(knowledge_batch.router)
    app.include_router(personality.router)
    for engine_router in engine_routers(service):  # programs and broadcasts, on narrow dependencies
        app.include_router(engine_router)
    app.include_router(audit.router)
    app.include_router(web_routes.router, responses=error_responses(404, 413, 422, 429, 504))
    mount_docs(app)
    app.include_router(dashboard_routes.router)
    return app


@asynccontextmanager
async def running(app: FastAPI, service: Coachline, *, demo: bool = False) -> AsyncIterator[None]:
    """The service started (and the demo loaded) for as long as the block runs: the app's lifespan,
    and `run.py serve`, which starts it before the server listens. A start that fails raises
    `StartupError` with one line saying why; nothing is left running then."""
    try:
        await service.start()
    except BaseException:
        await service.stop()  # whatever the start reached (each part stops only if it started)
        raise
    try:
        if demo:
            app.state.home_creator_id = (await load_demo(service)).creator_id
        await report_startup(service, demo=demo)
        yield
    finally:
        await service.stop()


async def key_is_valid(service: Coachline, key: str) -> bool:
    """Whether a bearer key is the admin key or a creator's."""
    async with service.sessions() as session:
        return await authenticate(session, key, service.admin_api_key) is not None


async def _validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
    """422 in the documented `ErrorOut` shape: one readable sentence per problem in `detail`, and the
    problems one by one in `errors` (without the echoed input, which may be anything)."""
    problems, errors = [], []
    for error in exc.errors():
        loc = [part if isinstance(part, int) else str(part) for part in error.get("loc", ())]
        where = ".".join(str(part) for part in loc if part != "body") or "body"
        message = str(error.get("msg", "invalid value"))
        problems.append(f"{where}: {message}")
        errors.append({"loc": loc, "msg": message, "type": str(error.get("type", "value_error"))})
    # A lone surrogate in the request can be echoed in a message: UTF-8 cannot write it.
    content = storable({"detail": "; ".join(problems) or "invalid request", "errors": errors})
    return JSONResponse(status_code=status.HTTP_422_UNPROCESSABLE_CONTENT, content=content)


# PostgreSQL's "character not in repertoire" and "untranslatable character" (a NUL in text or jsonb).
_UNSTORABLE_SQLSTATES = {"22021", "22P05"}


async def _database_error(request: Request, exc: DBAPIError) -> JSONResponse:
    """The last guard for text the database refuses (the edge checks should have caught it): 422,
    not 500. Any other database error is not the caller's fault and stays a server error."""
    original = exc.orig
    codes = {
        getattr(original, "sqlstate", None),
        getattr(getattr(original, "__cause__", None), "sqlstate", None),
    }
    if codes & _UNSTORABLE_SQLSTATES:
        return JSONResponse(
            status_code=status.HTTP_422_UNPROCESSABLE_CONTENT,
            content={"detail": "the request contains text that cannot be stored (a NUL character?)"},
        )
    raise exc
