"""The seller's billing settings: who issues invoices, how they are numbered, taxed and paid."""

from __future__ import annotations

from aws_lambda_powertools.event_handler.api_gateway import Router

from invoices.wiring import admin, audit, seller
from tally.billing.seller import SellerSettings
from tally.http.responses import BODY, PRIVATE, responses
from tally.http.security import BEARER

router = Router()

TAGS = ["Invoices"]
PATH = "/v1/settings/billing"


@router.get(
    PATH,
    summary="Read the seller's billing settings (platform admin)",
    description="The saved settings, or the defaults shipped with Tally until an admin saves some.",
    tags=TAGS,
    security=BEARER,
    responses=responses(200, "The settings", PRIVATE),
)
def get_billing_settings() -> SellerSettings:
    admin()
    return seller().current()


@router.put(
    PATH,
    summary="Replace the seller's billing settings (platform admin)",
    description="Legal identity, address, bank and mobile-money details, payment terms, tax rates, "
    "numbering formats and resets, late-payment mentions. Invoices finalised before keep the "
    "settings they were issued with. Audited.",
    tags=TAGS,
    security=BEARER,
    responses=responses(
        200, "The settings as saved", (*PRIVATE, *BODY, 409), {409: "They changed meanwhile: read them again"}
    ),
)
def put_billing_settings(body: SellerSettings) -> SellerSettings:
    who = admin()
    return seller().replace(body.model_dump(mode="json"), audit(who))
