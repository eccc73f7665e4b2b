"""The SQLite driver, side by side in one run: aiosqlite (a worker thread per connection) against
Coachline's inline driver (bot/foundation/sqlite_inline.py), everything else the same.

For each driver: Telegram replies/s through the whole service (bench.telegram's `coachline_rate`,
against a bare python-telegram-bot echo bot measured in the same run), the process CPU per reply and the event-loop thread's (what bounds replies/s: aiosqlite's thread
runs beside it on the second core),
the webhook ack's server CPU (bench.telegram's `ack_rows`), the outbox's CPU per send to an instant
channel (bench.telegram's `outbox_send_rate`), and — from a second, profiled run of the
replies — what each reply costs in thread hops (aiosqlite requests, worker-thread submissions), event
loop wake-ups from other threads (the self-pipe's `_read_from_self`), greenlet switches and statements.

    python -m bench.sqlite_driver [--count 400]
"""

from __future__ import annotations

import asyncio
import cProfile
import pstats
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import aiosqlite
from sqlalchemy import column, select, table, text

from bench import telegram as telegram_bench
from bench import telegram_sends
from bench.stats import Row
from bot.foundation import sqlite_inline
from bot.foundation.db import create_engine

BENCH = "SQLite driver (Telegram replies, webhook acks)"
DRIVERS = ("aiosqlite", "inline")


async def _aiosqlite_connect(database: str, *, timeout: float = 30.0, **kwargs: Any) -> Any:
    """What SQLAlchemy's aiosqlite dialect opens by itself: a connection served by its own thread."""
    connection = aiosqlite.connect(database, timeout=timeout, **kwargs)
    connection._thread.daemon = True
    return await connection


@contextmanager
def driver(name: str) -> Iterator[None]:
    """Engines made inside this block use driver `name` (create_engine looks `connect` up each time)."""
    inline = sqlite_inline.connect
    if name == "aiosqlite":
        sqlite_inline.connect = _aiosqlite_connect
    try:
        yield
    finally:
        sqlite_inline.connect = inline


# (file suffix, function name) of the calls counted per reply
_COUNTED = {
    "thread hops (aiosqlite requests)": ("aiosqlite/core.py", "_execute"),
    "thread hops (worker submissions)": ("concurrent/futures/thread.py", "submit"),
    "loop wake-ups from threads": ("asyncio/selector_events.py", "_read_from_self"),
    "statements": ("sqlalchemy/connectors/asyncio.py", "_execute_async"),
}


def _count(profile: cProfile.Profile, count: int) -> dict[str, float]:
    calls: dict[str, float] = dict.fromkeys([*_COUNTED, "greenlet switches"], 0.0)
    for (filename, _, function), (_, total_calls, *_rest) in pstats.Stats(profile).stats.items():  # type: ignore[attr-defined]
        for measure, (suffix, name) in _COUNTED.items():
            if function == name and filename.endswith(suffix):
                calls[measure] += total_calls / count
        if "switch" in function and "greenlet" in function:
            calls["greenlet switches"] += total_calls / count
    return calls


async def transaction_cpu(name: str, count: int, in_flight: int) -> float:
    """Process CPU (ms, every thread) per small transaction — insert a row, read one back, commit —
    through SQLAlchemy Core on driver `name`, `in_flight` transactions at a time."""
    notes = table("notes", column("id"), column("body"))
    with tempfile.TemporaryDirectory() as directory, driver(name):
        engine = create_engine(f"sqlite+aiosqlite:///{directory}/driver.db")
        try:
            async with engine.begin() as connection:
                await connection.execute(text("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT)"))

            async def one(index: int) -> None:
                async with engine.begin() as connection:
                    await connection.execute(notes.insert().values(body=f"note {index}"))
                    await connection.execute(select(notes.c.body).where(notes.c.id == index + 1))

            for index in range(50):  # warm-up: statement cache, pages
                await one(index)
            started = time.process_time()
            for first in range(50, 50 + count, in_flight):
                await asyncio.gather(*(one(index) for index in range(first, first + in_flight)))
            return (time.process_time() - started) / count * 1000
        finally:
            await engine.dispose()


async def _measure(name: str, count: int) -> dict[str, float]:
    with driver(name):
        sqlite_inline.stats.reset()
        cpu, loop_cpu = time.process_time(), time.thread_time()
        rate = await telegram_bench.coachline_rate(count)
        cpu = (time.process_time() - cpu) / count * 1000
        loop_cpu = (time.thread_time() - loop_cpu) / count * 1000
        slowest = sqlite_inline.stats.slowest_inline_seconds * 1000
        profile = cProfile.Profile()
        profile.enable()
        try:
            await telegram_bench.coachline_rate(count)
        finally:
            profile.disable()
        acks = await telegram_bench.ack_rows(count)
        sends = count * 5
        instant = await telegram_sends.outbox_send_run(sends, None)
        cpu_sends, duplicates = instant.cpu_ms, instant.duplicates
    ack = {row.benchmark.rsplit(", ", 1)[1]: row.value for row in acks if row.measure.startswith("Coachline")}
    return {
        "transaction CPU, 1 in flight (ms)": await transaction_cpu(name, count * 5, 1),
        "transaction CPU, 32 in flight (ms)": await transaction_cpu(name, count * 5, 32),
        "replies/s": rate,
        "process CPU per reply (ms)": cpu,
        "event-loop thread CPU per reply (ms)": loop_cpu,
        "ack CPU, 1 in flight (ms)": float(ack["1 in flight"].split()[0]),
        "ack CPU, 32 in flight (ms)": float(ack["32 in flight"].split()[0]),
        "outbox alone, CPU per send (ms)": cpu_sends,
        "outbox alone, duplicates": duplicates,
        "slowest inline call (ms)": slowest,
        **_count(profile, count),
    }


async def run(count: int = 400) -> list[Row]:
    """Both drivers' figures and the echo bot's ceiling, measured in one run."""
    ceiling = await telegram_bench.ptb_echo_rate(count)
    measured = {name: await _measure(name, count) for name in DRIVERS}
    note = f"{count} updates; echo bot {ceiling:.0f} replies/s"
    rows = [Row(BENCH, "bare python-telegram-bot echo bot", f"{ceiling:.0f} replies/s", "the ceiling")]
    for measure in measured[DRIVERS[0]]:
        values = " / ".join(f"{measured[name][measure]:.2f}" for name in DRIVERS)
        rows.append(Row(BENCH, f"{measure}", values, f"{' / '.join(DRIVERS)}; {note}"))
    rows += [
        Row(
            BENCH,
            f"replies ratio ({name})",
            f"{measured[name]['replies/s'] / ceiling:.2f}",
            "Coachline / echo bot",
        )
        for name in DRIVERS
    ]
    return rows


if __name__ == "__main__":
    count = int(sys.argv[sys.argv.index("--count") + 1]) if "--count" in sys.argv else 400
    if "--transactions" in sys.argv:
        for name in DRIVERS:
            for in_flight in (1, 32):
                cpu = asyncio.run(transaction_cpu(name, count * 5, in_flight))
                print(f"{name:<10} {in_flight:>2} in flight: {cpu:.3f} ms CPU per transaction")
        raise SystemExit
    for row in asyncio.run(run(count)):
        print(f"{row.measure:<36} {row.value:>24}  {row.note}")
