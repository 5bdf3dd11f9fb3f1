"""French company identifiers: SIREN (9 digits) and SIRET (14 digits), Luhn-checked."""

from __future__ import annotations

# La Poste's establishments share one SIREN and use a digit-sum rule instead of Luhn.
LA_POSTE_SIREN = "356000000"


def _digits(value: str, count: int) -> bool:
    """Exactly `count` ASCII digits (str.isdigit() also accepts other scripts' digits)."""
    return len(value) == count and value.isascii() and value.isdigit()


def luhn_valid(digits: str) -> bool:
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = int(char)
        if position % 2 == 1:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return total % 10 == 0


def siren_problem(value: str) -> str | None:
    """Why a SIREN is not valid, in words, or None when it is."""
    if not _digits(value, 9):
        return "A SIREN has exactly 9 digits"
    if not luhn_valid(value):
        return "This SIREN fails its check digit (Luhn): check for a typo"
    return None


def siret_problem(value: str) -> str | None:
    if not _digits(value, 14):
        return "A SIRET has exactly 14 digits"
    if value.startswith(LA_POSTE_SIREN):
        if sum(int(char) for char in value) % 5 != 0:
            return "This SIRET fails its check digit: check for a typo"
        return None
    if not luhn_valid(value):
        return "This SIRET fails its check digit (Luhn): check for a typo"
    return None
