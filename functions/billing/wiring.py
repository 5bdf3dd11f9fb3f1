"""What the billing routes share: the caller, the audit context, parameter types, and the
services, each built on first use over clients made on first use."""

from __future__ import annotations

from functools import lru_cache
from typing import Annotated

from aws_lambda_powertools.event_handler.api_gateway import BaseRouter
from aws_lambda_powertools.event_handler.openapi.params import Path

from tally.accounts.dynamo.accounts import DynamoAccountStore
from tally.accounts.dynamo.table import BillingTable
from tally.audit.context import context_from_event
from tally.audit.records import AuditContext
from tally.coupons.dynamo import DynamoCouponStore
from tally.coupons.service import CouponService
from tally.http.patterns import IDENTIFIER
from tally.identity.policy import AccessPolicy
from tally.identity.principal import Principal, principal_from_event
from tally.identity.wiring import access_policy
from tally.plans.dynamo import DynamoPlanStore
from tally.plans.service import CatalogueService
from tally.settings import get_settings
from tally.storage import clients
from tally.subscriptions.dynamo import DynamoSubscriptionStore
from tally.subscriptions.service import SubscriptionService

AccountId = Annotated[str, Path(min_length=1, max_length=64, pattern=IDENTIFIER, description="The account")]
PlanCodePath = Annotated[
    str, Path(min_length=1, max_length=64, pattern=IDENTIFIER, description="The plan's code (a slug)")
]


def principal() -> Principal:
    return principal_from_event(BaseRouter.current_event)


def audit(who: Principal, reason: str | None = None) -> AuditContext:
    return context_from_event(BaseRouter.current_event, who, reason)


def policy() -> AccessPolicy:
    return access_policy()


@lru_cache(maxsize=1)
def table() -> BillingTable:
    return BillingTable(clients.on_first_use(clients.dynamodb), get_settings().billing_table_name)


@lru_cache(maxsize=1)
def catalogue() -> CatalogueService:
    return CatalogueService(DynamoPlanStore(table()))


@lru_cache(maxsize=1)
def subscriptions() -> SubscriptionService:
    return SubscriptionService(
        DynamoSubscriptionStore(table()),
        catalogue(),
        DynamoAccountStore(table()),
        time_zone=get_settings().seller_time_zone,
        coupons=coupons(),
        renewal_anchor=renewal_anchor,
    )


def renewal_anchor() -> str:
    """The seller's renewal anchor (issue 10), read when a subscription starts. Imported here: the
    invoices' modules are not the catalogue routes' to load at a cold start (decision 11)."""
    from tally.invoices.dynamo import DynamoSellerStore
    from tally.invoices.service import SellerSettingsService

    return SellerSettingsService(DynamoSellerStore(table())).current().renewal_anchor


@lru_cache(maxsize=1)
def coupons() -> CouponService:
    return CouponService(DynamoCouponStore(table()), catalogue(), DynamoSubscriptionStore(table()))


def reset() -> None:
    """Forget every service and the policy (tests switch stacks between cases)."""
    for cached in (table, catalogue, subscriptions, coupons):
        cached.cache_clear()
    access_policy.cache_clear()
