"""Invoice and credit-note PDFs.

    from tally.documents.model import InvoiceDocument
    from tally.documents.pdf import render_pdf
    pdf: bytes = render_pdf(document)

The model imports nothing heavy; `render_pdf` imports reportlab on its first call, so a
function that never renders a PDF never loads it (DESIGN decision 11).
"""
