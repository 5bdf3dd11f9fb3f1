"""A subscription's invoice for its period, asked for by a platform admin (the recurring
invoicing job calls the same service at each period's start)."""

from __future__ import annotations

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router

from invoices.wiring import AccountId, admin, audit, subscription_invoicing
from tally.http.responses import PRIVATE, responses
from tally.http.security import BEARER
from tally.invoices.models import SubscriptionInvoiceOut

router = Router()


@router.post(
    "/v1/accounts/<account_id>/subscription/invoice",
    summary="Build the subscription's invoice for its period (platform admin)",
    description="A draft: the plan's price for the period (in advance), the proration of plan changes "
    "since the last invoice, the usage charges of the period that just closed (in arrears), the "
    "coupon's discount where it covers the period; taxed at the customer's country's rate. When "
    "the period has ended, the subscription rolls over to the current one in the same transaction. "
    "Exactly one invoice per period: asking again answers the first (200, `created: false`).",
    tags=["Invoices"],
    security=BEARER,
    status_code=201,
    responses={
        **responses(
            201,
            "The period's new draft",
            (*PRIVATE, 404, 409, 422),
            {
                404: "No such account",
                409: "No subscription, or nothing to invoice (`code` `nothing_to_invoice`: ended, "
                "trialing, paused...), said in words; or it changed meanwhile",
            },
        ),
        200: {"description": "The period's invoice, made earlier"},
    },
)
def invoice_subscription(account_id: AccountId) -> Response[SubscriptionInvoiceOut]:
    who = admin()
    invoice, created = subscription_invoicing().invoice(account_id, audit(who))
    answer = SubscriptionInvoiceOut(invoice=invoice, created=created)
    return Response(status_code=201 if created else 200, content_type="application/json", body=answer)
