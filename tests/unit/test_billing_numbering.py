"""Invoice and credit-note numbers: tokens, reset periods, sequence keys."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tally.billing.numbering import format_problem, render, sequence_key

AT = datetime(2026, 4, 30, 22, 30, tzinfo=UTC)  # 1 May 00:30 in Paris


def test_the_default_format_uses_the_sellers_local_month() -> None:
    assert render("INV-{YYYY}{MM}-{NNNNN}", AT, "Europe/Paris", 7) == "INV-202605-00007"
    assert render("INV-{YYYY}{MM}-{NNNNN}", AT, "Africa/Dakar", 7) == "INV-202604-00007"
    assert sequence_key("invoice", "monthly", AT, "Europe/Paris") == "INV#2026-05"
    assert sequence_key("credit_note", "yearly", AT, "Europe/Paris") == "CN#2026"
    assert sequence_key("invoice", "never", AT, "Europe/Paris") == "INV#ALL"


def test_a_number_past_its_width_is_written_in_full() -> None:
    assert render("F{YY}-{NNN}", AT, "UTC", 12345) == "F26-12345"


@pytest.mark.parametrize(
    ("pattern", "reset", "problem"),
    [
        ("INV-{NNNNN}", "monthly", "needs the year"),
        ("INV-{YYYY}-{NNNNN}", "monthly", "needs the month"),
        ("INV-{YYYY}-{NNNNN}", "yearly", None),
        ("INV-{NNNNN}", "never", None),
        ("INV-{YYYY}", "never", "exactly one sequence token"),
        ("INV-{NN}-{NN}", "never", "exactly one sequence token"),
        ("INV-{DD}-{NNN}", "never", "'{DD}' is not a token"),
        ("INV {NNN}", "never", "letters, digits"),
    ],
)
def test_formats_are_checked_in_words(pattern: str, reset: str, problem: str | None) -> None:
    found = format_problem(pattern, reset)  # type: ignore[arg-type]
    if problem is None:
        assert found is None
    else:
        assert found is not None
        assert problem in found


@given(
    first=st.integers(min_value=1, max_value=10**6),
    second=st.integers(min_value=1, max_value=10**6),
    seconds=st.integers(min_value=0, max_value=10 * 365 * 86400),
)
def test_distinct_sequences_of_one_period_give_distinct_numbers(
    first: int, second: int, seconds: int
) -> None:
    at = datetime.fromtimestamp(1_700_000_000 + seconds, UTC)
    a = render("INV-{YYYY}{MM}-{NNNNN}", at, "Europe/Paris", first)
    b = render("INV-{YYYY}{MM}-{NNNNN}", at, "Europe/Paris", second)
    assert (a == b) == (first == second)
    # The number's date part is the sequence key's period.
    assert sequence_key("invoice", "monthly", at, "Europe/Paris").replace("-", "") == f"INV#{a[4:10]}"
