"""Where a benchmark's time goes: a cProfile run read as time per unit of work (an event, a
record) spent in named functions, and in the functions that spend the most themselves."""

from __future__ import annotations

import cProfile
import pstats
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

#: A named function: the label to print (indented under the function it is part of), the end of
#: its file's path and its name.
Named = tuple[str, str, str]


def profile(
    work: Callable[[], None], *, units: int, named: Sequence[Named], top: int = 12
) -> dict[str, Any]:
    """Run `work` under cProfile. Each of `named` with its cumulative microseconds and calls per
    unit and its share of the first (the whole); and the `top` functions by their own time."""
    profiler = cProfile.Profile()
    profiler.enable()
    work()
    profiler.disable()
    # {(file, line, function): (primitive calls, calls, own seconds, cumulative seconds, callers)}
    stats: dict[tuple[str, int, str], tuple[Any, ...]] = pstats.Stats(profiler).stats  # type: ignore[attr-defined]

    def cumulative(suffix: str, name: str) -> tuple[float, float]:
        found = [v for (f, _, n), v in stats.items() if f.endswith(suffix) and n == name]
        return sum(v[3] for v in found) / units, sum(v[1] for v in found) / units

    whole = cumulative(*named[0][1:])[0]
    if not whole:
        raise RuntimeError(f"{named[0][2]} in {named[0][1]} did not run: the whole is unknown")
    rows = []
    for label, suffix, name in named:
        seconds, calls = cumulative(suffix, name)
        rows.append({"label": label, "us": seconds * 1e6, "share": seconds / whole, "calls": calls})
    hottest = sorted(stats.items(), key=lambda item: item[1][2], reverse=True)[:top]
    return {
        "units": units,
        "named": rows,
        "top": [
            {
                "function": _where(file, line, name),
                "us": v[2] / units * 1e6,
                "share": v[2] / units / whole,
            }
            for (file, line, name), v in hottest
        ],
    }


def _where(file: str, line: int, name: str) -> str:
    if file == "~":
        return name  # a built-in: no file
    return f"{Path(file).parent.name}/{Path(file).name}:{line} {name}"


def print_profile(result: dict[str, Any], unit: str, line: Callable[..., None]) -> None:
    """`profile`'s result as the benchmark's table lines (`line(label, value, note)`)."""
    print(f"    cProfile of {result['units']:,d} {unit}s, us per {unit} (the profiler inflates):")
    for row in result["named"]:
        note = f"{row['share']:>4.0%}   {row['calls']:.2f} calls per {unit}"
        line(f"  {row['label']}", f"{row['us']:,.0f} us", note)
    print("    the functions that spend the most time themselves:")
    for row in result["top"]:
        line(f"  {row['function'][-56:]}", f"{row['us']:,.1f} us", f"{row['share']:>4.0%}")
