"""Invoice and credit-note PDFs, read back as text: numbers, amounts as the locale writes them,
labels, page numbers, and the same bytes for the same document."""

from __future__ import annotations

import io
import subprocess
import sys
from dataclasses import replace
from decimal import Decimal
from pathlib import Path

import pypdf
import pypdfium2
import pytest

from tally.billing.formatting import NBSP
from tally.documents.model import bank_reference, late_payment_mentions
from tally.documents.pdf import render_pdf, wrap
from tests.support.documents import credit_note_en, eur_invoice_en, long_invoice, xof_invoice_fr

LAYER = Path(__file__).resolve().parents[2] / "layers" / "common"


def pages_text(pdf: bytes) -> list[str]:
    # NBSP reads back as itself; compare with plain spaces.
    return [page.extract_text().replace(NBSP, " ") for page in pypdf.PdfReader(io.BytesIO(pdf)).pages]


def test_a_french_xof_invoice_reads_back_with_french_labels_and_amounts_without_decimals() -> None:
    [text] = pages_text(render_pdf(xof_invoice_fr()))

    for expected in (
        "FACTURE",
        "INV-202611-00042",
        "Date d'émission",
        "22/11/2026",
        "Échéance",
        "07/12/2026",
        "Boulangerie Ndiaye SARL",
        "SIREN 123456789",
        "SIRET 12345678900012",
        "N° TVA FR32123456789",
        "Désignation".upper(),
        "Période du 22/11/2026 au 21/12/2026",
        "22 500 FCFA",  # subtotal
        "-7 500 FCFA",  # the coupon
        "TVA 18 %",
        "2 700 FCFA",
        "Total TTC",
        "17 700 FCFA",
        "Déjà payé",
        "-5 000 FCFA",
        "Montant dû",
        "12 700 FCFA",
        "INV20261100042",  # the bank reference
        "Orange Money",
        "+221 77 000 00 00",
        "40,00 €",  # the recovery indemnity
        "L441-10",
    ):
        assert expected in text, expected
    assert "FCFA," not in text
    assert ",00 FCFA" not in text
    assert "Page 1" not in text  # one page: no page numbers


def test_an_english_eur_invoice_reads_back_in_english() -> None:
    [text] = pages_text(render_pdf(eur_invoice_en()))

    for expected in (
        "INVOICE",
        "INV-202611-00043",
        "Issue date",
        "22 Nov 2026",
        "Bill to".upper(),
        "€1,234.56",
        "VAT 20%",
        "€246.91",
        "€1,481.47",
        "Amount due",
        "€0.0005",
        "509,120",
        "FR76 3000 6000 0112 3456 7890 189",
        "€40.00",
    ):
        assert expected in text, expected


def test_amounts_in_french_euros() -> None:
    document = replace(eur_invoice_en(), locale="fr")
    [text] = pages_text(render_pdf(document))

    assert "1 234,56 €" in text
    assert "1 481,47 €" in text
    assert "Sous-total HT" in text


def test_a_credit_note_names_the_invoice_it_credits() -> None:
    [text] = pages_text(render_pdf(credit_note_en()))

    assert "CREDIT NOTE" in text
    assert "CN-202611-00003" in text
    assert "Original invoice" in text
    assert "INV-202611-00043" in text
    assert "Duplicate seat billed in November" in text
    assert "Amount credited" in text
    assert "€588.00" in text
    assert "How to pay" not in text
    assert "Due date" not in text


def test_a_hundred_lines_run_over_pages_numbered_each_with_every_line() -> None:
    texts = pages_text(render_pdf(long_invoice(100)))

    assert len(texts) > 1
    for number, text in enumerate(texts, start=1):
        assert f"Page {number} / {len(texts)}" in text
    for text in texts[1:]:
        assert "Facture INV-202611-00042 (suite)" in text
    whole = "\n".join(texts)
    for index in range(1, 101):
        assert f"Ligne {index:03d} " in whole
    assert whole.count("1 234,56 €") >= 200  # unit price and amount of each line
    assert "148 147,20 €" in whole  # the total, 123 456,00 € + 20 %
    # The table header is repeated on every page that has lines.
    pages_with_lines = [text for text in texts if "Ligne " in text]
    assert all("DÉSIGNATION" in text for text in pages_with_lines)


def test_the_same_document_gives_the_same_bytes() -> None:
    assert render_pdf(xof_invoice_fr()) == render_pdf(xof_invoice_fr())
    assert render_pdf(long_invoice(30)) == render_pdf(long_invoice(30))
    assert render_pdf(xof_invoice_fr()) != render_pdf(replace(xof_invoice_fr(), number="INV-202611-00099"))


def test_a_page_renders_to_an_image() -> None:
    pdf = pypdfium2.PdfDocument(render_pdf(xof_invoice_fr()))
    image = pdf[0].render(scale=1).to_pil()
    width, height = image.size
    assert (abs(width - 595), abs(height - 842)) <= (1, 1)  # A4 at 72 dpi
    # Not blank: the title and the table draw dark pixels.
    assert image.convert("L").getextrema()[0] < 64


def test_long_words_and_descriptions_wrap_within_the_width() -> None:
    def measure(text: str, font: str, size: float) -> float:
        return float(len(text))

    assert wrap("aaaa bbbb cccc", "F", 1, 9, measure) == ["aaaa bbbb", "cccc"]
    assert wrap("x" * 25, "F", 1, 10, measure) == ["x" * 10, "x" * 10, "x" * 5]
    assert wrap("one\ntwo", "F", 1, 10, measure) == ["one", "two"]


def test_bank_reference_and_late_payment_mentions() -> None:
    assert bank_reference("inv-202611-00042") == "INV20261100042"
    [french] = late_payment_mentions("fr", Decimal("12.15"))
    assert f"12,15{NBSP}%" in french
    assert f"40,00{NBSP}€" in french
    [english] = late_payment_mentions("en", Decimal("10"))
    assert "10%" in english
    assert "€40.00" in english


def test_importing_the_documents_package_does_not_load_reportlab() -> None:
    code = (
        "import sys, tally.documents.model, tally.documents.pdf; "
        "assert not any(m.startswith('reportlab') for m in sys.modules), 'reportlab loaded'"
    )
    subprocess.run(  # noqa: S603 - this interpreter, a fixed script
        [sys.executable, "-c", code], check=True, env={"PYTHONPATH": str(LAYER)}
    )


@pytest.mark.parametrize("locale", ["fr", "en"])
def test_every_label_is_drawable_with_the_standard_fonts(locale: str) -> None:
    from tally.documents.labels import labels

    for text in labels(locale).values():
        text.encode("cp1252")  # Helvetica's WinAnsi encoding
