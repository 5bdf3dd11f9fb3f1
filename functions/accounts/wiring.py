"""What the accounts routes share: the caller, the audit context, parameter types, and the
services, each built on first use over clients made on first use (a cold start makes only the
clients its request needs)."""

from __future__ import annotations

from functools import lru_cache
from typing import Annotated

from aws_lambda_powertools.event_handler.api_gateway import BaseRouter
from aws_lambda_powertools.event_handler.openapi.params import Header, Path

from tally.accounts.cognito import CognitoSignOut
from tally.accounts.dynamo.accounts import DynamoAccountStore
from tally.accounts.dynamo.invitations import DynamoInvitationStore
from tally.accounts.dynamo.join_requests import DynamoJoinRequestStore
from tally.accounts.dynamo.members import DynamoMemberStore
from tally.accounts.dynamo.profiles import DynamoProfileStore
from tally.accounts.dynamo.table import BillingTable
from tally.accounts.emails import Notifier
from tally.accounts.fields import USER_ID
from tally.accounts.invitations import InvitationService
from tally.accounts.join_requests import JoinService
from tally.accounts.members import MemberService
from tally.accounts.profiles import ProfileService
from tally.accounts.service import AccountService
from tally.audit.context import REASON_HEADER, context_from_event
from tally.audit.reader import AuditReader
from tally.audit.records import AuditContext
from tally.http.patterns import IDENTIFIER
from tally.identity.policy import AccessPolicy
from tally.identity.principal import Principal, TokenProfile, principal_from_event, token_profile
from tally.identity.wiring import access_policy
from tally.notifications.mailer import SesMailer
from tally.settings import get_settings
from tally.storage import clients

# ASCII a header can carry, with something visible.
HEADER_TEXT = r"^[\x20-\x7e]*[\x21-\x7e][\x20-\x7e]*$"

AccountId = Annotated[str, Path(min_length=1, max_length=64, pattern=IDENTIFIER, description="The account")]
UserId = Annotated[
    str, Path(min_length=1, max_length=64, pattern=USER_ID, description="The member's user id")
]
AuditReason = Annotated[
    str | None,
    Header(
        alias=REASON_HEADER,
        min_length=1,
        max_length=500,
        pattern=HEADER_TEXT,
        description="Why this change is made, kept with it in the audit trail",
    ),
]


# -- the request ----------------------------------------------------------------------------


def principal() -> Principal:
    return principal_from_event(BaseRouter.current_event)


def token() -> TokenProfile:
    return token_profile(BaseRouter.current_event)


def audit(who: Principal, reason: str | None = None) -> AuditContext:
    """The request's audit context; `reason` is the route's own reason field, if it has one."""
    return context_from_event(BaseRouter.current_event, who, reason)


def with_profile(who: Principal) -> Principal:
    """A user about to become a member gets their profile first (from the token, once), so that
    the account's member list shows their name and emails reach them in their language."""
    if who.kind == "user":
        profiles().ensure(who, token(), audit(who))
    return who


def policy() -> AccessPolicy:
    return access_policy()


def forget(user_id: str) -> None:
    policy().directory.forget(user_id)


# -- the services ---------------------------------------------------------------------------


@lru_cache(maxsize=1)
def table() -> BillingTable:
    return BillingTable(clients.on_first_use(clients.dynamodb), get_settings().billing_table_name)


@lru_cache(maxsize=1)
def notifier() -> Notifier:
    settings = get_settings()
    return Notifier(
        lambda: SesMailer(clients.sesv2(), settings.sender_email),
        DynamoProfileStore(table()),
        settings.app_url,
    )


@lru_cache(maxsize=1)
def account_store() -> DynamoAccountStore:
    return DynamoAccountStore(table())


@lru_cache(maxsize=1)
def accounts() -> AccountService:
    return AccountService(account_store())


@lru_cache(maxsize=1)
def members() -> MemberService:
    return MemberService(DynamoMemberStore(table()), DynamoProfileStore(table()), forget)


@lru_cache(maxsize=1)
def invitations() -> InvitationService:
    return InvitationService(
        DynamoInvitationStore(table()),
        DynamoMemberStore(table()),
        DynamoAccountStore(table()),
        notifier(),
        forget,
    )


@lru_cache(maxsize=1)
def join_requests() -> JoinService:
    return JoinService(
        DynamoAccountStore(table()),
        DynamoJoinRequestStore(table()),
        DynamoMemberStore(table()),
        notifier(),
        forget,
    )


@lru_cache(maxsize=1)
def profiles() -> ProfileService:
    cognito = clients.on_first_use(clients.cognito)
    return ProfileService(
        DynamoProfileStore(table()),
        DynamoAccountStore(table()),
        CognitoSignOut(cognito, get_settings().user_pool_id),
        forget,
    )


@lru_cache(maxsize=1)
def audit_reader() -> AuditReader:
    return AuditReader(clients.on_first_use(clients.dynamodb), get_settings().billing_table_name)


def reset() -> None:
    """Forget every service and the policy (tests switch stacks between cases)."""
    for cached in (
        table,
        notifier,
        account_store,
        accounts,
        members,
        invitations,
        join_requests,
        profiles,
        audit_reader,
    ):
        cached.cache_clear()
    access_policy.cache_clear()
