"""Coupons: platform admins create, read, change, deactivate and delete them; an account's owners
and admins validate one for a plan before starting a subscription with it."""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Header, Path

from billing.wiring import audit, coupons, policy, principal
from tally.billing.coupons import COUPON_CODE
from tally.coupons.models import (
    CouponIn,
    CouponOut,
    CouponPatch,
    CouponsOut,
    ValidateIn,
    ValidateOut,
    coupon_out,
    validate_out,
)
from tally.http.patterns import IDENTIFIER
from tally.http.responses import BODY, PRIVATE, responses
from tally.http.security import BEARER
from tally.identity.policy import ACCOUNT_HEADER, Permission

router = Router()

ADMIN_TAGS = ["Coupons"]
TAGS = ["Billing"]
BASE = "/v1/coupons"
UNKNOWN = {404: "No such coupon"}
CodePath = Annotated[
    str, Path(min_length=1, max_length=32, pattern=COUPON_CODE, description="The coupon's code, any case")
]
AccountHeader = Annotated[
    str | None,
    Header(
        alias=ACCOUNT_HEADER,
        min_length=1,
        max_length=64,
        pattern=IDENTIFIER,
        description="The account (else your only account)",
    ),
]
REFUSED = (
    "Invalid input, or the coupon does not apply: `code` is `coupon_<reason>` (`coupon_expired`, "
    "`coupon_not_yet_valid`, `coupon_used_up`, `coupon_already_used`, `coupon_not_for_plan`, "
    "`coupon_below_minimum`, `coupon_new_customers_only`, `coupon_existing_customers_only`, "
    "`coupon_inactive`, `coupon_currency_mismatch`, `coupon_first_payment_only`) and `message` says "
    "it in words"
)


def _admin() -> None:
    policy().authorize_platform(principal(), Permission.COUPONS_ADMIN)


@router.post(
    BASE,
    summary="Create a coupon (platform admin)",
    tags=ADMIN_TAGS,
    security=BEARER,
    status_code=201,
    responses=responses(201, "The coupon", (*PRIVATE, *BODY, 409), {409: "The code is taken (in any case)"}),
)
def create_coupon(body: CouponIn) -> CouponOut:
    _admin()
    return coupon_out(coupons().create(body, audit(principal())))


@router.get(
    BASE,
    summary="List the coupons with their redemption counts (platform admin)",
    tags=ADMIN_TAGS,
    security=BEARER,
    responses=responses(200, "Every coupon, by code", PRIVATE),
)
def list_coupons() -> CouponsOut:
    _admin()
    return CouponsOut(coupons=[coupon_out(stored) for stored in coupons().listed()])


@router.post(
    f"{BASE}/validate",
    summary="Check a coupon for a plan, for your account",
    description="The preview of what it takes off the plan's price (`original`, `discount`, `final`, "
    "for how long) or, 422, why it does not apply, in words. Nothing is redeemed: start the "
    "subscription with `coupon` to redeem it. The account is `X-Account-Id`, else your only one.",
    tags=TAGS,
    security=BEARER,
    responses=responses(
        200,
        "What the coupon does to the plan's price",
        (*PRIVATE, *BODY, 404, 409),
        {404: "No such coupon, plan or account", 409: "The plan is archived or sold on quote", 422: REFUSED},
    ),
)
def validate_coupon(body: ValidateIn, account_header: AccountHeader = None) -> ValidateOut:
    who = principal()
    access = policy().authorize(who, Permission.BILLING_READ, policy().account_for(who, account_header))
    shown = coupons().validate(body.code, access.account_id, body.plan, body.cycle, body.currency)
    return validate_out(body.code, shown)


@router.get(
    f"{BASE}/<code>",
    summary="Read a coupon (platform admin)",
    tags=ADMIN_TAGS,
    security=BEARER,
    responses=responses(200, "The coupon", (*PRIVATE, 404, 422), UNKNOWN),
)
def get_coupon(code: CodePath) -> CouponOut:
    _admin()
    return coupon_out(coupons().get(code))


@router.patch(
    f"{BASE}/<code>",
    summary="Change a coupon's terms (platform admin)",
    description="Redemptions made keep the terms they were made with.",
    tags=ADMIN_TAGS,
    security=BEARER,
    responses=responses(
        200, "The coupon", (*PRIVATE, *BODY, 404, 409), {**UNKNOWN, 409: "It changed meanwhile"}
    ),
)
def update_coupon(code: CodePath, body: CouponPatch) -> CouponOut:
    _admin()
    return coupon_out(coupons().update(code, body.changes(), audit(principal())))


@router.post(
    f"{BASE}/<code>/deactivate",
    summary="Deactivate a coupon (platform admin)",
    description="It is refused from now on (`coupon_inactive`); redemptions made stay. Idempotent.",
    tags=ADMIN_TAGS,
    security=BEARER,
    responses=responses(
        200, "The coupon", (*PRIVATE, 404, 409, 422), {**UNKNOWN, 409: "It changed meanwhile"}
    ),
)
def deactivate_coupon(code: CodePath) -> CouponOut:
    _admin()
    return coupon_out(coupons().deactivate(code, audit(principal())))


@router.delete(
    f"{BASE}/<code>",
    summary="Delete a coupon never redeemed (platform admin)",
    tags=ADMIN_TAGS,
    security=BEARER,
    status_code=204,
    responses=responses(
        204,
        "Deleted",
        (*PRIVATE, 404, 409, 422),
        {**UNKNOWN, 409: "It has been redeemed: deactivate it instead"},
    ),
)
def delete_coupon(code: CodePath) -> Response[None]:
    _admin()
    coupons().delete(code, audit(principal()))
    return Response(status_code=204)
