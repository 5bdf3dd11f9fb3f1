"""Stripe's verifier: the SDK's signature check on the raw body, every configured secret tried."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import pytest

from tally.payments.stripe_webhooks import StripeVerifier, header, webhook_secrets
from tally.payments.webhooks import InvalidNotification
from tests.support.webhooks import OLD_SECRET, SECRET, signature, signed_headers, stripe_event


def verifier(secrets: str = SECRET) -> StripeVerifier:
    return StripeVerifier(lambda: secrets)


def refused(secrets: str, body: bytes, headers: dict[str, str]) -> InvalidNotification:
    with pytest.raises(InvalidNotification) as raised:
        verifier(secrets).verify(body, headers)
    assert raised.value.status_code == 400
    return raised.value


def test_a_signed_event_verifies_into_a_provider_event() -> None:
    payload = stripe_event("evt_42", "customer.subscription.updated", created=1_790_000_000)

    event = verifier().verify(payload.encode(), signed_headers(payload))

    assert (event.provider, event.id, event.type) == ("stripe", "evt_42", "customer.subscription.updated")
    assert event.created == datetime.fromtimestamp(1_790_000_000, UTC)
    assert event.payload["data"]["object"]["id"] == "in_1"


@pytest.mark.parametrize(
    ("case", "headers_for"),
    [
        ("missing header", lambda payload: {}),
        ("empty header", lambda payload: {"stripe-signature": ""}),
        ("malformed header", lambda payload: {"stripe-signature": "nonsense"}),
        ("wrong secret", lambda payload: signed_headers(payload, "whsec_someone_else")),
        ("stale timestamp", lambda payload: signed_headers(payload, timestamp=int(time.time()) - 301)),
        ("signature of another body", lambda payload: signed_headers(payload.replace("evt_1", "evt_2"))),
    ],
)
def test_what_does_not_verify_is_refused_naming_the_header(case: str, headers_for: object) -> None:
    payload = stripe_event()
    error = refused(SECRET, payload.encode(), headers_for(payload))  # type: ignore[operator]
    assert (error.field, error.location) == ("Stripe-Signature", "header"), case


def test_a_body_altered_by_one_byte_is_refused() -> None:
    payload = stripe_event()
    headers = signed_headers(payload)
    altered = bytearray(payload.encode())
    altered[-2] ^= 1
    refused(SECRET, bytes(altered), headers)


def test_a_timestamp_within_the_tolerance_verifies() -> None:
    payload = stripe_event()
    assert verifier().verify(payload.encode(), signed_headers(payload, timestamp=int(time.time()) - 290))


def test_during_a_rotation_either_secret_verifies_and_after_it_only_the_new_one() -> None:
    payload = stripe_event()
    both = f"{SECRET}, {OLD_SECRET}"
    assert verifier(both).verify(payload.encode(), signed_headers(payload, OLD_SECRET)).id == "evt_1"
    assert verifier(both).verify(payload.encode(), signed_headers(payload, SECRET)).id == "evt_1"
    refused(SECRET, payload.encode(), signed_headers(payload, OLD_SECRET))


def test_a_header_with_both_secrets_signatures_verifies() -> None:
    """Stripe signs with every secret of an endpoint during its own roll (several v1= entries)."""
    payload = stripe_event()
    at = int(time.time())
    theirs = signature(payload, "whsec_rolled_out", at).split(",")[1]
    headers = {"Stripe-Signature": f"{signature(payload, SECRET, at)},{theirs}"}
    assert verifier().verify(payload.encode(), headers).id == "evt_1"


def test_no_secret_configured_verifies_nothing() -> None:
    payload = stripe_event()
    refused(" , ", payload.encode(), signed_headers(payload))


def test_a_signed_body_that_is_not_an_event_is_refused_naming_the_body() -> None:
    for payload in ('{"object": "event"}', "[1, 2]", '{"id": "evt_1", "type": "x", "created": "soon"}'):
        error = refused(SECRET, payload.encode(), signed_headers(payload))
        assert error.field == "body"


def test_a_body_that_is_not_utf8_is_refused() -> None:
    refused(SECRET, b"\xff\xfe", {"stripe-signature": "t=1,v1=00"})


def test_secrets_and_headers_are_read_leniently() -> None:
    assert webhook_secrets("whsec_a,whsec_b") == ["whsec_a", "whsec_b"]
    assert webhook_secrets(" whsec_a , ,") == ["whsec_a"]
    assert header({"Stripe-Signature": "x"}, "stripe-signature") == "x"
    assert header({"stripe-signature": "y"}, "Stripe-Signature") == "y"
    assert header({}, "Stripe-Signature") is None
