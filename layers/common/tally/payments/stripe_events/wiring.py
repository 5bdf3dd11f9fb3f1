"""The applier with its real adapters, from the environment (the webhook worker calls this once
per process): the billing table (BILLING_TABLE_NAME), Stripe (tally.payments.stripe_client:
STRIPE_SECRET_KEY_ARN, STRIPE_API_BASE), SES (SENDER_EMAIL) through the email ledger, the
placement seats, Powertools Metrics (POWERTOOLS_METRICS_NAMESPACE), APP_URL and
SELLER_TIME_ZONE. Each AWS client is made on first use."""

from __future__ import annotations

from typing import TYPE_CHECKING

from tally.payments.stripe_events.applier import StripeEventApplier

if TYPE_CHECKING:
    from tally.notifications.ledger import EmailLedger


def applier_from_environment() -> StripeEventApplier:
    from tally.accounts.dynamo.accounts import DynamoAccountStore
    from tally.accounts.dynamo.table import BillingTable
    from tally.audit.records import Actor, AuditContext
    from tally.invoices.dynamo import DynamoInvoiceStore, DynamoSellerStore
    from tally.invoices.service import AccountCustomers, InvoiceService, SellerSettingsService
    from tally.payments.stripe_client import stripe_client
    from tally.payments.stripe_events.dynamo import DynamoMirrorStore
    from tally.payments.stripe_events.notify import LedgerNotifier, PowertoolsAlerts
    from tally.payments.stripe_events.reader import SdkStripeReader
    from tally.placements.seats import DynamoPlacementSeats
    from tally.plans.dynamo import DynamoPlanStore
    from tally.settings import get_settings
    from tally.storage import clients

    settings = get_settings()
    dynamodb = clients.on_first_use(clients.dynamodb)
    table = BillingTable(dynamodb, settings.billing_table_name)
    invoices = InvoiceService(
        DynamoInvoiceStore(table),
        SellerSettingsService(DynamoSellerStore(table)),
        AccountCustomers(DynamoAccountStore(table)),
    )
    plans = DynamoPlanStore(table)

    def plan_name(code: str) -> str:
        stored = plans.get(code)
        return stored.plan.name if stored is not None else code

    def ledger() -> EmailLedger:
        from tally.notifications.ledger import EmailLedger
        from tally.notifications.mailer import SesMailer

        return EmailLedger(
            clients.dynamodb(), settings.billing_table_name, SesMailer(clients.sesv2(), settings.sender_email)
        )

    return StripeEventApplier(
        SdkStripeReader(stripe_client),
        DynamoMirrorStore(table),
        invoices,
        # Seats confirmed and released are recorded as Stripe's doing.
        DynamoPlacementSeats(
            dynamodb,
            settings.billing_table_name,
            context=AuditContext(Actor.provider("stripe"), "", None, "A Stripe event"),
        ),
        LedgerNotifier(ledger),
        PowertoolsAlerts(),
        app_url=settings.app_url or "https://app.invalid",
        time_zone=settings.seller_time_zone,
        plan_names=plan_name,
    )
