"""What the checkout routes share: the caller, the audit context, the account they act on, and
the services, each built on first use over clients made on first use (Stripe's too: a request
that never reaches Stripe never reads its secret key nor imports the SDK)."""

from __future__ import annotations

from functools import lru_cache
from typing import Annotated

from aws_lambda_powertools.event_handler.api_gateway import BaseRouter
from aws_lambda_powertools.event_handler.openapi.params import Header

from tally.accounts.dynamo.accounts import DynamoAccountStore
from tally.accounts.dynamo.table import BillingTable
from tally.audit.context import context_from_event
from tally.audit.records import AuditContext
from tally.checkout.dynamo import DynamoCheckoutStore
from tally.checkout.self_service import SelfService
from tally.checkout.service import CheckoutService
from tally.checkout.urls import allowed_origins
from tally.coupons.dynamo import DynamoCouponStore
from tally.coupons.service import CouponService
from tally.http.patterns import IDENTIFIER
from tally.identity.policy import ACCOUNT_HEADER, Access, AccessPolicy, Permission
from tally.identity.principal import Principal, principal_from_event
from tally.identity.wiring import access_policy
from tally.invoices.dynamo import DynamoSellerStore
from tally.invoices.service import SellerSettingsService
from tally.payments.stripe_checkout import StripeCheckout
from tally.placements.seats import DynamoPlacementSeats
from tally.plans.dynamo import DynamoPlanStore
from tally.plans.service import CatalogueService
from tally.settings import get_settings
from tally.storage import clients
from tally.subscriptions.dynamo import DynamoSubscriptionStore
from tally.subscriptions.service import SubscriptionService

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


def principal() -> Principal:
    return principal_from_event(BaseRouter.current_event)


def audit(who: Principal, reason: str | None = None) -> AuditContext:
    return context_from_event(BaseRouter.current_event, who, reason)


def policy() -> AccessPolicy:
    return access_policy()


def account_access(
    who: Principal, header: str | None, permission: Permission = Permission.BILLING_WRITE
) -> Access:
    """The account in X-Account-Id (else the caller's only one), for its owners and admins or
    platform staff; 403/404 otherwise (tally.identity.policy)."""
    return policy().authorize(who, permission, policy().account_for(who, header))


@lru_cache(maxsize=1)
def table() -> BillingTable:
    return BillingTable(clients.on_first_use(clients.dynamodb), get_settings().billing_table_name)


_stripe_override: list[StripeCheckout] = []


def use_stripe(port: StripeCheckout | None) -> None:
    """Tests: Stripe in memory instead of the StripeClient (None: the real one again)."""
    _stripe_override[:] = [port] if port is not None else []
    reset()


def stripe() -> StripeCheckout:
    return _stripe_override[0] if _stripe_override else _gateway()


@lru_cache(maxsize=1)
def _gateway() -> StripeCheckout:
    """Stripe through the process's StripeClient, made on the first call that needs it."""
    from tally.payments.stripe_client import stripe_client
    from tally.payments.stripe_gateway import StripeGateway

    return StripeGateway(stripe_client)


def origins() -> frozenset[str]:
    seller = SellerSettingsService(DynamoSellerStore(table())).current()
    return allowed_origins(seller.allowed_redirect_origins, get_settings().app_url)


@lru_cache(maxsize=1)
def catalogue() -> CatalogueService:
    return CatalogueService(DynamoPlanStore(table()))


@lru_cache(maxsize=1)
def store() -> DynamoCheckoutStore:
    return DynamoCheckoutStore(table())


@lru_cache(maxsize=1)
def seats() -> DynamoPlacementSeats:
    return DynamoPlacementSeats(clients.on_first_use(clients.dynamodb), get_settings().billing_table_name)


@lru_cache(maxsize=1)
def subscriptions() -> SubscriptionService:
    return SubscriptionService(
        DynamoSubscriptionStore(table()),
        catalogue(),
        DynamoAccountStore(table()),
        time_zone=get_settings().seller_time_zone,
        coupons=coupons(),
    )


@lru_cache(maxsize=1)
def coupons() -> CouponService:
    return CouponService(DynamoCouponStore(table()), catalogue(), DynamoSubscriptionStore(table()))


@lru_cache(maxsize=1)
def checkouts() -> CheckoutService:
    return CheckoutService(
        catalogue=catalogue(),
        coupons=coupons(),
        accounts=DynamoAccountStore(table()),
        subscriptions=DynamoSubscriptionStore(table()),
        store=store(),
        seats=seats(),
        stripe=stripe(),
        allowed_origins=origins,
    )


@lru_cache(maxsize=1)
def self_service() -> SelfService:
    return SelfService(
        subscriptions=subscriptions(),
        store=DynamoSubscriptionStore(table()),
        catalogue=catalogue(),
        ids=store(),
        stripe=stripe(),
        allowed_origins=origins,
    )


def reset() -> None:
    """Forget every service and the policy (tests switch stacks between cases)."""
    for cached in (table, _gateway, catalogue, store, seats, subscriptions, coupons, checkouts, self_service):
        cached.cache_clear()
    access_policy.cache_clear()
