"""Stripe's `Verifier`: the `Stripe-Signature` header checked by the SDK's own verifier.

`stripe.WebhookSignature.verify_header` checks the HMAC over `{timestamp}.{raw body}` and the
300 s tolerance; it is tried with each configured secret in turn, so during a rotation both the
new and the old secret verify (the secret holds `whsec_new,whsec_old`, then `whsec_new`).

`stripe` is imported on the first notification, not with this module: any module of the SDK
loads the whole package and its HTTP client (~130 ms), which the route pays once per process
and nothing else that imports the pipeline should.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from tally.payments.events import Provider, ProviderEvent
from tally.payments.webhooks import InvalidNotification

LOGGER = logging.getLogger(__name__)

SIGNATURE_HEADER = "Stripe-Signature"
TOLERANCE_SECONDS = 300


def webhook_secrets(value: str) -> list[str]:
    """The secrets a secret's value holds: comma-separated `whsec_…`, blanks ignored."""
    return [secret.strip() for secret in value.split(",") if secret.strip()]


def header(headers: Mapping[str, str], name: str) -> str | None:
    """A header's value whatever its case (API Gateway lowercases them; tests and proxies may not)."""
    wanted = name.lower()
    return next((value for key, value in headers.items() if key.lower() == wanted), None)


class StripeVerifier:
    provider: Provider = "stripe"

    def __init__(self, secrets: Callable[[], str], tolerance: int = TOLERANCE_SECONDS) -> None:
        """`secrets`: the secret's value, read when a notification arrives (tally.parameters.SecretString)."""
        self._secrets = secrets
        self._tolerance = tolerance

    def verify(self, raw_body: bytes, headers: Mapping[str, str]) -> ProviderEvent:
        signature = header(headers, SIGNATURE_HEADER)
        if not signature:
            raise _invalid("The Stripe-Signature header is missing")
        try:
            payload = raw_body.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise _invalid("The body is not the UTF-8 text Stripe signs") from exc
        self._check(payload, signature)
        return _event(payload)

    def _check(self, payload: str, signature: str) -> None:
        import stripe

        secrets = webhook_secrets(self._secrets())
        reasons: list[str] = []
        for secret in secrets:
            try:
                stripe.WebhookSignature.verify_header(payload, signature, secret, self._tolerance)
            except stripe.SignatureVerificationError as exc:
                reasons.append(str(exc.user_message or exc))  # the SDK's words: no secret, no body
                continue
            return
        # The SDK's reason (no matching signature, timestamp outside the tolerance) goes to the
        # logs; the caller learns only that the header does not verify.
        LOGGER.warning(
            "Stripe notification refused: %s", "; ".join(reasons) or "no webhook secret configured"
        )
        raise _invalid(
            f"The Stripe-Signature header does not verify: wrong signature or secret, or a timestamp "
            f"more than {self._tolerance} s old"
        )


def _invalid(message: str) -> InvalidNotification:
    return InvalidNotification(message, field=SIGNATURE_HEADER, location="header")


def _event(payload: str) -> ProviderEvent:
    """The verified body as a ProviderEvent (a signed body that is not an event is refused too)."""
    try:
        data: Any = json.loads(payload)
    except ValueError as exc:
        raise InvalidNotification("The body is not JSON", field="body", location="body") from exc
    if not isinstance(data, dict):
        raise InvalidNotification("The body is not a Stripe event", field="body", location="body")
    event_id, kind, created = data.get("id"), data.get("type"), data.get("created")
    if not (isinstance(event_id, str) and event_id and isinstance(kind, str) and kind):
        raise InvalidNotification("The event has no id or type", field="body", location="body")
    if not isinstance(created, int) or isinstance(created, bool):
        raise InvalidNotification("The event has no `created` timestamp", field="body", location="body")
    return ProviderEvent("stripe", event_id, kind, datetime.fromtimestamp(created, UTC), data)
