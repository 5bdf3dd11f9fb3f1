"""The providers' notification routes: verify, record, enqueue, answer (tally.payments.webhooks).

One route per provider, each with its `Verifier`; the ledger, the queue and the pipeline are
shared. The function is kept light (its answer is what the provider waits on): no pydantic, no
settings model, and `stripe` is imported by the verifier on the first notification only. What the
worker needs (the appliers) is never imported here.
"""

from __future__ import annotations

import base64
import binascii
import os
from functools import lru_cache
from typing import NotRequired, TypedDict

from aws_lambda_powertools.event_handler.api_gateway import Router

from tally.errors import SettingsError
from tally.http.responses import responses
from tally.parameters import SecretString
from tally.payments.stripe_webhooks import TOLERANCE_SECONDS, StripeVerifier
from tally.payments.webhook_ledger import DynamoWebhookLedger
from tally.payments.webhook_queue import SqsEventQueue
from tally.payments.webhooks import InvalidNotification, WebhookPipeline
from tally.storage import clients

router = Router()


class WebhookReceived(TypedDict):
    """The acknowledgement a provider gets: any 2xx stops its retries."""

    received: bool
    duplicate: NotRequired[bool]  # true: the event was received before, nothing more was done


def _environment(name: str) -> str:
    value = os.environ.get(name, "")
    if not value:
        raise SettingsError(f"{name} is not set: the webhook route cannot run")
    return value


@lru_cache(maxsize=1)
def pipeline() -> WebhookPipeline:
    # Clients made on first use: a notification refused at verification reaches neither.
    ledger = DynamoWebhookLedger(clients.on_first_use(clients.dynamodb), _environment("BILLING_TABLE_NAME"))
    queue = SqsEventQueue(clients.on_first_use(clients.sqs), _environment("WEBHOOK_QUEUE_URL"))
    return WebhookPipeline(ledger, queue)


@lru_cache(maxsize=1)
def stripe_verifier() -> StripeVerifier:
    # Read on the first notification, then cached (tally.parameters): a rotation is a secret
    # update followed by a deploy, which recycles the execution environments.
    arn = os.environ.get("STRIPE_WEBHOOK_SECRETS_ARN", "")
    return StripeVerifier(SecretString(arn, "STRIPE_WEBHOOK_SECRETS_ARN"))


def raw_body() -> bytes:
    """The body exactly as the provider sent it: signatures are over these bytes."""
    event = router.current_event
    body = event.body or ""
    if not event.is_base64_encoded:
        return body.encode("utf-8")
    try:
        return base64.b64decode(body, validate=True)
    except (binascii.Error, ValueError) as exc:  # pragma: no cover - API Gateway's own encoding
        raise InvalidNotification("The body could not be read", field="body", location="body") from exc


@router.post(
    "/v1/webhooks/stripe",
    summary="Receive a Stripe event (called by Stripe, signed)",
    description=(
        "Stripe's webhook endpoint. The body is the event exactly as Stripe sends it, checked "
        f"against the `Stripe-Signature` header with the configured webhook secrets ({TOLERANCE_SECONDS} s "
        "tolerance) before anything is written; the event id is then recorded once and the event "
        "queued for processing. A duplicate answers 200 with `duplicate: true` and does nothing more. "
        "See docs/webhooks.md."
    ),
    tags=["webhooks"],
    responses=responses(
        200,
        "Received (and queued, unless `duplicate`)",
        (413,),
        {
            400: (
                "The Stripe-Signature header is missing or does not verify (wrong signature or "
                "secret, a timestamp too old, an altered body), or the body is not an event: "
                "nothing was recorded. Also a malformed HTTP request refused by API Gateway "
                "(`message` only)"
            )
        },
    ),
)
def stripe_webhook() -> WebhookReceived:
    acknowledged = pipeline().receive(stripe_verifier(), raw_body(), router.current_event.headers)
    return {"received": True, "duplicate": True} if acknowledged.duplicate else {"received": True}
