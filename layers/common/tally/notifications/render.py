"""Rendering an `Email` from jinja2 templates.

A template is three files in templates/: `<name>.<locale>.subject` (one line), `.txt` and
`.html`; the text and HTML parts extend the shared layouts (`_layout.txt`, `_layout.html`),
which add each locale's footer. Only the HTML part is autoescaped. A variable the template uses
and the caller did not give is an error, never an empty string in a customer's inbox.

Filters write numbers in the email's locale (tally.billing.formatting): `{{ amount|money(currency) }}`
(integer minor units), `{{ rate|percent }}`, `{{ quantity|number }}`, `{{ day|date }}`,
`{{ day|date(long=True) }}`.

Templates can be overridden per deployment without a rebuild: with EMAIL_TEMPLATES_PREFIX set,
a template found under that S3 prefix (in EMAIL_TEMPLATES_BUCKET, by default the documents
bucket) wins over the packaged one (tally.notifications.overrides).
"""

from __future__ import annotations

import os
import re
from datetime import date
from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from typing import Any

from jinja2 import BaseLoader, Environment, FileSystemLoader, StrictUndefined, pass_context, select_autoescape
from jinja2.runtime import Context

from tally.billing.formatting import format_amount, format_date, format_decimal, format_percent
from tally.notifications.email import Email

TEMPLATES = Path(__file__).with_name("templates")
LOCALES = ("en", "fr")
DEFAULT_LOCALE = "en"
_NAME = re.compile(r"^[a-z][a-z0-9-]*$")
_WHITESPACE = re.compile(r"[ \t\r\n\f\v]+")


# How long a warm container trusts what it read of the S3 overrides.
OVERRIDE_TTL_SECONDS = 60


@pass_context
def _money(context: Context, amount: int, currency: str) -> str:
    return format_amount(amount, currency, context["locale"])


@pass_context
def _percent(context: Context, rate: Decimal) -> str:
    return format_percent(rate, context["locale"])


@pass_context
def _number(context: Context, value: Decimal | int) -> str:
    return format_decimal(Decimal(value), context["locale"])


@pass_context
def _date(context: Context, day: date, long: bool = False) -> str:
    return format_date(day, context["locale"], long=long)


def packaged_loader() -> FileSystemLoader:
    return FileSystemLoader(TEMPLATES)


def build_environment(loader: BaseLoader | None = None) -> Environment:
    """The email environment over `loader` (the packaged templates by default)."""
    env = Environment(
        loader=loader or packaged_loader(),
        autoescape=select_autoescape(enabled_extensions=("html",), default_for_string=False, default=False),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=False,
    )
    env.filters.update(money=_money, percent=_percent, number=_number, date=_date)
    return env


def configured_loader() -> BaseLoader:
    """S3 overrides in front of the packaged templates when EMAIL_TEMPLATES_PREFIX is set."""
    prefix = os.environ.get("EMAIL_TEMPLATES_PREFIX", "").strip()
    bucket = os.environ.get("EMAIL_TEMPLATES_BUCKET", "") or os.environ.get("DOCUMENTS_BUCKET_NAME", "")
    if not prefix or not bucket:
        return packaged_loader()
    from tally.notifications.overrides import S3OverrideLoader
    from tally.storage import clients

    return S3OverrideLoader(
        clients.on_first_use(clients.s3), bucket, prefix, packaged_loader(), ttl_seconds=OVERRIDE_TTL_SECONDS
    )


@lru_cache(maxsize=1)
def environment() -> Environment:
    """The process's environment, with its template cache (and the overrides' TTL cache)."""
    return build_environment(configured_loader())


def supported_locale(locale: str | None) -> str:
    """The locale to write in: the one asked for if Tally has it (`fr-FR` counts as `fr`), else English."""
    language = (locale or "").split("-")[0].split("_")[0].lower()
    return language if language in LOCALES else DEFAULT_LOCALE


def render(template: str, locale: str, *, to: str, entity_id: str | None = None, **context: Any) -> Email:
    """The email `template` in `locale` (English when Tally has no such translation)."""
    return render_with(environment(), template, locale, to=to, entity_id=entity_id, **context)


def render_with(
    env: Environment, template: str, locale: str, *, to: str, entity_id: str | None = None, **context: Any
) -> Email:
    """`render` on a given environment (tests, or a loader of one's own)."""
    if not _NAME.match(template):
        raise ValueError(f"Not a template name: {template!r}")
    language = supported_locale(locale)
    values = {**context, "locale": language}
    # One line, whatever the template's whitespace: a subject is a header.
    # ASCII whitespace only: the no-break spaces in "15 000 FCFA" stay.
    subject = _WHITESPACE.sub(" ", env.get_template(f"{template}.{language}.subject").render(values)).strip()
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
