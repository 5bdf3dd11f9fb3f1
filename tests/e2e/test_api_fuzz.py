"""Schemathesis against the local stack's own OpenAPI document, without a token and as the admin.

This is `schemathesis run --checks all` (the engine the CLI drives): the examples, coverage
(boundaries, and each way to break the schema), fuzzing and stateful phases, positive and
negative data, and every check: no 5xx, every answer documented and matching its schema and
headers, schema-valid data accepted and schema-invalid data refused. Bounded and seeded, so it is
the same run on every machine and stays within a few minutes on two cores.

The engine rather than `schemathesis.pytest.from_fixture`: the fixture loader of schemathesis
4.32.5 reads `request.node._nodeid`, which pytest 9.2 no longer has.
"""

from __future__ import annotations

import itertools
import os
import time
import uuid
from collections.abc import Iterator, MutableMapping
from dataclasses import dataclass, field
from typing import Any

import pytest
import schemathesis
from hypothesis import strategies as st
from schemathesis.config import SchemathesisConfig
from schemathesis.engine import Status, events
from schemathesis.schemas import BaseSchema
from schemathesis.specs.openapi.schemas import OpenApiSchema

from tally.accounts.identifiers import luhn_valid
from tally.auth import password

pytestmark = pytest.mark.e2e

FUZZED_CASES = 15  # per operation, in the fuzzing phase (each generation mode)
STATEFUL_STEPS = 5
SEED = 20261122
MAX_KEY = 255  # the Idempotency-Key header's documented maxLength

# Checks switched off, each with the reason it cannot hold for this API:
DISABLED_CHECKS: dict[str, dict[str, bool]] = {
    # API Gateway HTTP APIs answer 404 {"message": "Not Found"} to a method a path does not declare
    # (there is no 405 and no Allow header to configure); the local gateway mirrors AWS on purpose.
    # The cases are still sent: every other check (no 5xx first) still applies to them.
    "unsupported_method": {"enabled": False},
}
# What a schema cannot promise: that a well-formed code is the one the server emailed. A drawn code
# is wrong, which these routes answer 422 naming `code` (as a wrong password is 401 at login).
EXPECTED_422 = [
    # Issue 9: a provider's notification must carry a signature made with the webhook secret, which
    # no generator can make: every drawn request is a 400 naming Stripe-Signature, nothing recorded.
    # First, and by name: schemathesis ORs include-method with include-path, and the first
    # matching entry's statuses win.
    {
        "include-name": ["POST /v1/webhooks/stripe"],
        "checks": {
            "positive_data_acceptance": {
                "expected-statuses": ["2xx", "3xx", "400", "401", "403", "404", "409", "422", "429", "5xx"],
            }
        },
    },
    {
        "include-method": "POST",
        "include-path": ["/v1/auth/confirm", "/v1/auth/password-reset/confirm"],
        "checks": {
            "positive_data_acceptance": {
                # schemathesis's default for the check, and 422
                "expected-statuses": ["2xx", "3xx", "401", "403", "404", "409", "422", "429", "5xx"],
            }
        },
    },
    # Coupons carry rules across fields that a schema cannot state (exactly one of percent_off,
    # amount_off or free_months; amount_off with its currency; valid_until after valid_from), and
    # validating one answers why it does not apply (expired, not for this plan...) with a 422 in
    # words: drawn bodies that fit the schema may be refused that way.
    {
        "include-method": "POST",
        "include-path": ["/v1/coupons", "/v1/coupons/validate"],
        "checks": {
            "positive_data_acceptance": {
                "expected-statuses": ["2xx", "3xx", "401", "403", "404", "409", "422", "429", "5xx"],
            }
        },
    },
    {
        "include-method": "PATCH",
        "include-path": ["/v1/coupons/{code}"],
        "checks": {
            "positive_data_acceptance": {
                "expected-statuses": ["2xx", "3xx", "401", "403", "404", "409", "422", "429", "5xx"],
            }
        },
    },
    # Issue 9: a checkout's and the billing portal's return URLs must be on an origin the seller
    # allows (no open redirect), its coupon must apply and its plan be priced in the cycle and
    # currency asked; a plan change needs a price in the subscription's currency. Each is a 422
    # naming the field, in words.
    {
        "include-method": "POST",
        "include-path": [
            "/v1/billing/checkout",
            "/v1/billing/portal",
            "/v1/billing/subscription/preview-change",
            "/v1/billing/subscription/change",
        ],
        "checks": {
            "positive_data_acceptance": {
                "expected-statuses": ["2xx", "3xx", "401", "403", "404", "409", "422", "429", "5xx"],
            }
        },
    },
    # Audit and violation cursors are opaque: the schema says a string, but only one the API gave
    # reads (a drawn one is 422 naming `cursor`). Stats without an account, from a caller with
    # several (the fuzzing admin creates accounts), is 422 naming the X-Account-Id header to send.
    {
        "include-method": "GET",
        "include-path": [
            "/v1/audit",
            "/v1/track/stats",
            "/v1/quota-violations",
            "/v1/accounts/{account_id}/quota-violations",
            # issue 8: invoice cursors are opaque too, and `from` must come before `to`
            "/v1/invoices",
            "/v1/accounts/{account_id}/invoices",
            # issue 10: job-run cursors are opaque
            "/v1/jobs/runs",
        ],
        "checks": {
            "positive_data_acceptance": {
                "expected-statuses": ["2xx", "3xx", "401", "403", "404", "409", "422", "429", "5xx"],
            }
        },
    },
    # Issue 8: money has to add up, which a schema cannot say: a line's tax rate must be one of the
    # seller's codes and its currency the invoice's, a total cannot go negative, a payment cannot
    # exceed the amount due, a credit note takes lines or an amount (not both) and never more than
    # is left; the seller settings' default rate must be one of their rates, a number format must
    # fit its reset. Each is a 422 naming the field, in words.
    {
        "include-method": "POST",
        "include-path": [
            "/v1/invoices",
            "/v1/invoices/{invoice_id}/payments",
            "/v1/invoices/{invoice_id}/credit-notes",
        ],
        "checks": {
            "positive_data_acceptance": {
                "expected-statuses": ["2xx", "3xx", "401", "403", "404", "409", "422", "429", "5xx"],
            }
        },
    },
    {
        "include-method": "PATCH",
        "include-path": ["/v1/invoices/{invoice_id}"],
        "checks": {
            "positive_data_acceptance": {
                "expected-statuses": ["2xx", "3xx", "401", "403", "404", "409", "422", "429", "5xx"],
            }
        },
    },
    {
        "include-method": "PUT",
        "include-path": ["/v1/settings/billing"],
        "checks": {
            "positive_data_acceptance": {
                "expected-statuses": ["2xx", "3xx", "401", "403", "404", "409", "422", "429", "5xx"],
            }
        },
    },
]


