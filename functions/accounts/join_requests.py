"""Joining a listed company by its SIREN or SIRET, and deciding the requests.

A join is approved at once only when the user's confirmed email is the account's contact email
or at its verified domain; otherwise its owners and admins are emailed and one of them (or a
platform admin) approves or rejects it, and the requester is told by email.
"""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Path

from accounts.wiring import (
    AccountId,
    AuditReason,
    audit,
    join_requests,
    policy,
    principal,
    token,
    with_profile,
)
from tally.accounts.membership_models import JoinRequestOut, JoinRequestsOut, join_request_out
from tally.accounts.models import JoinIn
from tally.errors import InvalidInput
from tally.http.patterns import IDENTIFIER
from tally.http.responses import BODY, PRIVATE, responses
from tally.http.security import BEARER
from tally.identity.policy import Permission

router = Router()

TAGS = ["join requests"]
RequestId = Annotated[
    str, Path(min_length=1, max_length=64, pattern=IDENTIFIER, description="The join request")
]
ONE_NUMBER = "Send either siren or siret (one of them)"
DECIDED = {409: "The request was already approved or rejected"}


@router.post(
    "/v1/accounts/join",
    summary="Ask to join a listed company, by its SIREN or SIRET",
    description="Approved at once (`status: approved`) when your confirmed email is the account's "
    "contact email or at its verified domain; otherwise `pending` until an owner or admin decides, "
    "and you are told by email.",
    tags=TAGS,
    security=BEARER,
    status_code=201,
    responses=responses(
        201,
        "The request",
        (*PRIVATE, *BODY, 404, 409),
        {
            404: "No company is registered with this SIREN/SIRET",
            409: "You are already a member, or already asked to join",
        },
    ),
)
def join(body: JoinIn, reason: AuditReason = None) -> JoinRequestOut:
    if (body.siren is None) == (body.siret is None):
        raise InvalidInput(ONE_NUMBER, field="siren" if body.siren is None else "siret")
    who = principal()
    policy().signed_in(who)
    with_profile(who)
    context = audit(who, reason)
    if body.siren is not None:
        request = join_requests().join(who, token().email_verified, "siren", body.siren, context)
    else:
        request = join_requests().join(who, token().email_verified, "siret", str(body.siret), context)
    return join_request_out(request)


@router.get(
    "/v1/accounts/<account_id>/join-requests",
    summary="List the requests to join an account",
    tags=TAGS,
    security=BEARER,
    responses=responses(200, "The requests, newest first", (*PRIVATE, 404, 422)),
)
def list_join_requests(account_id: AccountId) -> JoinRequestsOut:
    access = policy().authorize(principal(), Permission.JOIN_REQUESTS_DECIDE, account_id)
    return JoinRequestsOut(
        join_requests=[join_request_out(r) for r in join_requests().requests(access.account_id)]
    )


@router.post(
    "/v1/accounts/<account_id>/join-requests/<request_id>/approve",
    summary="Approve a request to join: the requester becomes a member",
    tags=TAGS,
    security=BEARER,
    responses=responses(200, "The approved request", (*PRIVATE, 404, 409, 422), DECIDED),
)
def approve(account_id: AccountId, request_id: RequestId, reason: AuditReason = None) -> JoinRequestOut:
    who = principal()
    access = policy().authorize(who, Permission.JOIN_REQUESTS_DECIDE, account_id)
    return join_request_out(join_requests().approve(access, request_id, audit(who, reason)))


@router.post(
    "/v1/accounts/<account_id>/join-requests/<request_id>/reject",
    summary="Reject a request to join",
    tags=TAGS,
    security=BEARER,
    responses=responses(200, "The rejected request", (*PRIVATE, 404, 409, 422), DECIDED),
)
def reject(account_id: AccountId, request_id: RequestId, reason: AuditReason = None) -> JoinRequestOut:
    who = principal()
    access = policy().authorize(who, Permission.JOIN_REQUESTS_DECIDE, account_id)
    return join_request_out(join_requests().reject(access, request_id, audit(who, reason)))
