"""`make bench`: run every benchmark (or those named), print their figures, save them as JSON."""

from __future__ import annotations

import importlib
import json
import os
import platform
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer

BENCHMARKS = (
    "consumer_pipeline",
    "events_ingestion",
    "catalogue_search",
    "offer_page",
    "matching",
    "notifications_delivery",
    "end_to_end",
)
RESULTS = Path(__file__).resolve().parent.parent / ".run" / "bench-results.json"


def main(names: list[str]) -> int:
    """Run the benchmarks; a missing benchmark module is reported, not faked."""
    selected = names or list(BENCHMARKS)
    results: dict[str, object] = {}
    if names and RESULTS.exists():
        # Running a few benchmarks keeps the others' last figures (each entry carries its date).
        results = json.loads(RESULTS.read_text(encoding="utf-8"))
    results["date"] = datetime.now(UTC).isoformat(timespec="seconds")
    results["machine"] = f"{platform.machine()}, {_cores()} cores, Python {platform.python_version()}"
    failed = False
    for name in selected:
        try:
            module = importlib.import_module(f"benchmarks.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"benchmarks.{name}":
                raise
            print(f"== {name}: not written yet")
            results[name] = "not written yet"
            continue
        print(f"== {name}", flush=True)
        started = time.perf_counter()
        try:
            figures = module.main()
        except Exception as exc:
            failed = True
            print(f"   FAILED: {exc!r}")
            results[name] = {"error": repr(exc)}
            continue
        figures["duration_s"] = round(time.perf_counter() - started, 1)
        figures["measured_at"] = datetime.now(UTC).isoformat(timespec="seconds")
        figures["load_average_after"] = [round(x, 2) for x in os.getloadavg()]
        results[name] = figures
        for key, value in figures.items():
            print(f"   {key:<28} {value}")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"figures saved to {RESULTS}")
    return 1 if failed else 0


def _cores() -> int:
    return os.cpu_count() or 0


app = typer.Typer(add_completion=False, help=__doc__)


@app.command()
def bench(
    names: Annotated[
        list[str] | None, typer.Argument(help=f"benchmarks to run (default: all of {', '.join(BENCHMARKS)})")
    ] = None,
) -> None:
    """Run every benchmark (or those named), print their figures, save them as JSON."""
    raise typer.Exit(main(names or []))


if __name__ == "__main__":
    app(prog_name="python -m benchmarks")
