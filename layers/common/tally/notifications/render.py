"""Rendering an `Email` from jinja2 templates.

A template is three files in templates/: `<name>.<locale>.subject` (one line), `.txt` and
`.html`; the text and HTML parts extend the shared layouts (`_layout.txt`, `_layout.html`),
which add each locale's footer. Only the HTML part is autoescaped. A variable the template uses
and the caller did not give is an error, never an empty string in a customer's inbox.
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from tally.notifications.email import Email

TEMPLATES = Path(__file__).with_name("templates")
LOCALES = ("en", "fr")
DEFAULT_LOCALE = "en"
_NAME = re.compile(r"^[a-z][a-z0-9-]*$")


@lru_cache(maxsize=1)
def environment() -> Environment:
    return Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(enabled_extensions=("html",), default_for_string=False, default=False),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=False,
    )


def supported_locale(locale: str | None) -> str:
    """The locale to write in: the one asked for if Tally has it (`fr-FR` counts as `fr`), else English."""
    language = (locale or "").split("-")[0].split("_")[0].lower()
    return language if language in LOCALES else DEFAULT_LOCALE


def render(template: str, locale: str, *, to: str, entity_id: str | None = None, **context: Any) -> Email:
    """The email `template` in `locale` (English when Tally has no such translation)."""
    if not _NAME.match(template):
        raise ValueError(f"Not a template name: {template!r}")
    language = supported_locale(locale)
    env = environment()
    values = {**context, "locale": language}
    # One line, whatever the template's whitespace: a subject is a header.
    subject = " ".join(env.get_template(f"{template}.{language}.subject").render(values).split())
    values["subject"] = subject
    return Email(
        to=to,
        subject=subject,
        text=env.get_template(f"{template}.{language}.txt").render(values).strip() + "\n",
        html=env.get_template(f"{template}.{language}.html").render(values),
        template=template,
        entity_id=entity_id,
        locale=language,
    )
