"""The seller's billing settings: who issues the invoices, how they are numbered and taxed.

Platform admins edit them (GET/PUT /v1/settings/billing, audited); until they do, the defaults
shipped as data (`tally/billing/seller_data/defaults.json`, inside the layer) apply. Rates are
Decimal fractions ("0.20" is 20 %), never floats; amounts are integer minor units.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from decimal import Decimal
from importlib import resources
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    StrictBool,
    StrictInt,
    ValidationError,
    model_validator,
)

from tally.billing.amounts import Currency, canonical_decimal, exact_decimal
from tally.billing.numbering import Reset, format_problem
from tally.billing.periods import time_zone
from tally.countries import is_country
from tally.errors import InvalidInput
from tally.http.fields import WHOLE
from tally.validation import describe_errors

_CONFIG = ConfigDict(extra="forbid", frozen=True, defer_build=True)
_DATA = "tally.billing.seller_data"
_CODE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,31}$")
DEFAULT_GRACE_DAYS = 14
# issue 10, payment retries: days after a card's first failure (attempt 0) each retry is made.
DEFAULT_PAYMENT_RETRY_DAYS = (1, 3, 7)
MAX_PAYMENT_RETRIES = 3
PAYMENT_RETRY_WINDOW_DAYS = 7

Text = Annotated[str, Field(min_length=1, max_length=200)]
Mention = Annotated[str, Field(min_length=1, max_length=1000)]


def _fraction(value: Decimal) -> Decimal:
    if not value.is_finite() or value < 0 or value > 1:
        raise ValueError(f'A rate is a fraction between 0 and 1 ("0.20" for 20 %): got {value}')
    return value


Rate = Annotated[
    Decimal,
    BeforeValidator(exact_decimal("this rate", '"0.20" for 20 %')),
    AfterValidator(_fraction),
    PlainSerializer(canonical_decimal, return_type=str, when_used="json"),
]


def _code(value: str) -> str:
    if not _CODE.fullmatch(value):
        raise ValueError(f"'{value}' is not a code: lower-case letters, digits, - and _ (e.g. fr_vat_20)")
    return value


def _zone(value: str) -> str:
    time_zone(value)
    return value


def _country(value: str) -> str:
    if not is_country(value):
        raise ValueError(f"'{value}' is not an ISO 3166 alpha-2 country code (e.g. FR, SN)")
    return value


def _digits(count: int, what: str) -> Any:
    def check(value: str) -> str:
        compact = value.replace(" ", "")
        if not (compact.isdigit() and len(compact) == count):
            raise ValueError(f"A {what} has {count} digits: got '{value}'")
        return compact

    return AfterValidator(check)


class TaxRate(BaseModel):
    """A tax rate invoices can name by its code. A zero rate carries the legal mention that
    explains the exemption (e.g. "TVA non applicable, art. 293 B du CGI")."""

    model_config = _CONFIG

    code: Annotated[str, AfterValidator(_code)]
    name: Text
    rate: Rate
    country: Annotated[str, AfterValidator(_country)] | None = None
    legal_mention: Mention | None = None

    @model_validator(mode="after")
    def _exempt_says_why(self) -> TaxRate:
        if self.rate == 0 and self.legal_mention is None:
            raise ValueError("legal_mention: an exempt (0 %) rate needs its legal mention on the invoice")
        return self


class Address(BaseModel):
    model_config = _CONFIG

    line1: Text
    line2: Text | None = None
    postal_code: Annotated[str, Field(max_length=20)] | None = None
    city: Text
    country: Annotated[str, AfterValidator(_country)]


class BankDetails(BaseModel):
    """Where transfers go: an IBAN with its BIC, or a local account number (UEMOA RIB...)."""

    model_config = _CONFIG

    account_holder: Text
    bank_name: Text | None = None
    iban: Annotated[str, Field(pattern=r"^[A-Z]{2}[0-9]{2}[A-Z0-9]{10,30}$")] | None = None
    bic: Annotated[str, Field(pattern=r"^[A-Z]{6}[A-Z0-9]{2}([A-Z0-9]{3})?$")] | None = None
    account_number: Annotated[str, Field(min_length=5, max_length=40)] | None = None

    @model_validator(mode="after")
    def _an_account(self) -> BankDetails:
        if self.iban is None and self.account_number is None:
            raise ValueError("iban: give an IBAN (with its BIC) or a local account_number")
        if self.iban is not None and self.bic is None:
            raise ValueError("bic: an IBAN goes with the bank's BIC")
        return self


class MobileMoney(BaseModel):
    """A number customers pay by mobile money, shown on invoices."""

    model_config = _CONFIG

    provider: Literal["wave", "orange_money", "mtn_momo", "free_money", "moov_money", "other"]
    number: Annotated[str, Field(pattern=r"^\+?[0-9 ]{6,20}$")]
    name: Text | None = None


class Numbering(BaseModel):
    model_config = _CONFIG

    format: Annotated[str, Field(min_length=1, max_length=40)]
    reset: Reset = "monthly"

    @model_validator(mode="after")
    def _usable(self) -> Numbering:
        if problem := format_problem(self.format, self.reset):
            raise ValueError(f"format: {problem}")
        return self


class LatePayment(BaseModel):
    """France's mandatory mentions (Code de commerce L441-10): the penalty rate for late payment
    and, for business customers, the 40 € flat recovery indemnity."""

    model_config = _CONFIG

    penalty_rate: Rate = Field(description='Annual rate applied to late amounts, e.g. "0.1215"')
    recovery_indemnity: Annotated[StrictInt, Field(ge=0, le=10**9), WHOLE] = Field(
        default=4000, description="Minor units of recovery_currency (4000: 40.00 €)"
    )
    recovery_currency: Currency = "EUR"
    business_customers_only: StrictBool = True
    mention_fr: Mention
    mention_en: Mention


def _origin(value: str) -> str:
    parts = urlsplit(value)
    if (
        parts.scheme not in ("https", "http")
        or not parts.hostname
        or parts.path not in ("", "/")
        or parts.query
        or parts.fragment
        or parts.username is not None
    ):
        raise ValueError(f"An origin is scheme://host[:port], such as https://app.example.com: got '{value}'")
    if parts.scheme == "http" and parts.hostname not in ("localhost", "127.0.0.1"):
        raise ValueError(f"An origin is https (http only for localhost): got '{value}'")
    return value.rstrip("/")


Origin = Annotated[str, Field(min_length=8, max_length=200), AfterValidator(_origin)]


def _example(schema: dict[str, Any]) -> None:
    """The shipped defaults, as the OpenAPI document's example of a PUT body."""
    text = resources.files(_DATA).joinpath("defaults.json").read_text(encoding="utf-8")
    schema["examples"] = [json.loads(text)]


