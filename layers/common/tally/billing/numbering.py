"""Invoice and credit-note numbers: a format with tokens, a reset period, and the sequence key.

A format such as `INV-{YYYY}{MM}-{NNNNN}` holds literal text and tokens: `{YYYY}` (year),
`{YY}` (two-digit year), `{MM}` (month), and exactly one run of `N` (`{NNNNN}`: the sequence
number, zero-padded to that width; a longer number is written in full, never cut). Dates are the
finalisation instant's in the seller's time zone.

The reset period picks the sequence a number is drawn from: `monthly` counts from 1 each month
(`INV#2026-04`), `yearly` each year (`INV#2026`), `never` once (`INV#ALL`). The format must show
what the reset hides (a monthly reset needs the year and the month in the number), else two
invoices would share a number. The counter itself lives in storage (tally.invoices.dynamo).
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Literal
from zoneinfo import ZoneInfo

Reset = Literal["monthly", "yearly", "never"]
DocumentKind = Literal["invoice", "credit_note"]

_TOKEN = re.compile(r"\{([A-Z]+)\}")
_DATE_TOKENS = frozenset({"YYYY", "YY", "MM"})
_LITERAL = re.compile(r"[A-Za-z0-9/_.#-]*")
MAX_LENGTH = 40
SEQUENCE_PREFIX = {"invoice": "INV", "credit_note": "CN"}


def format_problem(pattern: str, reset: Reset) -> str | None:
    """Why this format cannot number documents under this reset, in words; None if it can."""
    if not pattern or len(pattern) > MAX_LENGTH:
        return f"A number format has 1 to {MAX_LENGTH} characters"
    tokens = _TOKEN.findall(pattern)
    unknown = [t for t in tokens if t not in _DATE_TOKENS and set(t) != {"N"}]
    if unknown:
        return (
            f"'{{{unknown[0]}}}' is not a token: use {{YYYY}}, {{YY}}, {{MM}} and one {{NNNNN}} "
            "(as many N as digits)"
        )
    counters = [t for t in tokens if set(t) == {"N"}]
    if len(counters) != 1:
        return "A number format holds exactly one sequence token, e.g. {NNNNN}"
    if not _LITERAL.fullmatch(_TOKEN.sub("", pattern)):
        return "Outside its tokens a number format uses letters, digits and - _ . / # only"
    year = "YYYY" in tokens or "YY" in tokens
    if reset in ("monthly", "yearly") and not year:
        return f"A {reset} reset needs the year in the number ({{YYYY}}), or numbers would repeat"
    if reset == "monthly" and "MM" not in tokens:
        return "A monthly reset needs the month in the number ({MM}), or numbers would repeat"
    return None


def local(at: datetime, time_zone: str) -> datetime:
    if at.tzinfo is None:
        raise ValueError("numbering needs an aware instant")
    return at.astimezone(ZoneInfo(time_zone))


def sequence_key(kind: DocumentKind, reset: Reset, at: datetime, time_zone: str) -> str:
    """Which counter numbers a document finalised at `at`: `INV#2026-04`, `CN#2026`, `INV#ALL`."""
    when = local(at, time_zone)
    prefix = SEQUENCE_PREFIX[kind]
    if reset == "monthly":
        return f"{prefix}#{when.year:04d}-{when.month:02d}"
    if reset == "yearly":
        return f"{prefix}#{when.year:04d}"
    return f"{prefix}#ALL"


def render(pattern: str, at: datetime, time_zone: str, sequence: int) -> str:
    """The number of the `sequence`-th document (from 1) of its sequence, finalised at `at`."""
    if sequence < 1:
        raise ValueError("sequence numbers start at 1")
    when = local(at, time_zone)

    def token(match: re.Match[str]) -> str:
        name = match.group(1)
        if name == "YYYY":
            return f"{when.year:04d}"
        if name == "YY":
            return f"{when.year % 100:02d}"
        if name == "MM":
            return f"{when.month:02d}"
        return f"{sequence:0{len(name)}d}"

    return _TOKEN.sub(token, pattern)
