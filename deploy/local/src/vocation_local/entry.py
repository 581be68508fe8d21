"""A Typer app called as a function (`main(argv)`): its exit code rather than `SystemExit`."""

from __future__ import annotations

from collections.abc import Sequence

import typer


def exit_code(app: typer.Typer, argv: Sequence[str] | None, prog_name: str) -> int:
    """Run `app` on `argv` (the process's arguments if None); 0, or the code it exited with."""
    try:
        app(args=list(argv) if argv is not None else None, prog_name=prog_name)
    except SystemExit as exit_:
        return exit_.code if isinstance(exit_.code, int) else 1
    return 0
