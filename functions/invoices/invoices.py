"""Invoices: platform admins draft, finalise, void, mark uncollectible, record payments and issue
credit notes; an account's owners and admins (and its API keys with `billing:read`) read theirs."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Annotated

from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Query

from invoices.wiring import AccountId, InvoiceId, admin, audit, invoices, notices, policy, principal
from tally.billing.credit_notes import CreditNoteIn
from tally.billing.invoices import Invoice, InvoiceStatus, Payment
from tally.http.fields import ISO_INSTANT
from tally.http.patterns import IDENTIFIER
from tally.http.responses import BODY, PRIVATE, responses
from tally.http.security import BEARER, BEARER_OR_KEY, KEY_ROUTE
from tally.identity.policy import Permission
from tally.invoices.models import (
    CreditNoteOut,
    CreditNotesOut,
    InvoiceIn,
    InvoicePatch,
    InvoicesOut,
    PaymentIn,
    ReasonIn,
)
from tally.invoices.notices import NoticeFailed
from tally.invoices.ports import Listing
from tally.invoices.service import DraftChanges

router = Router()
logger = Logger()

TAGS = ["Invoices"]
BASE = "/v1/invoices"
ONE = f"{BASE}/<invoice_id>"
MAX_PAGE = 100
UNKNOWN = {404: "No such invoice"}
MOVE = {**UNKNOWN, 409: "Its status does not allow this (said in words), or it changed meanwhile"}
MONEY = (
    "Invalid input, or money that does not add up, in words: a payment above the amount due, a line in "
    "another currency, a credit note above what is left to credit"
)

Status = Annotated[InvoiceStatus | None, Query(description="Only invoices in this status")]
Cursor = Annotated[str | None, Query(min_length=1, max_length=2048, description="From `next_cursor`")]
Limit = Annotated[int, Query(ge=1, le=MAX_PAGE, description="Invoices per page")]
Start = Annotated[
    datetime | None,
    Query(alias="from", description="Created at or after (ISO-8601; UTC without offset)"),
    ISO_INSTANT,
]
End = Annotated[
    datetime | None,
    Query(alias="to", description="Created before (ISO-8601; UTC without offset)"),
    ISO_INSTANT,
]


def _utc(instant: datetime | None) -> datetime | None:
    return instant.replace(tzinfo=UTC) if instant is not None and instant.tzinfo is None else instant


def after_change(notice: str, send: Callable[[], object]) -> None:
    """The PDF and email of a change already committed: a failure is logged, never answered (the
    change stands); calling the route again retries them, and the email ledger never sends twice."""
    try:
        send()
    except NoticeFailed as failed:
        logger.warning(
            "A PDF or email did not go out; calling the route again retries it",
            extra={"notice": notice, "stages": list(failed.stages), "retryable": failed.retryable},
        )


def readable(invoice_id: str) -> Invoice:
    """The invoice, for a platform admin or for whoever may read its account's billing."""
    who = principal()
    invoice = invoices().get(invoice_id)
    policy().authorize(who, Permission.BILLING_READ, invoice.account_id)
    return invoice


# -- platform admins ---------------------------------------------------------------------------


@router.post(
    BASE,
    summary="Draft an invoice for an account (platform admin)",
    description="Lines in minor units (quantity a decimal), each with a tax rate code of the seller "
    "settings (the default rate when absent). No number until it is finalised. A `coupon` is checked "
    "for the account and redeemed with the draft.",
    tags=TAGS,
    security=BEARER,
    status_code=201,
    responses=responses(
        201,
        "The draft",
        (*PRIVATE, *BODY, 404, 409),
        {
            404: "No such account or coupon",
            409: "The coupon changed meanwhile",
            422: f"{MONEY}; or the coupon does not apply (`code` `coupon_<reason>`)",
        },
    ),
)
def create_invoice(body: InvoiceIn) -> Invoice:
    who = admin()
    return invoices().create_invoice(body, audit(who))


@router.get(
    BASE,
    summary="List every account's invoices (platform admin)",
    description="Newest first; `account_id`, `status` and `from`/`to` (creation time) narrow it.",
    tags=TAGS,
    security=BEARER,
    responses=responses(200, "A page of invoices", (*PRIVATE, 422)),
)
def list_invoices(
    status: Status = None,
    account_id: Annotated[
        str | None, Query(min_length=1, max_length=64, pattern=IDENTIFIER, description="One account's")
    ] = None,
    start: Start = None,
    end: End = None,
    cursor: Cursor = None,
    limit: Limit = 50,
) -> InvoicesOut:
    admin()
    listing = Listing(
        account_id=account_id, status=status, start=_utc(start), end=_utc(end), cursor=cursor, limit=limit
    )
    page = invoices().page(listing)
    return InvoicesOut(invoices=page.invoices, next_cursor=page.cursor)


@router.patch(
    ONE,
    summary="Change a draft (platform admin)",
    tags=TAGS,
    security=BEARER,
    responses=responses(200, "The draft", (*PRIVATE, *BODY, 404, 409), MOVE | {422: MONEY}),
)
def update_invoice(invoice_id: InvoiceId, body: InvoicePatch) -> Invoice:
    who = admin()
    changes = DraftChanges.model_validate(body.model_dump(exclude_unset=True))
    return invoices().update_draft(invoice_id, changes, audit(who))


