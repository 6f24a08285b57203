"""Reasons shown to users, in English and Chinese.

Why a stop is not visited or an elder is short of visits is written for civil-affairs staff, so
each reason is made in both languages where it is made (the planner's tables carry ``reason``
in English and ``reason_zh`` beside it); nothing is translated afterwards from the English text.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True, order=True)
class Reason:
    """One reason, in English (``en``) and Chinese (``zh``)."""

    en: str
    zh: str

    def __str__(self) -> str:
        return self.en

    def __bool__(self) -> bool:
        """A reason is true when it says something (NO_REASON is false)."""
        return bool(self.en)


NO_REASON = Reason("", "")
"""Nothing stands in the way (the stop can be served)."""


def joined(reasons: Iterable[Reason]) -> Reason:
    """Several reasons as one, sorted and without repeats ("; " in English, "；" in Chinese)."""
    unique = sorted(set(r for r in reasons if r.en))
    return Reason("; ".join(r.en for r in unique), "；".join(r.zh for r in unique))
