"""Serve an ASGI app on an ephemeral loopback port inside the test's event loop."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, Literal


@asynccontextmanager
async def serve_asgi(
    app: Any, *, lifespan: Literal["on", "off"] = "on", websockets: bool = False
) -> AsyncIterator[str]:
    """Run `app` under uvicorn on 127.0.0.1:0; yields its base URL; shuts it down on exit.

    `websockets=True` serves WebSockets with uvicorn's sans-I/O protocol (no deprecated websockets API).
    """
    import uvicorn

    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=0,
        log_level="warning",
        lifespan=lifespan,
        http="h11",
        # Without WebSockets no websockets stack is imported (it would only add deprecation warnings).
        ws="websockets-sansio" if websockets else "none",
        timeout_graceful_shutdown=2,
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    try:
        while not server.started:
            if task.done():
                task.result()  # startup failed: raise its error here
                raise RuntimeError("server stopped during startup")
            await asyncio.sleep(0.01)
        host, port = server.servers[0].sockets[0].getsockname()[:2]
        yield f"http://{host}:{port}"
    finally:
        server.should_exit = True
        await task
