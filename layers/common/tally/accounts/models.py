"""Wire models of the accounts routes: accounts, their status, joining one by its SIREN/SIRET."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import AfterValidator, ConfigDict, Field, ValidationInfo, field_validator
from pydantic.json_schema import SkipJsonSchema

from tally.accounts.domain import Account, AccountStatus
from tally.accounts.fields import NOT_NULL, Domain, Reason
from tally.accounts.identifiers import siren_problem, siret_problem
from tally.countries import COUNTRY_CODES, is_country
from tally.http.fields import SIREN, SIRET, Email, Name, WireModel
from tally.money import CURRENCY_EXPONENTS, is_currency


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
    if not is_country(value):
        hint = (
            f"; codes are upper case: '{value.upper()}'"
            if is_country(value.upper())
            else " (e.g. FR, SN, US)"
        )
        raise ValueError(f"'{value}' is not an ISO 3166 country code{hint}")
    return value


def _currency(value: str) -> str:
    if not is_currency(value):
        hint = (
            f"; codes are upper case: '{value.upper()}'" if is_currency(value.upper()) else " (e.g. EUR, XOF)"
        )
        raise ValueError(f"'{value}' is not a supported ISO 4217 currency code{hint}")
    return value


# The code lists are written into the schema only when a document is generated, not at import.
def _country_enum(schema: dict[str, Any]) -> None:
    schema["enum"] = sorted(COUNTRY_CODES)


def _currency_enum(schema: dict[str, Any]) -> None:
    schema["enum"] = sorted(CURRENCY_EXPONENTS)


Country = Annotated[
    str,
    Field(min_length=2, max_length=2, description="ISO 3166-1 alpha-2", json_schema_extra=_country_enum),
    AfterValidator(_country),
]
Currency = Annotated[
    str,
    Field(min_length=3, max_length=3, description="ISO 4217", json_schema_extra=_currency_enum),
    AfterValidator(_currency),
]
# A check digit cannot be written as a pattern: the schema names a format (`siren`, `siret`)
# and the description says what is checked.
Siren = Annotated[
    str,
    Field(
        pattern=SIREN,
        description="French company number: 9 digits (spaces ignored) with a valid Luhn check digit; "
        "one account per SIREN",
        json_schema_extra={"format": "siren"},
    ),
    AfterValidator(_siren),
]
Siret = Annotated[
    str,
    Field(
        pattern=SIRET,
        description="French establishment number: 14 digits (spaces ignored) with a valid check digit, "
        "starting with the SIREN when both are given; one account per SIRET",
        json_schema_extra={"format": "siret"},
    ),
    AfterValidator(_siret),
]


class AccountIn(WireModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "name": "Dupont Sauvegarde",
                    "email": "contact@dupont.example",
                    "country": "FR",
                    "currency": "EUR",
                }
            ]
        },
        extra="forbid",
    )

    name: Name
    email: Email = Field(
        description="The contact email: a join request from this address is approved at once"
    )
    country: Country
    currency: Currency
    siren: Siren | None = None
    siret: Siret | None = None
    email_domain: Domain | None = Field(
        default=None,
        description="Platform admins only: a verified domain; a join request from an address at it is "
        "approved at once",
    )

    @field_validator("siret")
    @classmethod
    def _siret_of_siren(cls, value: str | None, info: ValidationInfo) -> str | None:
        siren = info.data.get("siren")
        if value and siren and not value.startswith(siren):
            raise ValueError("A SIRET starts with its company's SIREN (its first 9 digits)")
        return value


class AccountOut(WireModel):
    id: str
    name: str
    email: str
    country: str
    currency: str
    siren: str | None = None
    siret: str | None = None
    status: AccountStatus
    status_reason: str | None = None
    email_domain: str | None = None
    created_at: str


def account_out(account: Account) -> AccountOut:
    return AccountOut(
        id=account.id,
        name=account.name,
        email=account.email,
        country=account.country,
        currency=account.currency,
        siren=account.siren,
        siret=account.siret,
        status=account.status,
        status_reason=account.status_reason,
        email_domain=account.email_domain,
        created_at=account.created_at.isoformat(),
    )


class AccountPatchIn(WireModel):
    """The fields to change, at least one. `email_domain` is for platform admins (null clears it)."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"name": "Dupont Sauvegarde SAS"}], "minProperties": 1},
    )

    name: Annotated[Name | SkipJsonSchema[None], NOT_NULL] = None
    email: Annotated[Email | SkipJsonSchema[None], NOT_NULL] = Field(
        default=None, description="The contact email"
    )
    email_domain: Domain | None = Field(default=None, description="Platform admins only; null clears it")


class StatusIn(WireModel):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"status": "active", "reason": "Contract signed on 2026-11-20"}]},
        extra="forbid",
    )

    status: AccountStatus = Field(
        description="pending → active ⇄ suspended → cancelled | expired (cancelled and expired are final)"
    )
    reason: Reason


class JoinIn(WireModel):
    """Exactly one of `siren` and `siret`: the listed company to join."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"siren": "732829320"}],
            "oneOf": [{"required": ["siren"]}, {"required": ["siret"]}],
        },
    )

    siren: Annotated[Siren | SkipJsonSchema[None], NOT_NULL] = None
    siret: Annotated[Siret | SkipJsonSchema[None], NOT_NULL] = None
