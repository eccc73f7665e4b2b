"""The FastAPI app: routes plus a lifespan that starts and stops the whole service."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request, status
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.middleware.sessions import SessionMiddleware

from bot.api import audience, audit, chat, creators, health, knowledge, knowledge_batch, personality
from bot.dashboard import routes as dashboard_routes
from bot.runtime import Coachline
from bot.secrets import load_or_create_secret
from bot.startup import report_startup
from bot.web import routes as web_routes
from programs import api as programs_api
from programs import broadcast_api

log = logging.getLogger(__name__)


def create_app(service: Coachline) -> FastAPI:
    """The HTTP app around one Coachline instance; the lifespan starts and stops it."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await service.start()
        await report_startup(service)
        try:
            yield
        finally:
            await service.stop()

    app = FastAPI(
        title="Coachline",
        summary="An AI twin for coaches on Telegram, Slack and SMS.",
        version="0.1.0",
        lifespan=lifespan,
    )
    app.state.coachline = service
    secret = (
        service.settings.secret_key
        or load_or_create_secret(service.settings.data_dir / "session_secret", prefix="ses")[0]
    )
    app.add_middleware(
        SessionMiddleware,
        secret_key=secret,
        session_cookie="coachline_session",
        same_site="lax",
        https_only=service.settings.public_url.startswith("https://"),
        max_age=60 * 60 * 24 * 365,
    )
    app.add_exception_handler(RequestValidationError, _validation_error)  # type: ignore[arg-type]
    app.include_router(health.router)
    app.include_router(chat.router)
    app.include_router(audience.router)
    app.include_router(creators.router)
    app.include_router(knowledge.router)
    app.include_router(knowledge_batch.router)
    app.include_router(personality.router)
    app.include_router(programs_api.router)
    app.include_router(broadcast_api.router)
    app.include_router(audit.router)
    app.include_router(web_routes.router)
    app.include_router(dashboard_routes.router)
    for channel in service.channels.values():
        # Webhooks (`/webhooks/<channel>`) belong to their channel, which verifies and parses them.
        channel_router = channel.router()
        if channel_router is not None:
            app.include_router(channel_router)
    return app


async def _validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
    """422 with one readable sentence per problem, plus FastAPI's usual list."""
    problems = []
    for error in exc.errors():
        where = ".".join(str(part) for part in error["loc"] if part != "body") or "body"
        problems.append(f"{where}: {error['msg']}")
    return JSONResponse(
        status_code=status.HTTP_422_UNPROCESSABLE_CONTENT,
        content={"detail": "; ".join(problems) or "invalid request", "errors": _jsonable(exc.errors())},
    )


def _jsonable(errors: object) -> object:
    # Validation errors can carry exception objects in "ctx", which JSON cannot hold.
    from fastapi.encoders import jsonable_encoder

    return jsonable_encoder(errors, custom_encoder={Exception: str})