def _with_check_digit(stem: str) -> str:
    """`stem` plus the digit that makes the whole number pass Luhn."""
    return next(stem + digit for digit in "0123456789" if luhn_valid(stem + digit))


# The check digits a pattern cannot express: the document names formats `siren` and `siret`.
schemathesis.openapi.format("siren", st.from_regex(r"\A[0-9]{8}\Z").map(_with_check_digit))
# La Poste's SIRETs follow another rule (tally.accounts.identifiers): left out of the draw.
schemathesis.openapi.format(
    "siret",
    st.from_regex(r"\A[0-9]{13}\Z")
    .filter(lambda stem: not stem.startswith("356000000"))
    .map(_with_check_digit),
)


def _new_password(required: tuple[str, str, str, str], middle: str) -> str:
    """The four kinds of character the policy requires, around anything it allows, no space at either end."""
    lower, upper, digit, symbol = required
    return f"{lower}{middle}{upper}{digit}{symbol}"


# The user pool's policy (tally.auth.password): its pattern's lookaheads are met by construction.
schemathesis.openapi.format(
    "tally-password",
    st.builds(
        _new_password,
        st.tuples(
            st.sampled_from("abcdefghijklmnopqrstuvwxyz"),
            st.sampled_from("ABCDEFGHIJKLMNOPQRSTUVWXYZ"),
            st.sampled_from("0123456789"),
            st.sampled_from(password.SYMBOLS.strip()),
        ),
        st.text(
            st.characters(exclude_categories=["Cc", "Cs"]),
            min_size=password.MIN_LENGTH - 4,
            max_size=password.MAX_LENGTH - 4,
        ),
    ),
)


def siret_of_siren(body: Any) -> Any:
    """A SIRET starts with its SIREN: JSON Schema cannot relate two fields, so a drawn pair of
    well-formed numbers is made consistent (only digits change: what a case breaks stays broken)."""
    if not isinstance(body, dict):
        return body
    siren, siret = body.get("siren"), body.get("siret")
    if not (isinstance(siren, str) and isinstance(siret, str)):
        return body
    siren_digits, siret_digits = siren.replace(" ", ""), siret.replace(" ", "")
    if not (len(siren_digits) == 9 and len(siret_digits) == 14 and (siren_digits + siret_digits).isdigit()):
        return body
    return {**body, "siret": _with_check_digit(siren_digits + siret_digits[9:13])}


PUBLIC_SIGN_IN = r"^/v1/auth/"

# Unique across runs against one stack too (idempotency records live for 24 hours).
_KEY_PREFIX = f"fuzz-{uuid.uuid4().hex[:8]}"
_requests = itertools.count()


def fresh_idempotency_key(headers: MutableMapping[str, Any] | None) -> None:
    """Make a well-formed Idempotency-Key unique to its request. Reusing a key with another body
    is refused (422, as the IETF idempotency-key draft says), which a generator that does not know
    the rule reads as valid data rejected; reuse is tested where its rule is (integration tests)."""
    key = headers.get("idempotency-key") if headers is not None else None
    if headers is not None and isinstance(key, str) and 1 <= len(key) <= MAX_KEY:
        headers["idempotency-key"] = f"{_KEY_PREFIX}-{next(_requests)}-{key}"[:MAX_KEY]


