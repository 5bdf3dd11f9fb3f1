"""Accounts' domain types."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class Account:
    id: str
    name: str
    email: str
    country: str
    currency: str
    created_at: datetime
    siren: str | None = None
    siret: str | None = None
