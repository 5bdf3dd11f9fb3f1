"""What a customer sees in the sandbox: the hosted checkout and portal pages, hosted invoices, PDFs.

Plain HTML, enough to click through in a browser; the control endpoints do the same from curl.
"""

from __future__ import annotations

import io
from datetime import UTC, datetime
from html import escape
from typing import Any

from local.stripe.money import display

_STYLE = "body{font-family:system-ui,sans-serif;max-width:40rem;margin:2rem auto}td,th{padding:.2rem .6rem}"


def _page(title: str, body: str) -> bytes:
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{escape(title)}</title>"
        f"<style>{_STYLE}</style></head><body><h1>{escape(title)}</h1>{body}</body></html>"
    ).encode()


def _date(stamp: Any) -> str:
    return datetime.fromtimestamp(int(stamp), UTC).strftime("%Y-%m-%d") if stamp else "—"


def checkout_page(
    session: dict[str, Any], items: list[tuple[dict[str, Any], int]], message: str = ""
) -> bytes:
    rows = "".join(
        f"<tr><td>{qty} x {escape(str(price.get('nickname') or price['id']))}</td>"
        f"<td>{escape(display(price['unit_amount'] * qty, price['currency']))}</td></tr>"
        for price, qty in items
    )
    total = display(int(session["amount_total"] or 0), str(session["currency"]))
    form = (
        f"<form method='post'><label>Card <input name='card' value='4242424242424242' size='20'></label> "
        f"<label>Email <input name='email' value='{escape(str(session['customer_email'] or ''))}'></label> "
        f"<button>Pay {escape(total)}</button></form>"
        if session["status"] == "open"
        else f"<p>This session is {escape(str(session['status']))}.</p>"
    )
    note = f"<p style='color:#b00'>{escape(message)}</p>" if message else ""
    return _page(
        "Local Stripe Checkout",
        f"<p>{escape(session['mode'])} · {escape(session['id'])}</p><table>{rows}</table>"
        f"<p>Due today: <b>{escape(total)}</b></p>{note}{form}"
        "<p><small>Test cards: 4242424242424242 succeeds, 4000000000000341 succeeds now and fails every "
        "later charge, 4000000000000002 is declined.</small></p>",
    )


def portal_page(portal: dict[str, Any], subscriptions: list[dict[str, Any]]) -> bytes:
    rows = "".join(
        f"<tr><td>{escape(sub['id'])}</td><td>{escape(sub['status'])}</td>"
        f"<td>{'cancels at period end' if sub['cancel_at_period_end'] else ''}</td></tr>"
        for sub in subscriptions
    )
    back = f"<p><a href='{escape(portal['return_url'])}'>Return</a></p>" if portal["return_url"] else ""
    return _page(
        "Local Stripe customer portal", f"<p>{escape(portal['customer'])}</p><table>{rows}</table>{back}"
    )


def invoice_page(invoice: dict[str, Any]) -> bytes:
    currency = str(invoice["currency"])
    rows = "".join(
        f"<tr><td>{escape(str(line['description']))}</td>"
        f"<td>{escape(display(line['amount'], currency))}</td></tr>"
        for line in invoice["lines"]["data"]
    )
    discount = sum(entry["amount"] for entry in invoice["total_discount_amounts"])
    return _page(
        f"Invoice {invoice['number'] or invoice['id']}",
        f"<p>Status: <b>{escape(invoice['status'])}</b> · period {_date(invoice['period_start'])} - "
        f"{_date(invoice['period_end'])}</p><table>{rows}"
        f"<tr><td>Discount</td><td>-{escape(display(discount, currency))}</td></tr>"
        f"<tr><th>Total</th><th>{escape(display(invoice['total'], currency))}</th></tr></table>"
        f"<p><a href='{escape(str(invoice['invoice_pdf']))}'>Download PDF</a></p>",
    )


def invoice_pdf(invoice: dict[str, Any]) -> bytes:
    from reportlab.lib.pagesizes import A4  # imported here: reportlab is slow to import
    from reportlab.pdfgen import canvas

    buffer = io.BytesIO()
    pdf = canvas.Canvas(buffer, pagesize=A4)
    currency = str(invoice["currency"])
    y = 800.0
    pdf.setFont("Helvetica-Bold", 16)
    pdf.drawString(50, y, f"Invoice {invoice['number'] or invoice['id']}")
    pdf.setFont("Helvetica", 10)
    for text in (
        f"Status: {invoice['status']}",
        f"Customer: {invoice['customer_email'] or invoice['customer']}",
        f"Period: {_date(invoice['period_start'])} - {_date(invoice['period_end'])}",
        "",
        *(f"{line['description']}: {display(line['amount'], currency)}" for line in invoice["lines"]["data"]),
        "",
        f"Subtotal: {display(invoice['subtotal'], currency)}",
        f"Discount: -{display(sum(e['amount'] for e in invoice['total_discount_amounts']), currency)}",
        f"Total: {display(invoice['total'], currency)}",
        f"Amount paid: {display(invoice['amount_paid'], currency)}",
    ):
        y -= 16
        pdf.drawString(50, y, text)
    pdf.showPage()
    pdf.save()
    return buffer.getvalue()


def receipt_page(charge: dict[str, Any]) -> bytes:
    return _page(
        "Receipt",
        f"<p>{escape(display(charge['amount'], charge['currency']))} · {escape(charge['status'])}"
        f" · refunded {escape(display(charge['amount_refunded'], charge['currency']))}</p>",
    )
