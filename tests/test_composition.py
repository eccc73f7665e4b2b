"""Building the service does no I/O; starting it does, and a start that fails says why in one line.
Routers take the parts they name, so one can run with nothing but those parts."""

from __future__ import annotations

import gc
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from bot.api import health
from bot.api.deps import get_health
from bot.composition import build_service
from bot.startup_error import StartupError
from channels.web import WebChannel
from config import Settings


def _everything_under(path: Path) -> list[Path]:
    return sorted(path.rglob("*"))


async def test_building_the_service_touches_neither_disk_nor_database(
    make_settings: Callable[..., Settings], tmp_path: Path
) -> None:
    data = tmp_path / "not-yet" / "data"
    # The defaults that do I/O when opened: embedded Chroma and SQLite in the data dir, the local
    # embedding model in it, and an admin key kept there.
    settings = make_settings(data_dir=data, database_url="", chroma_url="", embeddings="local", api_key="")

    service = build_service(settings, channels={"web": WebChannel()})

    assert _everything_under(tmp_path) == []
    assert service.keys is None and service.default_creator is None
    with pytest.raises(RuntimeError, match="loaded when it starts"):
        _ = service.admin_api_key


async def test_a_data_dir_that_cannot_be_made_stops_the_start_in_one_line(
    make_settings: Callable[..., Settings], tmp_path: Path
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    data = blocker / "data"
    service = build_service(make_settings(data_dir=data, database_url=""), channels={"web": WebChannel()})

    with pytest.raises(StartupError) as refused:
        await service.start()
    await service.stop()  # a start that failed leaves nothing to stop, and stopping does not fail

    message = str(refused.value)
    assert f"cannot use the data dir {data} (COACH_DATA_DIR)" in message
    assert "Not a directory" in message and "\n" not in message
    assert _everything_under(tmp_path) == [blocker]


async def test_an_unreachable_database_stops_the_start_in_one_line_without_its_password(
    make_settings: Callable[..., Settings], unused_port: int
) -> None:
    url = f"postgresql+asyncpg://coach:s3cret@127.0.0.1:{unused_port}/coach"
    service = build_service(make_settings(database_url=url), channels={"web": WebChannel()})

    with pytest.raises(StartupError) as refused:
        await service.start()
    await service.stop()

    message = str(refused.value)
    assert f"127.0.0.1:{unused_port}/coach (COACH_DATABASE_URL)" in message
    assert message.startswith("cannot use the database")
    assert "s3cret" not in message and "\n" not in message


async def test_a_router_runs_on_the_one_part_it_names() -> None:
    async def components() -> dict[str, dict[str, Any]]:
        return {"database": {"state": "real", "detail": "fake"}, "llm": {"state": "degraded", "detail": "x"}}

    app = FastAPI()
    app.include_router(health.router)
    app.dependency_overrides[get_health] = lambda: components  # no service at all

    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://app") as client:
        answer = (await client.get("/health/integration")).json()

    assert answer["status"] == "degraded"
    assert answer["components"] == await components()
    assert answer["integrations"]["database_connectivity"] is True
    assert answer["integrations"]["phase1_knowledge"] is False  # no knowledge part named: not real


async def test_a_started_service_puts_its_start_up_heap_out_of_the_collectors_sight(
    make_settings: Callable[..., Settings],
) -> None:
    service = build_service(make_settings(), channels={"web": WebChannel()})
    frozen_before = gc.get_freeze_count()
    try:
        await service.start()
        frozen_after = gc.get_freeze_count()
    finally:
        await service.stop()
        gc.unfreeze()  # back in the collector's sight: the rest of this test process collects as before

    # Without it, every full collection walked all of these (80-90 ms a pause at 100k chunks).
    assert frozen_after > frozen_before
