"""What the invoice routes share: the caller, the audit context, parameter types, and the
services, each built on first use over clients made on first use."""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING, Annotated

from aws_lambda_powertools.event_handler.api_gateway import BaseRouter
from aws_lambda_powertools.event_handler.openapi.params import Path

from tally.accounts.dynamo.accounts import DynamoAccountStore
from tally.accounts.dynamo.table import BillingTable
from tally.audit.context import context_from_event
from tally.audit.records import AuditContext
from tally.coupons.dynamo import DynamoCouponStore
from tally.coupons.service import CouponService
from tally.documents.store import DocumentStore
from tally.http.patterns import IDENTIFIER
from tally.identity.policy import AccessPolicy, Permission
from tally.identity.principal import Principal, principal_from_event
from tally.identity.wiring import access_policy
from tally.invoices.dynamo import DynamoInvoiceStore, DynamoSellerStore
from tally.invoices.notices import InvoiceNotices
from tally.invoices.service import AccountCustomers, InvoiceService, SellerSettingsService
from tally.invoices.subscription import SubscriptionInvoicing
from tally.plans.dynamo import DynamoPlanStore
from tally.plans.service import CatalogueService
from tally.settings import get_settings
from tally.storage import clients
from tally.subscriptions.dynamo import DynamoSubscriptionStore
from tally.usage.dynamo import DynamoUsageStore

if TYPE_CHECKING:
    from tally.notifications.ledger import EmailLedger

AccountId = Annotated[str, Path(min_length=1, max_length=64, pattern=IDENTIFIER, description="The account")]
InvoiceId = Annotated[str, Path(min_length=1, max_length=64, pattern=IDENTIFIER, description="The invoice")]


def principal() -> Principal:
    return principal_from_event(BaseRouter.current_event)


def audit(who: Principal, reason: str | None = None) -> AuditContext:
    return context_from_event(BaseRouter.current_event, who, reason)


def policy() -> AccessPolicy:
    return access_policy()


def admin() -> Principal:
    """The caller, a platform admin (invoices:admin, MFA on); 401/403 otherwise."""
    who = principal()
    policy().authorize_platform(who, Permission.INVOICES_ADMIN)
    return who


@lru_cache(maxsize=1)
def table() -> BillingTable:
    return BillingTable(clients.on_first_use(clients.dynamodb), get_settings().billing_table_name)


@lru_cache(maxsize=1)
def seller() -> SellerSettingsService:
    return SellerSettingsService(DynamoSellerStore(table()))


@lru_cache(maxsize=1)
def invoices() -> InvoiceService:
    accounts = DynamoAccountStore(table())
    subscriptions = DynamoSubscriptionStore(table())
    coupons = CouponService(
        DynamoCouponStore(table()), CatalogueService(DynamoPlanStore(table())), subscriptions
    )
    return InvoiceService(
        DynamoInvoiceStore(table()),
        seller(),
        AccountCustomers(accounts),
        subscriptions=subscriptions,
        accounts=accounts,
        coupons=coupons,
    )


@lru_cache(maxsize=1)
def subscription_invoicing() -> SubscriptionInvoicing:
    usage = DynamoUsageStore(clients.on_first_use(clients.dynamodb), get_settings().billing_table_name)
    return SubscriptionInvoicing(
        DynamoSubscriptionStore(table()),
        DynamoInvoiceStore(table()),
        seller(),
        CatalogueService(DynamoPlanStore(table())),
        usage,
        DynamoAccountStore(table()),
    )


@lru_cache(maxsize=1)
def notices() -> InvoiceNotices:
    """PDFs in the documents bucket and emails through SES, each client made on first use."""
    settings = get_settings()

    def ledger() -> EmailLedger:
        from tally.notifications.ledger import EmailLedger
        from tally.notifications.mailer import SesMailer

        mailer = SesMailer(clients.sesv2(), settings.sender_email)
        return EmailLedger(clients.dynamodb(), settings.billing_table_name, mailer)

    documents = DocumentStore(clients.on_first_use(clients.s3), settings.documents_bucket_name)
    return InvoiceNotices(documents, ledger, settings.app_url)


def reset() -> None:
    """Forget every service and the policy (tests switch stacks between cases)."""
    for cached in (table, seller, invoices, subscription_invoicing, notices):
        cached.cache_clear()
    access_policy.cache_clear()
