"""Accounts: create (your own, or one for others as a platform admin), read, update, set status."""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Header

from accounts.wiring import (
    AccountId,
    AuditReason,
    account_store,
    accounts,
    audit,
    forget,
    policy,
    principal,
    with_profile,
)
from tally.accounts.domain import Account
from tally.accounts.models import AccountIn, AccountOut, AccountPatchIn, StatusIn, account_out
from tally.accounts.service import Creator
from tally.accounts.status import change_status
from tally.errors import Forbidden, InvalidInput
from tally.http.responses import BODY, PRIVATE, responses
from tally.http.retries import once
from tally.http.security import BEARER
from tally.identity.policy import Permission
from tally.identity.principal import Principal

router = Router()

TAGS = ["accounts"]
DOMAIN_FOR_ADMINS = "Only platform admins set an account's verified email domain"


def _creator(who: Principal, body: AccountIn) -> Creator:
    """A platform admin creates accounts for others (listed companies); anyone else their own."""
    if who.is_platform_admin:
        policy().authorize_platform(who, Permission.PLATFORM_ADMIN)
        return Creator(who.subject, who.email or "", for_others=True)
    policy().signed_in(who)
    if body.email_domain is not None:
        raise Forbidden(DOMAIN_FOR_ADMINS, field="email_domain")
    return Creator(who.subject, who.email or "", for_others=False)


def _create(body: AccountIn) -> Account:
    who = with_profile(principal())
    created = accounts().create(body, _creator(who, body), audit(who))
    forget(who.subject)  # they own it now: this instance reads their memberships again
    return created


@router.post(
    "/v1/accounts",
    summary="Create an account",
    description="Any signed-in user creates their own account: it starts `pending`, with them as its "
    "owner. A platform admin creates accounts for others (listed companies), with no member yet.",
    tags=TAGS,
    security=BEARER,
    status_code=201,
    responses=responses(
        201,
        "Created (or, for a retry with the same Idempotency-Key and body, the first answer)",
        (*PRIVATE, *BODY, 409),
        {
            403: "Platform admins without MFA, or `email_domain` from anyone but a platform admin",
            409: "The SIREN or SIRET is already registered (join that account instead), or a request "
            "with this Idempotency-Key is still in progress",
            422: "Invalid input, or an Idempotency-Key reused with a different body",
        },
    ),
)
def create_account(
    body: AccountIn,
    idempotency_key: Annotated[
        str | None,
        Header(
            alias="idempotency-key",
            min_length=1,
            max_length=255,
            description="Retries with the same key return the first answer instead of a second account",
        ),
    ] = None,
    reason: AuditReason = None,
) -> AccountOut:
    if idempotency_key is None:
        return account_out(_create(body))
    created = once(
        "create_account",
        principal().subject,
        idempotency_key,
        body.model_dump(mode="json"),
        router.lambda_context,
        lambda again: account_out(_create(AccountIn.model_validate(again))).model_dump(mode="json"),
    )
    return AccountOut.model_validate(created)


@router.get(
    "/v1/accounts/<account_id>",
    summary="Read an account",
    tags=TAGS,
    security=BEARER,
    responses=responses(200, "The account", (*PRIVATE, 404, 422)),
)
def get_account(account_id: AccountId) -> AccountOut:
    access = policy().authorize(principal(), Permission.ACCOUNT_READ, account_id)
    return account_out(accounts().get(access.account_id))


@router.patch(
    "/v1/accounts/<account_id>",
    summary="Change an account's name, contact email or verified email domain",
    description="Owners and admins change the name and the contact email; only platform admins set "
    "`email_domain` (after checking the company owns it).",
    tags=TAGS,
    security=BEARER,
    responses=responses(
        200,
        "The account as it is now",
        (*PRIVATE, *BODY, 404, 409),
        {409: "The account changed while the request was made: read it again"},
    ),
)
def update_account(account_id: AccountId, body: AccountPatchIn, reason: AuditReason = None) -> AccountOut:
    who = principal()
    wanted = body.model_dump(include=body.model_fields_set)
    if not wanted:
        raise InvalidInput("Send at least one field to change: name, email or email_domain", field="body")
    permission = Permission.PLATFORM_ADMIN if "email_domain" in wanted else Permission.ACCOUNT_WRITE
    access = policy().authorize(who, permission, account_id)
    if "email" in wanted:
        wanted["email"] = str(wanted["email"]).lower()
    return account_out(accounts().update(access.account_id, wanted, audit(who, reason)))


@router.post(
    "/v1/accounts/<account_id>/status",
    summary="Set an account's status (platform admin), with the reason",
    description="pending → active ⇄ suspended → cancelled | expired. While suspended, expired or "
    "cancelled, the account's users get 403 `account_suspended` with the reason on every tenant route "
    "except billing, their profile and signing out.",
    tags=TAGS,
    security=BEARER,
    responses=responses(
        200,
        "The account with its new status",
        (*PRIVATE, *BODY, 404, 409),
        {
            409: "The status machine does not allow this change (said in words), or the status "
            "changed meanwhile"
        },
    ),
)
def set_status(account_id: AccountId, body: StatusIn) -> AccountOut:
    who = principal()
    access = policy().authorize(who, Permission.ACCOUNT_STATUS, account_id)
    changed = change_status(
        account_store(), access.account_id, body.status, body.reason, audit(who, body.reason)
    )
    return account_out(changed)