# Applied to each request as it is sent, whichever phase drew it (the map_* hooks skip the coverage
# phase). A global hook: schemathesis offers before_call at no narrower scope.
@schemathesis.hook
def before_call(context: Any, case: Any, kwargs: dict[str, Any]) -> None:
    case.body = siret_of_siren(case.body)
    fresh_idempotency_key(case.headers)


def load(stack_url: str, token: str | None = None) -> OpenApiSchema:
    """The live document, with the token (if any) sent as the document's `bearerAuth` scheme says."""
    config = SchemathesisConfig.from_dict(
        {
            "seed": SEED,
            "base-url": stack_url,
            "workers": 1,
            "request-timeout": 30,
            "generation": {
                "mode": "all",
                "max-examples": FUZZED_CASES,
                "deterministic": True,
                "database": "none",
            },
            "phases": {"stateful": {"max-steps": STATEFUL_STEPS}},
            "checks": DISABLED_CHECKS,
            "operations": EXPECTED_422,
            **({"auth": {"openapi": {"bearerAuth": {"bearer": token}}}} if token else {}),
        }
    )
    return schemathesis.openapi.from_url(f"{stack_url}/v1/openapi.json", config=config)


@dataclass
class Run:
    """What one engine run sent and what it found."""

    cases: int = 0
    seconds: float = 0.0
    phases: dict[str, int] = field(default_factory=dict)
    checks: set[str] = field(default_factory=set)
    failures: list[str] = field(default_factory=list)

    def summary(self) -> str:
        return (
            f"{self.cases} requests in {self.seconds:.0f} s, by phase {self.phases}; "
            f"checks run: {', '.join(sorted(self.checks))}"
        )

    def report(self) -> str:
        return f"{self.summary()}\n\n" + "\n\n".join(self.failures)


def failures_of(event: events.ScenarioFinished) -> Iterator[str]:
    """Each failed check of a scenario, with the request as curl and what the API answered."""
    for case_id, checks in event.recorder.checks.items():
        interaction = event.recorder.interactions.get(case_id)
        answer = interaction.response if interaction else None
        answered = f"{answer.status_code} {answer.content[:300]!r}" if answer else "nothing"
        for check in checks:
            if check.status == Status.FAILURE and check.failure_info is not None:
                failure = check.failure_info.failure
                yield (
                    f"{event.label} [{check.name} in {event.phase.value}] {failure.title}\n"
                    f"{failure.message}\n{check.failure_info.code_sample}\nanswered {answered}"
                )


def fuzz(schema: BaseSchema) -> Run:
    run = Run()
    started = time.monotonic()
    for event in schemathesis.engine.from_schema(schema).execute():
        if isinstance(event, events.ScenarioFinished):
            sent = sum(1 for interaction in event.recorder.interactions.values() if interaction.response)
            run.cases += sent
            run.phases[event.phase.value] = run.phases.get(event.phase.value, 0) + sent
            run.checks.update(check.name for checks in event.recorder.checks.values() for check in checks)
            run.failures.extend(failures_of(event))
        elif isinstance(event, events.NonFatalError):
            run.failures.append(f"{event.label}: error {event.info.title}\n{event.info.message}")
        elif isinstance(event, events.FatalError):
            run.failures.append(f"fatal: {event.exception!r}")
    run.seconds = time.monotonic() - started
    return run


def _public(ctx: Any) -> bool:
    """An operation the document marks as needing no credentials."""
    return not ctx.operation.definition.raw.get("security")


@pytest.fixture(scope="module")
def anonymous_run(stack_url: str) -> Run:
    # The public routes only: without a token every private route is the gateway's 401 before any
    # code runs, which the admin run's `ignored_auth` check already sends to each of them.
    return fuzz(load(stack_url).include(_public))


@pytest.fixture(scope="module")
def admin_run(stack_url: str, admin_token: str) -> Run:
    # The public sign-in routes take no token: the run without one covers them, and sending them
    # the admin's would only send the same requests again (a third of this run's time).
    schema = load(stack_url, admin_token).exclude(path_regex=PUBLIC_SIGN_IN)
    only = os.environ.get("TALLY_FUZZ_ONLY")  # a path regex, to fuzz some routes while working on them
    return fuzz(schema.include(path_regex=only) if only else schema)


def test_without_a_token(anonymous_run: Run) -> None:
    print(f"\nwithout a token: {anonymous_run.summary()}")
    assert anonymous_run.cases > 0
    assert not anonymous_run.failures, anonymous_run.report()


def test_as_the_platform_admin(admin_run: Run) -> None:
    print(f"\nas the admin: {admin_run.summary()}")
    assert admin_run.cases > 0
    assert not admin_run.failures, admin_run.report()
