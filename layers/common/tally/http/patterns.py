"""The patterns of Tally's string fields, and what a mismatch means in words.

Plain data without pydantic, so the error mapping (tally.validation) can use them without loading
pydantic: the docs function, which validates nothing, never does. tally.http.fields builds the
field types from them.
"""

from __future__ import annotations

# C0 and C1 control characters and DEL; NUL is also refused for every string by the body gate.
_CONTROL = r"\x00-\x1f\x7f-\x9f"
# Text: no control characters.
TEXT = rf"^[^{_CONTROL}]*$"
# Text with at least one character that is neither a control nor a space.
VISIBLE_TEXT = rf"^[^{_CONTROL}]*[^ {_CONTROL}][^{_CONTROL}]*$"
# Passwords are taken as typed, except for NUL.
NO_NUL = r"^[^\x00]*$"
IDENTIFIER = r"^[A-Za-z0-9][A-Za-z0-9_.:-]*$"
_EMAIL_PART = rf"[^@ {_CONTROL}]+"
EMAIL = rf"^{_EMAIL_PART}@{_EMAIL_PART}\.{_EMAIL_PART}$"
# French company and establishment numbers; spaces anywhere (people copy "732 829 320").
SIREN = r"^ *(?:[0-9] *){9}$"
SIRET = r"^ *(?:[0-9] *){14}$"

# What a pattern mismatch means, in words (tally.validation uses it for 422 messages).
PATTERN_WORDS = {
    TEXT: "Control characters (such as tabs and line breaks) are not allowed",
    VISIBLE_TEXT: "Must contain a visible character and no control characters (tabs, line breaks)",
    NO_NUL: "NUL characters are not allowed",
    IDENTIFIER: "Use letters, digits and _ . : - only, starting with a letter or a digit",
    EMAIL: "Expected an email address such as name@example.com",
    SIREN: "A SIREN has exactly 9 digits",
    SIRET: "A SIRET has exactly 14 digits",
}
