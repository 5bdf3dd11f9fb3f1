"""An account's subscription: start, read, preview and apply a plan change, cancel, resume.

Owners and admins of the account (billing:read / billing:write), or platform admins; a platform
admin may start one `active` at once, with the reason (an offline deal).
"""

from __future__ import annotations

from typing import Annotated, Any

from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Header, Query

from billing.wiring import AccountId, audit, policy, principal, subscriptions
from tally.billing.catalogue import Cycle
from tally.billing.subscription_state import Subscription
from tally.errors import Forbidden, InvalidInput
from tally.http.patterns import IDENTIFIER
from tally.http.responses import BODY, PRIVATE, responses
from tally.http.retries import once
from tally.http.security import BEARER, BEARER_OR_KEY, KEY_ROUTE
from tally.identity.policy import Permission
from tally.subscriptions.models import CancelIn, ChangedOut, ChangeIn, ChangeOut, SubscriptionIn, change_out

router = Router()

TAGS = ["Billing"]
BASE = "/v1/accounts/<account_id>/subscription"
TRANSITION = {409: "The subscription's state does not allow this (said in words), or it changed meanwhile"}


@router.post(
    BASE,
    summary="Start the account's subscription",
    description="With a trial that needs no card it starts `trialing` at once; otherwise `incomplete` "
    "until its first invoice is paid. Platform admins may start it `active` with a `reason`. One "
    "current subscription per account: 409 while one is live.",
    tags=TAGS,
    security=BEARER,
    status_code=201,
    responses=responses(
        201,
        "The subscription (or, for a retry with the same Idempotency-Key and body, the first answer)",
        (*PRIVATE, *BODY, 404, 409),
        {
            409: "The account has a live subscription, the plan is archived or sold on quote, or a "
            "request with this Idempotency-Key is still in progress",
            422: "Invalid input, the coupon does not apply (`code` `coupon_<reason>`, in words), or an "
            "Idempotency-Key reused with a different body",
        },
    ),
)
def start_subscription(
    account_id: AccountId,
    body: SubscriptionIn,
    idempotency_key: Annotated[
        str | None,
        Header(
            alias="idempotency-key",
            min_length=1,
            max_length=255,
            description="Retries with the same key return the first answer instead of a 409",
        ),
    ] = None,
) -> Subscription:
    who = principal()
    access = policy().authorize(who, Permission.BILLING_WRITE, account_id)
    reason = None
    if body.status == "active":
        if not who.is_platform_admin:
            raise Forbidden("Only platform admins start a subscription active", field="status")
        policy().authorize(who, Permission.PLATFORM_ADMIN, account_id)
        if body.reason is None:
            raise InvalidInput("Say why it starts active (the offline deal)", field="reason")
        reason = body.reason

    def start(wanted: dict[str, Any]) -> dict[str, Any]:
        asked = SubscriptionIn.model_validate(wanted)
        started = subscriptions().start(
            access.account_id,
            asked.plan,
            asked.cycle,
            asked.currency,
            audit(who, asked.reason),
            active_reason=reason,
            coupon=asked.coupon,
        )
        return started.model_dump(mode="json")

    body_data = body.model_dump(mode="json")
    if idempotency_key is None:
        return Subscription.model_validate(start(body_data))
    scope = f"{who.subject}:{access.account_id}"
    return Subscription.model_validate(
        once("start_subscription", scope, idempotency_key, body_data, router.lambda_context, start)
    )


@router.get(
    BASE,
    summary="Read the account's subscription",
    description="Owners and admins, or an API key with `billing:read`.",
    tags=TAGS,
    security=BEARER_OR_KEY,
    responses=responses(
        200, "The current subscription", (*PRIVATE, 404, 422), {404: "No subscription", **KEY_ROUTE}
    ),
)
def get_subscription(account_id: AccountId) -> Subscription:
    who = principal()
    access = policy().authorize(who, Permission.BILLING_READ, account_id)
    return subscriptions().current(access.account_id, audit(who))


@router.get(
    f"{BASE}/preview-change",
    summary="Preview a change of plan or cycle",
    description="The proration to the second (credit for the unused part of the current price, charge "
    "for the rest of the period at the new price, each rounded half-up) and what the next invoice "
    "holds. An upgrade applies at once; a downgrade at the period's end. Owners and admins, or an API key "
    "with `billing:read`.",
    tags=TAGS,
    security=BEARER_OR_KEY,
    responses=responses(
        200, "What the change would do now", (*PRIVATE, 404, 409, 422), {**TRANSITION, **KEY_ROUTE}
    ),
)
def preview_change(
    account_id: AccountId,
    plan: Annotated[
        str | None,
        Query(min_length=1, max_length=64, pattern=IDENTIFIER, description="The new plan's code (required)"),
    ] = None,
    cycle: Annotated[Cycle | None, Query(description="The new cycle; the current one when absent")] = None,
) -> ChangeOut:
    who = principal()
    access = policy().authorize(who, Permission.BILLING_READ, account_id)
    if plan is None:  # checked after the caller: another tenant learns nothing, not even a 422
        raise InvalidInput("Name the plan to preview: ?plan=<code>", field="plan", location="query")
    preview = subscriptions().preview(access.account_id, plan, cycle, audit(who))
    return change_out(preview.current, preview.new, preview.change)


@router.post(
    f"{BASE}/change",
    summary="Change plan or cycle",
    description="An upgrade applies at once (with the preview's proration); a downgrade is scheduled "
    "for the period's end unless `immediately` says otherwise.",
    tags=TAGS,
    security=BEARER,
    responses=responses(200, "The subscription and the change", (*PRIVATE, *BODY, 404, 409), TRANSITION),
)
def change_subscription(account_id: AccountId, body: ChangeIn) -> ChangedOut:
    who = principal()
    access = policy().authorize(who, Permission.BILLING_WRITE, account_id)
    after, preview = subscriptions().change(
        access.account_id, body.plan, body.cycle, body.immediately, audit(who)
    )
    return ChangedOut(subscription=after, change=change_out(preview.current, preview.new, preview.change))


@router.post(
    f"{BASE}/cancel",
    summary="Cancel the subscription, now or at the period's end",
    tags=TAGS,
    security=BEARER,
    responses=responses(200, "The subscription", (*PRIVATE, *BODY, 404, 409), TRANSITION),
)
def cancel_subscription(account_id: AccountId, body: CancelIn) -> Subscription:
    who = principal()
    access = policy().authorize(who, Permission.BILLING_WRITE, account_id)
    return subscriptions().cancel(access.account_id, body.at_period_end, body.reason, audit(who, body.reason))


@router.post(
    f"{BASE}/resume",
    summary="Resume a subscription set to cancel at the period's end",
    tags=TAGS,
    security=BEARER,
    responses=responses(200, "The subscription", (*PRIVATE, 404, 409, 422), TRANSITION),
)
def resume_subscription(account_id: AccountId) -> Subscription:
    who = principal()
    access = policy().authorize(who, Permission.BILLING_WRITE, account_id)
    return subscriptions().resume(access.account_id, audit(who))