# --- the dunning ladder (issue 10; tally.dunning) ------------------------------------------------

DunningAction = Literal["remind", "overdue", "urgent", "warn", "suspend"]
# The emails a step may send, with the variables the dunning job gives them
# (tally.notifications.catalogue): reminders before suspension, the suspension notice.
DUNNING_TEMPLATES: Mapping[str, frozenset[DunningAction]] = {
    "dunning-reminder": frozenset({"remind", "overdue", "urgent", "warn"}),
    "account-suspended": frozenset({"suspend"}),
}
MAX_DUNNING_STEPS = 20


class DunningStep(BaseModel):
    """One rung: `days` from the invoice's due date (negative: before it), in the seller's time
    zone. `remind`, `urgent` and `warn` send their email; `overdue` also marks the invoice overdue
    and its subscription past due; `suspend` suspends the account (its subscription unpaid).
    `template` null: the step sends no email."""

    model_config = _CONFIG

    days: Annotated[StrictInt, Field(ge=-60, le=365), WHOLE]
    action: DunningAction
    template: str | None = "dunning-reminder"

    @model_validator(mode="after")
    def _known_template(self) -> DunningStep:
        if self.template is None:
            return self
        actions = DUNNING_TEMPLATES.get(self.template)
        if actions is None:
            known = ", ".join(DUNNING_TEMPLATES)
            raise ValueError(f"template: '{self.template}' is not a dunning email: use one of {known}")
        if self.action not in actions:
            raise ValueError(f"template: a {self.action} step cannot send '{self.template}'")
        if self.action in ("overdue", "suspend") and self.days < 1:
            raise ValueError(f"days: an invoice is {self.action} after its due date: days is 1 or more")
        return self

    @property
    def name(self) -> str:
        """The step as the ledger and the dunning record name it: "J-3", "J+30"."""
        return f"J{self.days:+d}"


