"""Wire models of the accounts API."""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from tally.accounts.identifiers import siren_problem, siret_problem
from tally.countries import is_country
from tally.money import is_currency

EMAIL_PATTERN = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"


def _strip_spaces(value: str) -> str:
    return value.replace(" ", "")


def _siren(value: str) -> str:
    value = _strip_spaces(value)
    if problem := siren_problem(value):
        raise ValueError(problem)
    return value


def _siret(value: str) -> str:
    value = _strip_spaces(value)
    if problem := siret_problem(value):
        raise ValueError(problem)
    return value


def _country(value: str) -> str:
    value = value.upper()
    if not is_country(value):
        raise ValueError(f"'{value}' is not an ISO 3166 country code (e.g. FR, SN, US)")
    return value


def _currency(value: str) -> str:
    value = value.upper()
    if not is_currency(value):
        raise ValueError(f"'{value}' is not an ISO 4217 currency code (e.g. EUR, USD, XOF)")
    return value


Email = Annotated[str, Field(min_length=3, max_length=254, pattern=EMAIL_PATTERN)]


class LoginIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    email: Email
    password: str = Field(min_length=1, max_length=256)


class TokensOut(BaseModel):
    id_token: str = Field(description="Send as `Authorization: Bearer …`; carries groups and account")
    access_token: str
    refresh_token: str | None
    expires_in: int = Field(description="Seconds until the id and access tokens expire")


class AccountIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    name: str = Field(min_length=1, max_length=200)
    email: Email
    country: Annotated[str, Field(min_length=2, max_length=2), AfterValidator(_country)]
    currency: Annotated[str, Field(min_length=3, max_length=3), AfterValidator(_currency)]
    siren: str | None = Field(default=None, description="French company number, 9 digits")
    siret: str | None = Field(default=None, description="French establishment number, 14 digits")

    @field_validator("siren")
    @classmethod
    def _check_siren(cls, value: str | None) -> str | None:
        return None if value is None else _siren(value)

    @field_validator("siret")
    @classmethod
    def _check_siret(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is None:
            return None
        value = _siret(value)
        siren = info.data.get("siren")
        if siren and not value.startswith(siren):
            raise ValueError("A SIRET starts with its company's SIREN (its first 9 digits)")
        return value


class AccountOut(BaseModel):
    id: str
    name: str
    email: str
    country: str
    currency: str
    siren: str | None = None
    siret: str | None = None
    created_at: str
