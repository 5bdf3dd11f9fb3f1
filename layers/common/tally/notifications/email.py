"""An email, rendered and ready to send."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Email:
    to: str
    subject: str
    text: str
    html: str
    template: str  # the template it was rendered from, e.g. "account-exists"
    entity_id: str | None = None  # what it is about (an invoice, an invitation), if anything
    locale: str = "en"
