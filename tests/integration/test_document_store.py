"""Against moto: a PDF stored under its deterministic key, rendered again as a new version of the
same object, and opened through its presigned link (no credentials, as a browser opens it)."""

from __future__ import annotations

import io

import requests
from pypdf import PdfReader

from tally.documents.pdf import render_pdf
from tally.documents.store import DocumentStore, document_key
from tally.storage import clients
from tests.support.documents import xof_invoice_fr
from tests.support.stack import Stack


def test_a_pdf_is_stored_under_its_number_versioned_and_opened_by_its_link(stack: Stack) -> None:
    with stack.environment("BillingFunction"):
        clients.reset_clients()
        store = DocumentStore(clients.s3(), stack.ref("DocumentsBucket"))
        document = xof_invoice_fr()
        first = store.put("invoice", "acc_1", document.number, render_pdf(document))
        again = store.put("invoice", "acc_1", document.number, render_pdf(document))
        assert first.key == again.key == document_key("invoice", "acc_1", document.number)
        assert first.key == f"invoices/acc_1/{document.number}.pdf"
        assert first.version_id is not None
        assert again.version_id not in (None, first.version_id)
        link = store.link(first.key)
        assert "X-Amz-Expires=300" in link
        opened = requests.get(link, timeout=10)
        clients.reset_clients()
    assert opened.status_code == 200
    assert opened.headers["content-type"] == "application/pdf"
    text = PdfReader(io.BytesIO(opened.content)).pages[0].extract_text()
    assert document.number in text
