"""The account's own subscription, managed by its owners and admins (or platform staff): read it,
open Stripe's billing portal, cancel at the period's end, resume, preview and apply a change.

`collection: invoice` subscriptions behave exactly as under /v1/accounts/{account_id}/subscription;
`collection: stripe` ones are changed in Stripe and mirrored. Every change is audited.
"""

from __future__ import annotations

from aws_lambda_powertools.event_handler.api_gateway import Router

from checkout.wiring import AccountHeader, account_access, audit, principal, self_service
from tally.billing.subscription_state import Subscription
from tally.checkout.models import PlanChangeIn, PortalIn, PortalOut
from tally.http.responses import BODY, PRIVATE, responses
from tally.http.security import BEARER
from tally.identity.policy import Permission
from tally.subscriptions.models import ChangedOut, ChangeIn, ChangeOut

router = Router()

TAGS = ["Billing"]
BASE = "/v1/billing/subscription"
TRANSITION = {
    404: "No such account or plan",
    409: "No subscription, or its state does not allow this (said in words), or it changed meanwhile",
}
ACCOUNT = "The account is `X-Account-Id`, else your only one."


@router.get(
    BASE,
    summary="Read your account's subscription",
    description=f"Native (`collection: invoice`) or paid through Stripe (`collection: stripe`). {ACCOUNT}",
    tags=TAGS,
    security=BEARER,
    responses=responses(200, "The current subscription", (*PRIVATE, 404, 422), {404: "No subscription"}),
)
def get_own_subscription(account_header: AccountHeader = None) -> Subscription:
    who = principal()
    access = account_access(who, account_header, Permission.BILLING_READ)
    return self_service().current(access.account_id, audit(who))


@router.post(
    "/v1/billing/portal",
    summary="Open Stripe's billing portal",
    description="A billing portal session for the account's Stripe customer: payment methods, "
    f"invoices, cancellation. `return_url` follows checkout's rules (https, allowed origin). {ACCOUNT}",
    tags=TAGS,
    security=BEARER,
    responses=responses(
        200,
        "The portal session's URL",
        (*PRIVATE, *BODY, 404, 409),
        {409: "The account has no Stripe customer yet: start a checkout first"},
    ),
)
def open_portal(body: PortalIn, account_header: AccountHeader = None) -> PortalOut:
    access = account_access(principal(), account_header)
    return PortalOut(url=self_service().portal(access.account_id, body.return_url))


@router.post(
    f"{BASE}/cancel",
    summary="Cancel your subscription at the period's end",
    description="It runs to the period's end and can be resumed until then; the reason, if any, is "
    f"the X-Audit-Reason header. Audited. {ACCOUNT}",
    tags=TAGS,
    security=BEARER,
    responses=responses(200, "The subscription", (*PRIVATE, 404, 409, 422), TRANSITION),
)
def cancel_own_subscription(account_header: AccountHeader = None) -> Subscription:
    who = principal()
    access = account_access(who, account_header)
    return self_service().cancel(access.account_id, audit(who))


@router.post(
    f"{BASE}/resume",
    summary="Resume your subscription set to cancel",
    description=f"Audited. {ACCOUNT}",
    tags=TAGS,
    security=BEARER,
    responses=responses(200, "The subscription", (*PRIVATE, 404, 409, 422), TRANSITION),
)
def resume_own_subscription(account_header: AccountHeader = None) -> Subscription:
    who = principal()
    access = account_access(who, account_header)
    return self_service().resume(access.account_id, audit(who))


@router.post(
    f"{BASE}/preview-change",
    summary="Preview a change of plan or cycle",
    description="The same answer as GET /v1/accounts/{account_id}/subscription/preview-change: for a "
    "subscription paid through Stripe, from Stripe's invoice preview (the change applies at once, "
    f"prorated to the second). {ACCOUNT}",
    tags=TAGS,
    security=BEARER,
    responses=responses(200, "What the change would do now", (*PRIVATE, *BODY, 404, 409), TRANSITION),
)
def preview_own_change(body: PlanChangeIn, account_header: AccountHeader = None) -> ChangeOut:
    who = principal()
    access = account_access(who, account_header, Permission.BILLING_READ)
    return self_service().preview(access.account_id, body.plan, body.cycle, audit(who))


@router.post(
    f"{BASE}/change",
    summary="Change plan or cycle",
    description="Native subscriptions: as POST /v1/accounts/{account_id}/subscription/change. Through "
    f"Stripe: at once, prorated (`immediately: false` is refused). Audited. {ACCOUNT}",
    tags=TAGS,
    security=BEARER,
    responses=responses(200, "The subscription and the change", (*PRIVATE, *BODY, 404, 409), TRANSITION),
)
def change_own_subscription(body: ChangeIn, account_header: AccountHeader = None) -> ChangedOut:
    who = principal()
    access = account_access(who, account_header)
    return self_service().change(access.account_id, body.plan, body.cycle, body.immediately, audit(who))