class DunningSettings(BaseModel):
    """The ladder every open invoice walks until it is paid, voided or credited."""

    model_config = _CONFIG

    steps: Annotated[list[DunningStep], Field(max_length=MAX_DUNNING_STEPS)]

    @model_validator(mode="after")
    def _ordered(self) -> DunningSettings:
        for index in range(1, len(self.steps)):
            if self.steps[index].days <= self.steps[index - 1].days:
                raise ValueError(
                    f"steps.{index}.days: the steps' days go strictly up "
                    f"({self.steps[index].days} comes after {self.steps[index - 1].days})"
                )
        for action in ("overdue", "suspend"):
            if sum(step.action == action for step in self.steps) > 1:
                raise ValueError(f"steps: at most one {action} step")
        for index, step in enumerate(self.steps[:-1]):
            if step.action == "suspend":
                raise ValueError(f"steps.{index}.action: suspend is the last step of the ladder")
        return self


def _shipped() -> dict[str, Any]:
    text = resources.files(_DATA).joinpath("defaults.json").read_text(encoding="utf-8")
    loaded: dict[str, Any] = json.loads(text, parse_float=Decimal)
    return loaded


def _retry_days(days: list[int]) -> list[int]:
    for index, day in enumerate(days):
        if not 1 <= day <= PAYMENT_RETRY_WINDOW_DAYS:
            raise ValueError(
                f"A retry is made 1 to {PAYMENT_RETRY_WINDOW_DAYS} days after the first failure: "
                f"got {day} (item {index})"
            )
        if index and day <= days[index - 1]:
            raise ValueError(f"The retries' days go strictly up ({day} comes after {days[index - 1]})")
    return days


RetryDays = Annotated[
    list[Annotated[StrictInt, WHOLE]],
    Field(
        max_length=MAX_PAYMENT_RETRIES,
        description="Days after a saved card's first failed charge on which it is charged again: at "
        f"most {MAX_PAYMENT_RETRIES}, strictly increasing, each 1 to {PAYMENT_RETRY_WINDOW_DAYS}; "
        "empty: no retry (the dunning ladder chases the invoice)",
    ),
    AfterValidator(_retry_days),
]


def default_dunning() -> DunningSettings:
    """The ladder shipped as data (defaults.json), which settings stored without one follow."""
    return DunningSettings.model_validate(_shipped()["dunning"])


class SellerSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True, json_schema_extra=_example)

    legal_name: Text
    address: Address
    siren: Annotated[str, _digits(9, "SIREN")] | None = None
    siret: Annotated[str, _digits(14, "SIRET")] | None = None
    vat_number: Annotated[str, Field(pattern=r"^[A-Z]{2}[A-Z0-9]{2,13}$")] | None = None
    email: Annotated[str, Field(max_length=254)] | None = None
    phone: Annotated[str, Field(max_length=30)] | None = None
    logo: Annotated[str, Field(max_length=500, description="An S3 key or an https URL")] | None = None
    bank: BankDetails | None = None
    mobile_money: Annotated[list[MobileMoney], Field(max_length=10)] = []
    time_zone: Annotated[str, AfterValidator(_zone)] = "Europe/Paris"
    default_currency: Currency = "EUR"
    payment_terms_days: Annotated[StrictInt, Field(ge=0, le=365), WHOLE] = 15
    # issue 9: how long a subscription a provider failed to charge keeps its access (past_due).
    payment_grace_days: Annotated[StrictInt, Field(ge=0, le=90), WHOLE] = DEFAULT_GRACE_DAYS
    tax_rates: Annotated[list[TaxRate], Field(min_length=1, max_length=50)]
    default_tax_rate: str
    prices_include_tax: StrictBool = False
    invoice_numbering: Numbering = Numbering(format="INV-{YYYY}{MM}-{NNNNN}")
    credit_note_numbering: Numbering = Numbering(format="CN-{YYYY}{MM}-{NNNNN}")
    late_payment: LatePayment | None = None
    footer: Mention | None = None
    # Issue 10, the scheduled jobs.
    renewal_anchor: Annotated[
        Literal["anniversary", "first_of_month"],
        Field(
            description="When subscriptions renew: on each one's own start day (anniversary), or "
            "on the 1st of the month after a prorated first period (first_of_month)"
        ),
    ] = "anniversary"
    trial_grace_days: Annotated[
        StrictInt | None,
        Field(
            ge=0,
            le=365,
            description="Days a subscription left incomplete by its trial waits for its first "
            "invoice to be paid before it is canceled; none: it waits (the dunning ladder chases it)",
        ),
        WHOLE,
    ] = None
    dunning: DunningSettings = Field(default_factory=default_dunning)
    payment_retry_days: RetryDays = Field(default_factory=lambda: list(DEFAULT_PAYMENT_RETRY_DAYS))
    # issue 9: where a checkout or the billing portal may send customers back (no open redirect).
    allowed_redirect_origins: Annotated[list[Origin], Field(max_length=20)] = Field(
        default=[],
        description="Origins (`https://app.example.com`; http only for localhost) that checkout's "
        "success and cancel URLs and the billing portal's return URL may point to. Empty: the front "
        "end's own origin (the AppUrl parameter)",
    )

    @model_validator(mode="after")
    def _consistent(self) -> SellerSettings:
        codes = [rate.code for rate in self.tax_rates]
        for index, code in enumerate(codes):
            if code in codes[:index]:
                raise ValueError(f"tax_rates.{index}.code: '{code}' is used twice")
        if self.default_tax_rate not in codes:
            raise ValueError(f"default_tax_rate: '{self.default_tax_rate}' is not one of {', '.join(codes)}")
        if self.siret is not None and self.siren is not None and not self.siret.startswith(self.siren):
            raise ValueError("siret: a SIRET starts with its SIREN")
        if self.invoice_numbering.format == self.credit_note_numbering.format:
            raise ValueError("credit_note_numbering.format: credit notes need a format of their own")
        return self

    def tax_rate(self, code: str | None) -> TaxRate:
        """The rate of this code (the default when None); InvalidInput naming the known ones."""
        wanted = code or self.default_tax_rate
        for rate in self.tax_rates:
            if rate.code == wanted:
                return rate
        known = ", ".join(rate.code for rate in self.tax_rates)
        raise InvalidInput(
            f"'{wanted}' is not a tax rate of the seller: use one of {known}", field="tax_rate"
        )

    def rate_for_country(self, country: str | None) -> str:
        """The code of the rate a customer in `country` is charged when a line names none: the
        first non-zero rate of that country (an exemption is chosen by name, never by default),
        else the default rate."""
        if country is not None:
            for rate in self.tax_rates:
                if rate.country == country.upper() and rate.rate > 0:
                    return rate.code
        return self.default_tax_rate


