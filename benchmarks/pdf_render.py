"""Invoice PDF rendering (issue 8): the median time of `render_pdf` for a one-page invoice (target
5 ms) and for a 100-line one, warm, after a few renders; and, in a fresh interpreter, what the
first render costs a cold Lambda (importing reportlab and loading its font metrics).

The documents are tests.support.documents' samples: a French XOF invoice with a discount, a
partial payment and mobile-money instructions, and 100 wrapped lines over several pages.
"""

from __future__ import annotations

import subprocess
import sys
import time

from benchmarks import ROOT
from benchmarks.harness import env_int, heading, median, percentile, table
from tally.documents.model import InvoiceDocument
from tally.documents.pdf import render_pdf
from tests.support.documents import eur_invoice_en, long_invoice, xof_invoice_fr

_COLD = """
import sys, time
sys.path[:0] = ["layers/common", "."]
from tests.support.documents import xof_invoice_fr
document = xof_invoice_fr()
started = time.perf_counter()
from tally.documents.pdf import render_pdf
render_pdf(document)
print(time.perf_counter() - started)
"""


def _timings(document: InvoiceDocument, runs: int) -> tuple[list[float], int, int]:
    for _ in range(5):
        render_pdf(document)
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        pdf = render_pdf(document)
        times.append(time.perf_counter() - started)
    return times, len(pdf), pdf.count(b"/Type /Page\n")


def _cold_first_render() -> float:
    child = subprocess.run(
        [sys.executable, "-c", _COLD], cwd=ROOT, check=True, capture_output=True, text=True
    )
    return float(child.stdout.strip())


def run() -> str:
    runs = env_int("BENCH_PDF_RUNS", 200)
    rows = []
    for name, document, count in (
        ("one page, fr XOF (2 lines)", xof_invoice_fr(), runs),
        ("one page, en EUR (2 lines)", eur_invoice_en(), runs),
        ("100 lines, fr EUR", long_invoice(100), max(20, runs // 10)),
    ):
        times, size, pages = _timings(document, count)
        rows.append(
            (
                name,
                pages,
                f"{size / 1024:.1f}",
                count,
                f"{median(times) * 1000:.2f}",
                f"{percentile(times, 0.95) * 1000:.2f}",
            )
        )
    cold = [_cold_first_render() for _ in range(3)]
    return "\n".join(
        [
            heading("PDF rendering (reportlab canvas, warm; target <= 5 ms for one page)"),
            table(("document", "pages", "KiB", "renders", "median ms", "p95 ms"), rows),
            "",
            f"First render in a fresh interpreter (imports reportlab): median {median(cold) * 1000:.0f} ms "
            f"of {len(cold)}",
        ]
    )
