"""Progress of a long computation, reported to whoever asked for it (a job's worker, a terminal).

Solvers call :func:`report` at their stages ("greedy", "Lagrangian round 3", with the incumbent
and the bound when they have them); a caller that wants to hear sets a callback for the duration
of a call with :func:`reporting`.  Nobody listening costs nothing.  The callback is per thread
and per process (a :class:`contextvars.ContextVar`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar

Listener = Callable[[str, "float | None", "float | None"], None]
"""``callback(message, incumbent, bound)``."""

_LISTENER: ContextVar[Listener | None] = ContextVar("planner_progress", default=None)


def report(message: str, *, incumbent: float | None = None, bound: float | None = None) -> None:
    """Tell the listener (if any) what is happening, with the best plan's value and the bound so far."""
    listener = _LISTENER.get()
    if listener is not None:
        listener(message, None if incumbent is None else float(incumbent), None if bound is None else float(bound))


def listening() -> bool:
    """Whether anyone hears :func:`report` in this thread (to skip work nobody will see)."""
    return _LISTENER.get() is not None


@contextmanager
def reporting(listener: Listener | None) -> Iterator[None]:
    """Send every :func:`report` inside the ``with`` block to ``listener``."""
    token = _LISTENER.set(listener)
    try:
        yield
    finally:
        _LISTENER.reset(token)