@router.post(
    f"{ONE}/finalize",
    summary="Finalise a draft: number it, freeze it, set its due date (platform admin)",
    description="Takes the next number of the gapless sequence (`INV-{YYYY}{MM}-{NNNNN}` by default), "
    "freezes the seller's and the customer's details, sets the due date from the payment terms. "
    "Idempotent: finalising again answers the invoice with its number. An invoice of 0 is paid at once.",
    tags=TAGS,
    security=BEARER,
    responses=responses(200, "The open (or paid) invoice", (*PRIVATE, 404, 409, 422), MOVE),
)
def finalize_invoice(invoice_id: InvoiceId) -> Invoice:
    who = admin()
    invoice = invoices().finalize(invoice_id, audit(who))
    after_change("invoice-issued", lambda: notices().issued(invoice))
    return invoice


@router.post(
    f"{ONE}/void",
    summary="Void an open or uncollectible invoice (platform admin)",
    description="It keeps its number (the sequence stays gapless) and stays on record; nothing is owed.",
    tags=TAGS,
    security=BEARER,
    responses=responses(200, "The void invoice", (*PRIVATE, *BODY, 404, 409), MOVE),
)
def void_invoice(invoice_id: InvoiceId, body: ReasonIn) -> Invoice:
    who = admin()
    return invoices().void(invoice_id, body.reason, audit(who, body.reason))


@router.post(
    f"{ONE}/mark-uncollectible",
    summary="Mark an open invoice uncollectible (platform admin)",
    tags=TAGS,
    security=BEARER,
    responses=responses(200, "The uncollectible invoice", (*PRIVATE, *BODY, 404, 409), MOVE),
)
def mark_invoice_uncollectible(invoice_id: InvoiceId, body: ReasonIn) -> Invoice:
    who = admin()
    return invoices().mark_uncollectible(invoice_id, body.reason, audit(who, body.reason))


@router.post(
    f"{ONE}/payments",
    summary="Record money received: a bank transfer, cash... (platform admin)",
    description="Partial payments add up; the one that covers the amount due pays the invoice (and "
    "activates or restores its subscription). The same reference twice is refused.",
    tags=TAGS,
    security=BEARER,
    status_code=201,
    responses=responses(
        201, "The invoice after the payment", (*PRIVATE, *BODY, 404, 409), MOVE | {422: MONEY}
    ),
)
def record_invoice_payment(invoice_id: InvoiceId, body: PaymentIn) -> Invoice:
    who = admin()
    payment = Payment(
        amount=body.amount, method=body.method, reference=body.reference, received_at=body.received_at
    )
    invoice = invoices().record_payment(invoice_id, payment, audit(who))
    after_change("payment-received", lambda: notices().payment_received(invoice, len(invoice.payments) - 1))
    return invoice


@router.post(
    f"{ONE}/credit-notes",
    summary="Issue a credit note on an open or paid invoice (platform admin)",
    description="Numbered from its own gapless sequence (`CN-{YYYY}{MM}-{NNNNN}`). On an open invoice it "
    "lowers the amount due; on a paid one it records money owed back (`refund: true`) or kept as the "
    "customer's credit. Never more than the invoice's total minus earlier credit notes.",
    tags=TAGS,
    security=BEARER,
    status_code=201,
    responses=responses(
        201, "The credit note and the invoice after it", (*PRIVATE, *BODY, 404, 409), MOVE | {422: MONEY}
    ),
)
def issue_credit_note(invoice_id: InvoiceId, body: CreditNoteIn) -> CreditNoteOut:
    who = admin()
    note, invoice = invoices().issue_credit_note(invoice_id, body, audit(who, body.reason))
    after_change("credit-note-issued", lambda: notices().credit_note_issued(note, invoice))
    return CreditNoteOut(credit_note=note, invoice=invoice)


# -- readers -----------------------------------------------------------------------------------


@router.get(
    ONE,
    summary="Read an invoice",
    description="Platform admins; the account's owners and admins, or an API key with `billing:read`.",
    tags=TAGS,
    security=BEARER_OR_KEY,
    responses=responses(200, "The invoice", (*PRIVATE, 404, 422), {**UNKNOWN, **KEY_ROUTE}),
)
def get_invoice(invoice_id: InvoiceId) -> Invoice:
    return readable(invoice_id)


@router.get(
    f"{ONE}/credit-notes",
    summary="List an invoice's credit notes",
    description="Platform admins; the account's owners and admins, or an API key with `billing:read`.",
    tags=TAGS,
    security=BEARER_OR_KEY,
    responses=responses(
        200, "Its credit notes, oldest first", (*PRIVATE, 404, 422), {**UNKNOWN, **KEY_ROUTE}
    ),
)
def list_credit_notes(invoice_id: InvoiceId) -> CreditNotesOut:
    return CreditNotesOut(credit_notes=invoices().credit_notes(readable(invoice_id)))


@router.get(
    "/v1/accounts/<account_id>/invoices",
    summary="List an account's invoices",
    description="Newest first, drafts included. Owners and admins, or an API key with `billing:read`.",
    tags=TAGS,
    security=BEARER_OR_KEY,
    responses=responses(200, "A page of the account's invoices", (*PRIVATE, 404, 422), KEY_ROUTE),
)
def list_account_invoices(
    account_id: AccountId, status: Status = None, cursor: Cursor = None, limit: Limit = 50
) -> InvoicesOut:
    access = policy().authorize(principal(), Permission.BILLING_READ, account_id)
    page = invoices().page(Listing(account_id=access.account_id, status=status, cursor=cursor, limit=limit))
    return InvoicesOut(invoices=page.invoices, next_cursor=page.cursor)
