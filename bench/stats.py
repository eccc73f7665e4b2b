"""Small statistics for benchmark tables."""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass
from typing import Any


def percentile(values: Sequence[float], fraction: float) -> float:
    """The nearest-rank percentile (`fraction` in 0..1) of `values`."""
    if not values:
        raise ValueError("no values")
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, round(fraction * len(ordered) + 0.5) - 1))
    return ordered[rank]


@dataclass(frozen=True, slots=True)
class Row:
    """One line of the benchmark table."""

    benchmark: str
    measure: str
    value: str
    note: str = ""


def run_alone(
    run: Callable[[bool], Coroutine[Any, Any, list[Row]]], prog: str, description: str | None
) -> None:
    """`python -m bench.<name> [--quick]`: one benchmark's rows, printed as a table."""
    parser = argparse.ArgumentParser(prog=prog, description=description)
    parser.add_argument("--quick", action="store_true", help="a shorter run")
    options = parser.parse_args()
    for row in asyncio.run(run(options.quick)):
        print(f"{row.benchmark:<40} {row.measure:<34} {row.value:>14}  {row.note}")
