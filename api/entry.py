"""The ``planner`` console command's first steps, before the command line's heavy imports.

A command that solves starts compiling the numba kernels not cached yet (:mod:`planner.warmup`)
first thing, so that the compiling overlaps the seconds spent importing geopandas, osmnx and
the rest; then the command line (:mod:`api.cli`) takes over.
"""

from __future__ import annotations

import sys

SOLVING_COMMANDS = frozenset({"demo", "serve", "plan", "hierarchy", "visits"})
"""Commands that solve, so need the compiled kernels."""


def main() -> None:
    """Console entry point: ``planner …``."""
    if len(sys.argv) > 1 and sys.argv[1] in SOLVING_COMMANDS:
        from planner.warmup import start_in_background

        start_in_background()
    from api.cli import app

    app()


if __name__ == "__main__":  # python -m api.entry …: the same as the planner command
    main()
