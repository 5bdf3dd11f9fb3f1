"""An `InvoiceDocument` drawn to PDF bytes with reportlab's canvas.

The canvas API, not platypus: a one-page invoice renders in a few milliseconds (benchmarks/
pdf_render.py), and the layout is simple enough to place by hand. It is laid out first as a
flow of blocks of known heights, paginated, then drawn, so each page knows the page count
("Page 1 / 2") and the lines' table header is repeated at the top of each page it runs onto.

Deterministic: reportlab's `invariant` fixes the creation date and the document id, so the same
document gives the same bytes (its S3 key is deterministic; tests compare bytes). Only the
standard Helvetica fonts are used: nothing to register or embed, and their WinAnsi encoding holds
every character the French labels and formatted amounts use (tally.billing.formatting, "Spaces").
reportlab is imported on the first render, never when this module is imported.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from tally.billing.formatting import (
    format_amount,
    format_date,
    format_decimal,
    format_percent,
    format_unit_price,
)
from tally.documents.labels import labels
from tally.documents.model import DocumentLine, InvoiceDocument, Party

if TYPE_CHECKING:
    Canvas = Any

PAGE_WIDTH, PAGE_HEIGHT = 595.2756, 841.8898  # A4 in points
MARGIN = 42.0
LEFT, RIGHT = MARGIN, PAGE_WIDTH - MARGIN
CONTENT_WIDTH = RIGHT - LEFT
FOOTER_TOP = MARGIN + 26  # nothing of the flow goes below this line
REGULAR, BOLD = "Helvetica", "Helvetica-Bold"

INK = (0.09, 0.09, 0.11)
MUTED = (0.42, 0.42, 0.46)
RULE = (0.85, 0.85, 0.87)
SHADE = (0.95, 0.95, 0.96)
ACCENT = (0.11, 0.27, 0.53)

# The lines' table: description, then the numbers right-aligned at these x positions.
DESCRIPTION_WIDTH = 244.0
QUANTITY_RIGHT = LEFT + 290
UNIT_RIGHT = LEFT + 375
TAX_RIGHT = LEFT + 420
ROW_FONT, ROW_LEADING, ROW_PADDING = 8.5, 11.0, 5.0
TABLE_HEADER_HEIGHT = 20.0

Measure = Callable[[str, str, float], float]


@dataclass
class _Block:
    height: float
    draw: Callable[[Canvas, float], None]  # draws with its top at y
    row: bool = False  # a row of the lines' table: a page that starts with it repeats the header


def render_pdf(document: InvoiceDocument) -> bytes:
    """The document as PDF bytes: the same document, the same bytes."""
    from reportlab.pdfbase.pdfmetrics import stringWidth
    from reportlab.pdfgen.canvas import Canvas

    return _Layout(document, stringWidth).render(Canvas)


def wrap(text: str, font: str, size: float, width: float, measure: Measure) -> list[str]:
    """Greedy word wrap; a word wider than the line is cut where it must be."""
    lines: list[str] = []
    for paragraph in text.splitlines() or [""]:
        current = ""
        for word in paragraph.split(" "):
            candidate = f"{current} {word}" if current else word
            if measure(candidate, font, size) <= width:
                current = candidate
                continue
            if current:
                lines.append(current)
            while measure(word, font, size) > width and len(word) > 1:
                cut = len(word) - 1
                while cut > 1 and measure(word[:cut], font, size) > width:
                    cut -= 1
                lines.append(word[:cut])
                word = word[cut:]
            current = word
        lines.append(current)
    return lines


class _Layout:
    def __init__(self, document: InvoiceDocument, measure: Measure) -> None:
        self.doc = document
        self.measure = measure
        self.locale = "fr" if document.locale.startswith("fr") else "en"
        self.words = labels(self.locale)
        self.title = self.words[document.kind]

    # -- formatting ------------------------------------------------------------------------

    def money(self, amount: int) -> str:
        return format_amount(amount, self.doc.currency, self.locale)

    def date(self, value: Any) -> str:
        return format_date(value, self.locale)

    # -- the whole document ----------------------------------------------------------------

    def render(self, canvas_class: Any) -> bytes:
        first_header = self.first_page_header()
        pages = self.paginate(first_header[0], self.flow())
        buffer = io.BytesIO()
        canvas = canvas_class(buffer, pagesize=(PAGE_WIDTH, PAGE_HEIGHT), invariant=1, pageCompression=1)
        canvas.setTitle(f"{self.title.capitalize()} {self.doc.number}")
        canvas.setAuthor(self.doc.seller.name)
        canvas.setCreator("Tally")
        canvas.setSubject(self.doc.number)
        for index, placed in enumerate(pages):
            if index == 0:
                first_header[1](canvas, PAGE_HEIGHT - MARGIN)
            else:
                self.continuation_header(canvas)
            for top, block in placed:
                block.draw(canvas, top)
            self.footer(canvas, index + 1, len(pages))
            canvas.showPage()
        canvas.save()
        return buffer.getvalue()

    def paginate(self, first_header_height: float, flow: list[_Block]) -> list[list[tuple[float, _Block]]]:
        """Each page's blocks with their tops; the table header is a block too, repeated."""
        pages: list[list[tuple[float, _Block]]] = [[]]
        y = PAGE_HEIGHT - MARGIN - first_header_height
        header = self.table_header()
        for block in flow:
            if y - block.height < FOOTER_TOP:
                pages.append([])
                y = PAGE_HEIGHT - MARGIN - CONTINUATION_HEIGHT
                if block.row:
                    pages[-1].append((y, header))
                    y -= header.height
            pages[-1].append((y, block))
            y -= block.height
        return pages

    def flow(self) -> list[_Block]:
        blocks = [self.table_header()]
        blocks.extend(self.row(line) for line in self.doc.lines)
        blocks.append(_Block(14, lambda canvas, y: None))
        blocks.append(self.totals_and_payment())
        if self.doc.memo:
            blocks.append(self.paragraphs(self.words["memo"], (self.doc.memo,), 8.5, INK))
        if self.doc.legal_mentions:
            blocks.append(self.paragraphs(None, self.doc.legal_mentions, 7.0, MUTED))
        return blocks

    # -- page furniture --------------------------------------------------------------------

    def first_page_header(self) -> tuple[float, Callable[[Canvas, float], None]]:
        doc, words = self.doc, self.words
        seller = self.party_lines(doc.seller, width=CONTENT_WIDTH * 0.55)
        meta = [(words["number"], doc.number), (words["issue_date"], self.date(doc.issue_date))]
        if doc.due_date is not None:
            meta.append((words["due_date"], self.date(doc.due_date)))
        if doc.related_number:
            meta.append((words["related"], doc.related_number))
        customer = self.party_lines(doc.customer, width=CONTENT_WIDTH * 0.5)
        reason = wrap(doc.reason, REGULAR, 8.5, CONTENT_WIDTH, self.measure) if doc.reason else []
        top_height = max(18 + 11 * (len(seller) - 1), 30 + 13 * len(meta))
        bill_height = 14 + 11 * len(customer)
        height = top_height + 22 + max(bill_height, 52) + 10 + (11 * len(reason) + 14 if reason else 0) + 6

        def draw(canvas: Canvas, top: float) -> None:
            # Seller, top left: name then address and legal ids.
            canvas.setFillColorRGB(*INK)
            canvas.setFont(BOLD, 13)
            canvas.drawString(LEFT, top - 12, seller[0])
            canvas.setFont(REGULAR, 8.5)
            canvas.setFillColorRGB(*MUTED)
            for index, text in enumerate(seller[1:]):
                canvas.drawString(LEFT, top - 26 - 11 * index, text)
            # Title and the document's number and dates, top right.
            canvas.setFillColorRGB(*ACCENT)
            canvas.setFont(BOLD, 20)
            canvas.drawRightString(RIGHT, top - 16, self.title)
            for index, (label, value) in enumerate(meta):
                y = top - 36 - 13 * index
                canvas.setFont(REGULAR, 8.5)
                canvas.setFillColorRGB(*MUTED)
                canvas.drawRightString(RIGHT - 100, y, label)
                canvas.setFont(BOLD, 8.5)
                canvas.setFillColorRGB(*INK)
                canvas.drawRightString(RIGHT, y, value)
            # Bill to, left; what is due, right, in a shaded panel.
            y = top - top_height - 22
            canvas.setFont(BOLD, 7.5)
            canvas.setFillColorRGB(*MUTED)
            canvas.drawString(LEFT, y, words["bill_to"].upper())
            canvas.setFillColorRGB(*INK)
            canvas.setFont(BOLD, 10)
            canvas.drawString(LEFT, y - 14, customer[0])
            canvas.setFont(REGULAR, 8.5)
            for index, text in enumerate(customer[1:]):
                canvas.drawString(LEFT, y - 26 - 11 * index, text)
            panel_left = LEFT + CONTENT_WIDTH * 0.58
            canvas.setFillColorRGB(*SHADE)
            canvas.rect(panel_left, y - 46, RIGHT - panel_left, 56, stroke=0, fill=1)
            label = words["credited_total" if doc.kind == "credit_note" else "due"]
            canvas.setFillColorRGB(*MUTED)
            canvas.setFont(BOLD, 7.5)
            canvas.drawString(panel_left + 10, y - 4, label.upper())
            canvas.setFillColorRGB(*INK)
            canvas.setFont(BOLD, 17)
            canvas.drawString(panel_left + 10, y - 24, self.money(doc.amount_due))
            if doc.due_date is not None:
                canvas.setFont(REGULAR, 8.5)
                canvas.setFillColorRGB(*MUTED)
                canvas.drawString(
                    panel_left + 10,
                    y - 38,
                    f"{words['due_date']} : {self.date(doc.due_date)}"
                    if self.locale == "fr"
                    else f"{words['due_date']}: {self.date(doc.due_date)}",
                )
            if reason:
                y -= max(bill_height, 52) + 10
                canvas.setFillColorRGB(*INK)
                canvas.setFont(BOLD, 8.5)
                canvas.drawString(LEFT, y, words["reason"])
                canvas.setFont(REGULAR, 8.5)
                for index, text in enumerate(reason):
                    canvas.drawString(LEFT + 50, y - 11 * index, text)

        return height, draw

    def continuation_header(self, canvas: Canvas) -> None:
        top = PAGE_HEIGHT - MARGIN
        canvas.setFillColorRGB(*INK)
        canvas.setFont(BOLD, 10)
        canvas.drawString(LEFT, top - 10, self.doc.seller.name)
        canvas.setFont(REGULAR, 8.5)
        canvas.setFillColorRGB(*MUTED)
        text = self.words["continued"].format(title=self.title.capitalize(), number=self.doc.number)
        canvas.drawRightString(RIGHT, top - 10, text)
        canvas.setStrokeColorRGB(*RULE)
        canvas.line(LEFT, top - 18, RIGHT, top - 18)

    def footer(self, canvas: Canvas, page: int, pages: int) -> None:
        seller, words = self.doc.seller, self.words
        canvas.setStrokeColorRGB(*RULE)
        canvas.line(LEFT, MARGIN + 14, RIGHT, MARGIN + 14)
        parts = [seller.name]
        if seller.siret:
            parts.append(f"{words['siret']} {seller.siret}")
        elif seller.siren:
            parts.append(f"{words['siren']} {seller.siren}")
        if seller.vat_number:
            parts.append(f"{words['vat']} {seller.vat_number}")
        canvas.setFont(REGULAR, 7)
        canvas.setFillColorRGB(*MUTED)
        canvas.drawString(LEFT, MARGIN + 4, " · ".join(parts))
        if pages > 1:
            canvas.drawRightString(RIGHT, MARGIN + 4, words["page"].format(page=page, pages=pages))

    # -- the lines' table ------------------------------------------------------------------

    def table_header(self) -> _Block:
        words = self.words
        incl = "_incl" if self.doc.prices_include_tax else ""

        def draw(canvas: Canvas, top: float) -> None:
            canvas.setFillColorRGB(*SHADE)
            canvas.rect(LEFT, top - TABLE_HEADER_HEIGHT, CONTENT_WIDTH, TABLE_HEADER_HEIGHT, stroke=0, fill=1)
            canvas.setFillColorRGB(*MUTED)
            canvas.setFont(BOLD, 7.5)
            y = top - 13
            canvas.drawString(LEFT + 6, y, words["description"].upper())
            canvas.drawRightString(QUANTITY_RIGHT, y, words["quantity"].upper())
            canvas.drawRightString(UNIT_RIGHT, y, words[f"unit_price{incl}"].upper())
            canvas.drawRightString(TAX_RIGHT, y, words["tax_rate"].upper())
            canvas.drawRightString(RIGHT - 6, y, words[f"amount{incl}"].upper())

        return _Block(TABLE_HEADER_HEIGHT, draw)

    def row(self, line: DocumentLine) -> _Block:
        text = wrap(line.description, REGULAR, ROW_FONT, DESCRIPTION_WIDTH, self.measure)
        period = None
        if line.period_start is not None and line.period_end is not None:
            period = self.words["period"].format(
                start=self.date(line.period_start), end=self.date(line.period_end)
            )
        count = len(text) + (1 if period else 0)
        height = count * ROW_LEADING + 2 * ROW_PADDING
        currency = self.doc.currency
        unit = ""
        if line.unit_price is not None:
            unit = format_unit_price(line.unit_price, currency, self.locale)
        elif line.unit_amount is not None:
            unit = self.money(line.unit_amount)
        quantity = format_decimal(line.quantity, self.locale)
        tax = format_percent(line.tax_rate, self.locale) if line.tax_rate is not None else ""
        amount = self.money(line.amount)

        def draw(canvas: Canvas, top: float) -> None:
            y = top - ROW_PADDING - 8
            canvas.setFillColorRGB(*INK)
            canvas.setFont(REGULAR, ROW_FONT)
            for index, part in enumerate(text):
                canvas.drawString(LEFT + 6, y - index * ROW_LEADING, part)
            canvas.drawRightString(QUANTITY_RIGHT, y, quantity)
            canvas.drawRightString(UNIT_RIGHT, y, unit)
            canvas.drawRightString(TAX_RIGHT, y, tax)
            canvas.drawRightString(RIGHT - 6, y, amount)
            if period:
                canvas.setFillColorRGB(*MUTED)
                canvas.setFont(REGULAR, 7.5)
                canvas.drawString(LEFT + 6, y - len(text) * ROW_LEADING, period)
            canvas.setStrokeColorRGB(*RULE)
            canvas.setLineWidth(0.5)
            canvas.line(LEFT, top - height, RIGHT, top - height)

        return _Block(height, draw, row=True)

    # -- totals, payment, paragraphs -------------------------------------------------------

    def totals(self) -> list[tuple[str, str, bool]]:
        doc, words = self.doc, self.words
        subtotal = words["subtotal_incl" if doc.prices_include_tax else "subtotal"]
        rows = [(subtotal, self.money(doc.subtotal), False)]
        rows.extend((discount.description, self.money(-discount.amount), False) for discount in doc.discounts)
        if doc.total_excluding_tax is not None and doc.total_excluding_tax != doc.subtotal:
            rows.append((words["total_excl"], self.money(doc.total_excluding_tax), False))
        for tax in doc.taxes:
            label = f"{tax.label or words['tax']} {format_percent(tax.rate, self.locale)}"
            rows.append((label, self.money(tax.amount), False))
        rows.append((words["total"], self.money(doc.total), True))
        if doc.amount_paid:
            rows.append((words["paid"], self.money(-doc.amount_paid), False))
        if doc.amount_credited:
            rows.append((words["credited"], self.money(-doc.amount_credited), False))
        return rows

    def payment_lines(self) -> list[tuple[str, str]]:
        payment, words = self.doc.payment, self.words
        if payment is None:
            return []
        rows = [(words["reference"], payment.reference)]
        optional = [
            (words["holder"], payment.account_holder),
            (words["bank"], payment.bank_name),
            (words["iban"], payment.iban),
            (words["bic"], payment.bic),
            (words["account"], payment.local_account),
        ]
        rows.extend((label, value) for label, value in optional if value)
        rows.extend((money.provider, money.number) for money in payment.mobile_money)
        if payment.note:
            rows.append(("", payment.note))
        return rows

    def totals_and_payment(self) -> _Block:
        totals = self.totals()
        due_label = self.words["credited_total" if self.doc.kind == "credit_note" else "due"]
        payment = self.payment_lines()
        totals_height = 15 * len(totals) + 31
        payment_height = (20 + 12 * len(payment)) if payment else 0
        height = max(totals_height, payment_height) + 8
        totals_left = LEFT + CONTENT_WIDTH * 0.55

        def draw(canvas: Canvas, top: float) -> None:
            y = top - 4
            for label, value, strong in totals:
                if strong:
                    y -= 3
                    canvas.setStrokeColorRGB(*INK)
                    canvas.setLineWidth(0.7)
                    canvas.line(totals_left, y + 3, RIGHT, y + 3)
                    y -= 5
                canvas.setFont(BOLD if strong else REGULAR, 8.5)
                canvas.setFillColorRGB(*INK)
                canvas.drawString(totals_left, y - 8, label)
                canvas.drawRightString(RIGHT - 6, y - 8, value)
                y -= 15
            canvas.setFillColorRGB(*ACCENT)
            canvas.rect(totals_left - 6, y - 16, RIGHT - totals_left + 6, 20, stroke=0, fill=1)
            canvas.setFillColorRGB(1, 1, 1)
            canvas.setFont(BOLD, 9.5)
            canvas.drawString(totals_left, y - 9, due_label)
            canvas.drawRightString(RIGHT - 6, y - 9, self.money(self.doc.amount_due))
            if payment:
                canvas.setFillColorRGB(*INK)
                canvas.setFont(BOLD, 9)
                canvas.drawString(LEFT, top - 12, self.words["payment"])
                for index, (label, value) in enumerate(payment):
                    row_y = top - 28 - 12 * index
                    canvas.setFont(REGULAR, 8)
                    canvas.setFillColorRGB(*MUTED)
                    canvas.drawString(LEFT, row_y, label)
                    canvas.setFillColorRGB(*INK)
                    canvas.setFont(BOLD if index == 0 else REGULAR, 8)
                    canvas.drawString(LEFT + 92, row_y, value)

        return _Block(height, draw)

    def paragraphs(self, heading: str | None, texts: tuple[str, ...], size: float, color: Any) -> _Block:
        leading = size * 1.3
        gap = leading * 0.5  # between paragraphs, so that two mentions do not read as one
        lines: list[tuple[float, str]] = []  # (offset from the first line, text)
        offset = 0.0
        for number, text in enumerate(texts):
            offset += gap if number else 0
            for line in wrap(text, REGULAR, size, CONTENT_WIDTH, self.measure):
                lines.append((offset, line))
                offset += leading
        height = offset + (14 if heading else 0) + 8

        def draw(canvas: Canvas, top: float) -> None:
            y = top - size - 2
            if heading:
                canvas.setFont(BOLD, 8.5)
                canvas.setFillColorRGB(*INK)
                canvas.drawString(LEFT, y, heading)
                y -= 14
            canvas.setFont(REGULAR, size)
            canvas.setFillColorRGB(*color)
            for line_offset, text in lines:
                canvas.drawString(LEFT, y - line_offset, text)

        return _Block(height, draw)

    # -- parties ---------------------------------------------------------------------------

    def party_lines(self, party: Party, width: float) -> list[str]:
        """Name first, then address, contact and legal ids, each wrapped to `width`."""
        words = self.words
        details = list(party.address_lines)
        details.extend(value for value in (party.email, party.phone) if value)
        ids = []
        if party.siren:
            ids.append(f"{words['siren']} {party.siren}")
        if party.siret:
            ids.append(f"{words['siret']} {party.siret}")
        if ids:
            details.append(" · ".join(ids))
        if party.vat_number:
            details.append(f"{words['vat']} {party.vat_number}")
        details.extend(f"{label} {value}" for label, value in party.other_ids)
        lines = [party.name]
        for detail in details:
            lines.extend(wrap(detail, REGULAR, 8.5, width, self.measure))
        return lines


CONTINUATION_HEIGHT = 28.0