def parse_seller_settings(data: Mapping[str, Any], *, prefix: str = "") -> SellerSettings:
    """Settings from plain JSON values; InvalidInput naming the first wrong field otherwise."""
    try:
        return SellerSettings.model_validate(data)
    except ValidationError as error:
        problems = describe_errors(error.errors(include_url=False), prefix=prefix)
        first = problems[0]
        message, field = str(first["message"]), str(first["field"])
        # A model-level check names its field first ("siret: a SIRET starts with its SIREN").
        head, _, rest = message.partition(": ")
        if rest and re.fullmatch(r"[a-z_]+(\.[a-z0-9_]+)*", head):
            base = "" if field in ("body", prefix) else field
            field = ".".join(part for part in (prefix, base.removeprefix(f"{prefix}."), head) if part)
            message = rest
        raise InvalidInput(message, field=field) from None


def default_seller_settings() -> SellerSettings:
    """The defaults shipped with the layer; read each time (the file is small and cached by the OS)."""
    return parse_seller_settings(_shipped())


def added_fields_at_default(settings: SellerSettings) -> set[str]:
    """The fields added since settings were first stored that hold their default: the dunning
    ladder (the shipped one), issue 9's `payment_grace_days` and `allowed_redirect_origins`, the
    payment retries' days, issue 10's renewal anchor and trial grace."""
    leave_out = {"dunning"} if settings.dunning == default_dunning() else set()
    if settings.renewal_anchor == "anniversary":
        leave_out.add("renewal_anchor")
    if settings.trial_grace_days is None:
        leave_out.add("trial_grace_days")
    if tuple(settings.payment_retry_days) == DEFAULT_PAYMENT_RETRY_DAYS:
        leave_out.add("payment_retry_days")
    if settings.payment_grace_days == DEFAULT_GRACE_DAYS:
        leave_out.add("payment_grace_days")
    if not settings.allowed_redirect_origins:
        leave_out.add("allowed_redirect_origins")
    return leave_out


def stable_json(settings: SellerSettings) -> str:
    """The settings' JSON as a fingerprint hashes it: without the fields added since while they
    hold their defaults, so settings (and invoices' frozen copies) stored before them keep the
    fingerprint their changes are conditional on."""
    return settings.model_dump_json(exclude=added_fields_at_default(settings) or None)
