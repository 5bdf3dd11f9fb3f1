"""Stripe's `Verifier`: the `Stripe-Signature` header checked by the SDK's own verifier.

`stripe.WebhookSignature.verify_header` checks the HMAC over `{timestamp}.{raw body}` and the
300 s tolerance; it is tried with each configured secret in turn, so during a rotation both the
new and the old secret verify (the secret holds `whsec_new,whsec_old`, then `whsec_new`).

`stripe` is imported on the first notification, not with this module: any module of the SDK
loads the whole package (there is no narrower import: `stripe._webhook` imports `stripe`), which
the route pays once per process and nothing else that imports the pipeline should. And it is
imported without the HTTP library it probes for at load (`_stripe_for_verification`).
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from types import ModuleType
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
        stripe = _stripe_for_verification()
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


def _stripe_for_verification() -> ModuleType:
    """The `stripe` package, imported (if no one has yet) without `requests`.

    At load, stripe._http_client imports `requests` only to pick its default HTTP client, falling
    back to the standard library's urllib when it is missing. Verifying a signature makes no
    request, and `requests` with its dependencies (charset_normalizer, idna) is ~75 ms of the
    route's cold start (a third of what stays above the boto3 floor), so it is hidden while
    stripe loads and put back at once: `stripe.RequestsClient`, which tally.payments.stripe_client
    builds explicitly, still imports `requests` itself when made, in this process or any other.
    """
    loaded = sys.modules.get("stripe")
    if loaded is not None:
        return loaded
    hidden = "requests" not in sys.modules
    if hidden:
        sys.modules["requests"] = None  # type: ignore[assignment]  # `import requests` raises ImportError
    try:
        import stripe
    finally:
        if hidden and "requests" in sys.modules and sys.modules["requests"] is None:
            del sys.modules["requests"]
    return stripe


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
