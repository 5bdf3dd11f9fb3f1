"""The user pool's password policy, in one place.

Tally checks a new password before calling Cognito, so the answer names each missing rule in
words; the OpenAPI document carries the same rules as a pattern (JSON Schema and Python read it
alike), and tests/unit/test_auth_password.py holds them equal to template.yaml's PasswordPolicy.
"""

from __future__ import annotations

import re

MIN_LENGTH = 12
MAX_LENGTH = 256  # Cognito's own limit on a password
# Cognito's special characters; a space counts as one too, except at either end (refused there).
SYMBOLS = "^$*.[]{}()?\"!@#%&/\\,><':;|_~`=+- "
_CONTROL = r"\x00-\x1f\x7f-\x9f"
_SYMBOL_CLASS = "[" + "".join("\\" + ch if ch in "^[]\\-" else ch for ch in SYMBOLS) + "]"
_ANY = f"[^{_CONTROL}]*"
PATTERN = (
    f"^(?={_ANY}[a-z])(?={_ANY}[A-Z])(?={_ANY}[0-9])(?={_ANY}{_SYMBOL_CLASS})"
    f"[^ {_CONTROL}](?:{_ANY}[^ {_CONTROL}])?$"
)
DESCRIPTION = (
    f"{MIN_LENGTH} to {MAX_LENGTH} characters, with a lower case letter (a-z), an upper case letter "
    "(A-Z), a digit (0-9) and a symbol (" + " ".join(SYMBOLS.strip()) + ", or a space inside); "
    "no control characters and no space at either end"
)

_RULES: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile("[a-z]"), "a lower case letter (a-z)"),
    (re.compile("[A-Z]"), "an upper case letter (A-Z)"),
    (re.compile("[0-9]"), "a digit (0-9)"),
    (re.compile(_SYMBOL_CLASS), "a symbol such as ! ? @ # $ % & * - _ ="),
)
_CONTROLS = re.compile(f"[{_CONTROL}]")


def problems(password: str) -> list[str]:
    """What the password lacks, in words (empty when the pool would accept it)."""
    found = []
    if len(password) < MIN_LENGTH:
        found.append(f"use at least {MIN_LENGTH} characters")
    if len(password) > MAX_LENGTH:
        found.append(f"use at most {MAX_LENGTH} characters")
    missing = [words for rule, words in _RULES if not rule.search(password)]
    if missing:
        found.append("add " + _joined(missing))
    if _CONTROLS.search(password):
        found.append("remove control characters (such as tabs and line breaks)")
    if password.startswith(" ") or password.endswith(" "):
        found.append("remove the space at the start or the end")
    return found


def describe(password: str) -> str | None:
    """One sentence saying how to fix the password, or None when it is acceptable."""
    found = problems(password)
    if not found:
        return None
    return "This password is too weak: " + "; ".join(found)


def _joined(parts: list[str]) -> str:
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]
