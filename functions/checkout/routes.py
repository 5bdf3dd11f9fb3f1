"""POST /v1/billing/checkout: a Stripe Checkout Session for the account's owners and admins."""

from __future__ import annotations

from typing import Annotated, Any

from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Header

from checkout.wiring import AccountHeader, account_access, audit, checkouts, principal
from tally.checkout.models import CheckoutIn, CheckoutOut
from tally.http.responses import BODY, PRIVATE, responses
from tally.http.retries import once
from tally.http.security import BEARER

router = Router()

TAGS = ["Billing"]


@router.post(
    "/v1/billing/checkout",
    summary="Start a Stripe checkout: a subscription, or a one-off order",
    description="A Stripe Checkout Session for the account in `X-Account-Id` (else your only one); "
    "send the customer to `checkout_url`. `kind: subscription` (the default) subscribes to the plan's "
    "current version (subscription mode) with the plan's trial: without a card when the plan's trial "
    "needs none. `kind: order` buys one period of the plan, paid once (payment mode); nothing renews. "
    "A `coupon` is checked now and applied by Stripe with the same effect (percent or amount off, "
    "for as many periods); it is redeemed when the checkout completes. With `placement`, a "
    "sponsored seat of that (location, category) is reserved until the session expires (31 minutes: "
    "Stripe's least, 30, and a minute for the request): its `reservation_id` becomes the "
    "sponsorship's id once paid. `success_url` and `cancel_url` must "
    "be https (http only for localhost) on an origin the seller's billing settings allow "
    "(`allowed_redirect_origins`, else the front end's own). The same Idempotency-Key and body answer "
    "the same session; a retry after a 503 reuses the customer, the reservation and the session "
    "made so far. Owners and admins, or platform staff.",
    tags=TAGS,
    security=BEARER,
    status_code=201,
    responses=responses(
        201,
        "The session (or, for a retry with the same Idempotency-Key and body, the first answer)",
        (*PRIVATE, *BODY, 404, 409),
        {
            404: "No such plan or account",
            409: "The account has a live subscription, the plan is archived or sold on quote, the "
            "placement is full (`placement_full`, with `next_free_at`: when the first seat may free "
            "up, null when every seat is an active sponsorship), or a request with this "
            "Idempotency-Key is still in progress",
            422: "Invalid input, a return URL that is not https or not on an allowed origin (naming "
            "the field), a coupon that does not apply (`coupon_<reason>`, in words), the payment "
            "provider refusing the request (in words), or an Idempotency-Key reused with another body",
        },
    ),
)
def start_checkout(
    body: CheckoutIn,
    idempotency_key: Annotated[
        str,
        Header(
            alias="idempotency-key",
            min_length=1,
            max_length=255,
            description="Required: retries with the same key and body answer the first session",
        ),
    ],
    account_header: AccountHeader = None,
) -> CheckoutOut:
    who = principal()
    access = account_access(who, account_header)

    def start(wanted: dict[str, Any]) -> dict[str, Any]:
        asked = CheckoutIn.model_validate(wanted)
        made = checkouts().checkout(access.account_id, asked, idempotency_key, audit(who))
        return made.model_dump(mode="json")

    scope = f"{who.subject}:{access.account_id}"
    answer = once(
        "start_checkout", scope, idempotency_key, body.model_dump(mode="json"), router.lambda_context, start
    )
    return CheckoutOut.model_validate(answer)
