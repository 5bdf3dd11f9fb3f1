"""Invoice and credit-note PDFs: a presigned link valid 5 minutes (or a 302 to it), and rendering
again on demand (platform admins)."""

from __future__ import annotations

from typing import Annotated, Literal

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Path, Query

from invoices.invoices import readable
from invoices.wiring import InvoiceId, admin, invoices, notices
from tally.billing.invoices import Invoice
from tally.documents.store import LINK_SECONDS, document_key
from tally.errors import Conflict, NotFound
from tally.http.patterns import IDENTIFIER
from tally.http.responses import PRIVATE, responses
from tally.http.security import BEARER, BEARER_OR_KEY, KEY_ROUTE
from tally.invoices.models import PdfOut

router = Router()

TAGS = ["Invoices"]
ONE = "/v1/invoices/<invoice_id>"
CreditNoteId = Annotated[
    str, Path(min_length=1, max_length=64, pattern=IDENTIFIER, description="The credit note")
]
# Not a bool: pydantic would take "yes", "on" or "0" as one, which the document cannot say.
Redirect = Annotated[
    Literal["1", "true", "0", "false"] | None,
    Query(description="`1` (or `true`): answer 302 to the link instead of the link in JSON"),
]
YES = ("1", "true")
LINKED = {
    302: {
        "description": "With `redirect`: to the presigned link",
        "headers": {"Location": {"schema": {"type": "string"}}},
    },
}
NO_PDF = {
    404: "No such invoice or credit note",
    409: "A draft has no PDF: finalise it first (or Stripe has not published it yet)",
}


def _numbered(invoice: Invoice) -> str:
    if invoice.number is None:
        raise Conflict("A draft has no PDF: finalise it first", field="invoice_id")
    return invoice.number


def _answer(url: str, key: str | None, redirect: str | None) -> Response[PdfOut]:
    """The link in JSON; with `redirect`, a 302 to it (carrying the same JSON)."""
    body = PdfOut(url=url, expires_in=LINK_SECONDS if key is not None else None, key=key)
    headers = {"Location": url, "Cache-Control": "no-store"} if redirect else {}
    return Response(
        status_code=302 if redirect else 200, content_type="application/json", body=body, headers=headers
    )


@router.get(
    f"{ONE}/pdf",
    summary="Open an invoice's PDF",
    description="A presigned link to the PDF, valid 5 minutes (`?redirect=1`: a 302 to it, for a browser). "
    "Rendered first when it is missing. Platform admins; the account's owners and admins, or an API "
    "key with `billing:read`.",
    tags=TAGS,
    security=BEARER_OR_KEY,
    responses={
        **responses(200, "The link", (*PRIVATE, 404, 409, 422), {**NO_PDF, **KEY_ROUTE}),
        **LINKED,  # type: ignore[dict-item]
    },
)
def invoice_pdf(invoice_id: InvoiceId, redirect: Redirect = None) -> Response[PdfOut]:
    invoice = readable(invoice_id)
    if invoice.source == "stripe":
        # Stripe renders and hosts a mirrored invoice's PDF; Tally holds no seller copy to render it.
        if invoice.invoice_pdf is None:
            raise Conflict("Stripe has not published this invoice's PDF yet", field="invoice_id")
        return _answer(invoice.invoice_pdf, None, redirect)
    number = _numbered(invoice)
    return _answer(
        notices().invoice_link(invoice), document_key("invoice", invoice.account_id, number), redirect
    )


@router.post(
    f"{ONE}/pdf",
    summary="Render an invoice's PDF again (platform admin)",
    description="Same key, new version (the bucket keeps the earlier ones for 90 days); answers the link.",
    tags=TAGS,
    security=BEARER,
    responses=responses(200, "The link to the new version", (*PRIVATE, 404, 409, 422), NO_PDF),
)
def render_invoice_pdf(invoice_id: InvoiceId) -> PdfOut:
    admin()
    invoice = invoices().get(invoice_id)
    if invoice.source == "stripe":
        raise Conflict("Stripe renders an invoice mirrored from it: open its PDF instead", field="invoice_id")
    number = _numbered(invoice)
    stored = notices().document(invoice)
    return PdfOut(
        url=notices().link("invoice", invoice.account_id, number), expires_in=LINK_SECONDS, key=stored.key
    )


@router.get(
    f"{ONE}/credit-notes/<credit_note_id>/pdf",
    summary="Open a credit note's PDF",
    description="As for an invoice's PDF.",
    tags=TAGS,
    security=BEARER_OR_KEY,
    responses={
        **responses(200, "The link", (*PRIVATE, 404, 422), {**NO_PDF, **KEY_ROUTE}),
        **LINKED,  # type: ignore[dict-item]
    },
)
def credit_note_pdf(
    invoice_id: InvoiceId, credit_note_id: CreditNoteId, redirect: Redirect = None
) -> Response[PdfOut]:
    invoice = readable(invoice_id)
    note = next((note for note in invoices().credit_notes(invoice) if note.id == credit_note_id), None)
    if note is None:
        raise NotFound(f"No credit note '{credit_note_id}' on invoice '{invoice_id}'", field="credit_note_id")
    url = notices().credit_note_link(note, invoice)
    return _answer(url, document_key("credit_note", invoice.account_id, note.number), redirect)
