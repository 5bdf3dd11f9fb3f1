"""The billing domain's codes (plan slugs, metric codes, feature flags), checked in words.

A pattern mismatch would otherwise read "String should match pattern '^[a-z0-9]+…$'"; these
types keep the pattern in the JSON schema and say what is wrong when a value does not match.
"""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator, Field

SLUG = r"^[a-z0-9]+(?:-[a-z0-9]+)*$"
SNAKE = r"^[a-z][a-z0-9_]{0,63}$"
PROPERTY = r"^[A-Za-z_][A-Za-z0-9_.-]{0,63}$"


def _matching(pattern: str, words: str) -> AfterValidator:
    compiled = re.compile(pattern)

    def check(value: str) -> str:
        if compiled.fullmatch(value) is None:
            raise ValueError(f"{words}: got '{value}'")
        return value

    return AfterValidator(check)


_SLUG_WORDS = (
    "Use a slug: lower case letters and digits, words joined by single hyphens (e.g. sponsored-placement)"
)
_SNAKE_WORDS = "Use lower case letters, digits and underscores, starting with a letter (e.g. storage_gb)"

PlanCode = Annotated[
    str,
    Field(min_length=1, max_length=64, json_schema_extra={"pattern": SLUG}, description=_SLUG_WORDS),
    _matching(SLUG, _SLUG_WORDS),
]
CatalogueName = PlanCode
MetricCode = Annotated[
    str,
    Field(min_length=1, max_length=64, json_schema_extra={"pattern": SNAKE}, description=_SNAKE_WORDS),
    _matching(SNAKE, _SNAKE_WORDS),
]
FeatureFlag = MetricCode
PropertyName = Annotated[
    str,
    Field(min_length=1, max_length=64, json_schema_extra={"pattern": PROPERTY}),
    _matching(PROPERTY, "Name an event property: letters, digits, _ . -, starting with a letter or _"),
]
