"""Errors and problem reports raised while reading and validating input data.

Two kinds of trouble are distinguished:

* :class:`DataError` stops the work: the input cannot be used at all (unreadable file, missing
  field, no CRS, empty layer, duplicate ids).  Its message names the file, the field and, where
  there is one, the feature.
* :class:`DataIssue` is a partial problem (three sites outside the boundary, a population cell with
  a negative count): the offending features are skipped and the issue is *reported*, never
  silently dropped.  Readers return their issues in a list; the Region keeps them all.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any


class DataError(ValueError):
    """An input that cannot be used.

    Parameters
    ----------
    message
        What is wrong, in plain words.
    source
        The file (or layer name) the problem is in, if any.
    field
        The column / attribute concerned, if any.
    feature
        The feature concerned (an id or a row number), if any.
    """

    def __init__(
        self,
        message: str,
        *,
        source: str | Path | None = None,
        field: str | None = None,
        feature: Any = None,
    ) -> None:
        self.message = message
        self.source = str(source) if source is not None else None
        self.field = field
        self.feature = feature
        super().__init__(self._render())

    def _render(self) -> str:
        where = []
        if self.source:
            where.append(f"file {self.source!s}")
        if self.field:
            where.append(f"field '{self.field}'")
        if self.feature is not None:
            where.append(f"feature {self.feature}")
        return f"{self.message} ({', '.join(where)})" if where else self.message

    def to_dict(self) -> dict[str, Any]:
        """The error as a JSON-friendly dictionary (for the API and the CLI)."""
        return {
            "error": self.message,
            "source": self.source,
            "field": self.field,
            "feature": None if self.feature is None else str(self.feature),
        }


class OfflineError(DataError):
    """An online source (Overpass, tile server) could not be reached."""


@dataclass
class DataIssue:
    """A partial problem: some features were skipped, or something looks wrong; this says which and why.

    Attributes
    ----------
    source
        File or layer name.
    message
        What was wrong (a warning states its likely cause and the fix).
    features
        Ids (or row numbers) of the affected features; at most the first 50 are kept.
    count
        Total number of affected features.
    field
        The column concerned, if any.
    skipped
        True: the features were left out.  False: a warning, the features were kept.
    """

    source: str
    message: str
    features: list[str] = field(default_factory=list)
    count: int = 0
    field: str | None = None
    skipped: bool = True

    @classmethod
    def of(
        cls, source: str | Path, message: str, features: Any, field: str | None = None, *, skipped: bool = True
    ) -> "DataIssue":
        """Build an issue from any iterable of feature ids (kept as strings, first 50)."""
        ids = [str(f) for f in features]
        return cls(str(source), message, ids[:50], len(ids), field, skipped)

    @classmethod
    def warning(cls, source: str | Path, message: str, field: str | None = None) -> "DataIssue":
        """A warning about a whole source (nothing skipped)."""
        return cls(str(source), message, [], 0, field, False)

    def __str__(self) -> str:
        where = f" [{self.field}]" if self.field else ""
        head = f"{'WARNING ' if not self.skipped else ''}{self.source}{where}: {self.message}"
        if not self.count:
            return head
        shown = ", ".join(self.features[:10])
        more = f" and {self.count - 10} more" if self.count > 10 else ""
        verb = "skipped" if self.skipped else "concerned"
        return f"{head}: {self.count} feature(s) {verb} ({shown}{more})"

    def to_dict(self) -> dict[str, Any]:
        """The issue as a JSON-friendly dictionary."""
        return asdict(self)
