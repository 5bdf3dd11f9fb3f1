"""The README's "Try it with curl" block, run as a new user would run it: its shell block, word for
word, under `bash` with `set -euo pipefail`, against a local stack of its own (the block signs up
fixed addresses and turns the seeded admin's TOTP on, so it needs a stack nobody else touched),
then what it printed checked against what its comments promise: steps 1 to 15, from sign-up to a
year of renewals, the dunning ladder to suspension and back, a trial's end, and a checkout through
the local Stripe with a renewal that fails, is paid, and a cancel at the period's end."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.conftest import ADMIN_EMAIL, ADMIN_PASSWORD, ROOT, START_TIMEOUT_S, StackProcess, free_port

pytestmark = pytest.mark.e2e

README_API = "API=http://127.0.0.1:3000"
RUN_TIMEOUT_S = 600


def readme_block(readme: Path = ROOT / "README.md") -> str:
    """The walk-through: from the "```sh" line whose next line sets API to its closing fence."""
    lines = readme.read_text(encoding="utf-8").splitlines()
    start = next(
        index + 1
        for index, line in enumerate(lines[:-1])
        if line == "```sh" and lines[index + 1] == README_API
    )
    end = lines.index("```", start)
    return "\n".join(lines[start:end]) + "\n"


@pytest.fixture(scope="module")
def own_stack() -> Iterator[str]:
    if (ADMIN_EMAIL, ADMIN_PASSWORD) != ("admin@tally.local", "Tally-local-2026!"):
        pytest.skip("the README signs in as the default seeded admin")
    stack = StackProcess(free_port())
    try:
        url = stack.wait_ready(START_TIMEOUT_S)
    except RuntimeError:
        stack.stop()
        pytest.fail(f"the local stack did not start:\n{stack.output()}", pytrace=False)
    try:
        yield url
    finally:
        stack.stop()


@pytest.fixture(scope="module")
def printed(own_stack: str, tmp_path_factory: pytest.TempPathFactory) -> str:
    block = readme_block()
    assert block.startswith(README_API)
    script = "set -euo pipefail\n" + block.replace(README_API, f"API={own_stack}", 1)
    # The block's `python3` is this interpreter (the walk-through needs 3.11's fromisoformat).
    bin_dir = tmp_path_factory.mktemp("bin")
    (bin_dir / "python3").symlink_to(sys.executable)
    environment = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"}
    bash = shutil.which("bash")
    assert bash is not None, "the README's block is a bash script"
    done = subprocess.run(  # noqa: S603 - bash running the README's own block
        [bash, "-c", script],
        cwd=tmp_path_factory.mktemp("walk"),
        env=environment,
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT_S,
        check=False,
    )
    tails = f"--- stdout ---\n{done.stdout[-4000:]}\n--- stderr ---\n{done.stderr[-4000:]}"
    assert done.returncode == 0, f"exit {done.returncode}\n{tails}"
    return done.stdout


def _lines(output: str) -> list[str]:
    return output.splitlines()


def test_the_first_steps_print_what_their_comments_say(printed: str) -> None:
    assert "tickets a atteint 100 % de son quota" in printed  # step 8
    assert '"final":367200' in printed  # step 10
    assert "INV-" in printed
    assert "\n37760\n" in printed
    assert "\n17760\n" in printed
    assert "paid\nCN-" in printed


def test_a_year_of_renewals_twelve_invoices_in_sequence_an_email_each(printed: str) -> None:
    renewals = [line for line in _lines(printed) if re.fullmatch(r"(\{.*\})?\d{4}-\d\d-\d\dT\S+ \d+", line)]
    assert len(renewals) == 12
    assert all(line.endswith(" 1") for line in renewals)  # one renewal due each day

    invoices = re.findall(r"^(INV-(\d{6})-(\d{5})) (\d+) (\w+)$", printed, re.MULTILINE)
    assert len(invoices) == 13
    *renewed, step_11 = invoices
    assert step_11[3:] == ("37760", "paid")
    assert [status for *_, status in renewed] == ["open"] * 12
    months = [month for _, month, *_ in renewed]
    assert months == sorted(months, reverse=True)
    assert len(set(months)) == 12
    assert all(sequence == "00001" for _, _, sequence, *_ in renewed)  # the first of each month
    assert [total for *_, total, _ in renewed] == ["17700"] * 11 + ["14160"]  # the coupon's third month

    assert "\n13\n0\n" in printed  # thirteen invoice emails; the same day run again: nothing due
    assert '"planned":0,"done":0,"skipped":0,"failed":0' in printed
    assert '"planned":1,"done":1,"skipped":0,"failed":0' in printed
    assert '{"dead_letters":[]}' in printed


def test_the_dunning_ladder_suspends_then_payment_reactivates(printed: str) -> None:
    ladder = re.findall(r"^J(-?\d+) (\d+) (\w+)$", printed, re.MULTILINE)
    assert ladder == [
        ("-3", "1", "active"),
        ("1", "1", "active"),
        ("3", "1", "active"),
        ("7", "1", "active"),
        ("15", "1", "active"),
        ("30", "1", "suspended"),
    ]
    assert '"code": "account_suspended"' in printed
    assert "unpaid_invoice" in printed
    subjects = printed[printed.index("Le compte Diallo Conseil est suspendu") :].splitlines()[:7]
    assert subjects[0] == "Le compte Diallo Conseil est suspendu"
    assert subjects[1].startswith("Dernier avis avant suspension")
    assert subjects[2].startswith("Urgent")
    assert subjects[3].startswith("Deuxième relance")
    assert subjects[4].endswith("est en retard de paiement")
    assert subjects[5].startswith("Rappel")
    assert subjects[6].startswith("Facture INV-")
    assert "59\xa0000\xa0FCFA" in subjects[6]
    after = printed[printed.index(subjects[6]) :].splitlines()
    assert after[1:3] == ["paid", "active"]


def test_a_trial_ends_incomplete_with_its_first_invoice(printed: str) -> None:
    steps = re.findall(r"^D-(\d) (\d+)$", printed, re.MULTILINE)
    assert steps == [("7", "1"), ("3", "1"), ("1", "1"), ("0", "1")]
    tail = printed[printed.index("D-0 1") :].splitlines()
    assert tail[1].startswith("Votre essai Professional se termine le")
    assert tail[2] == "incomplete"
    assert tail[3].startswith("Facture INV-")
    assert "54\xa0000\xa0FCFA" in tail[3]
    assert tail[4].count('"planned":1,"done":1,"skipped":0,"failed":0') == 4


def test_a_stripe_checkout_a_failed_renewal_paid_again_then_canceled(printed: str) -> None:
    assert '"taken":0,"free":5,"reserved":0' in printed
    assert '"taken":1,"free":4,"reserved":1,"next_free_at":null}complete\n' in printed  # held, then paid
    assert '"status":"active","collection":"stripe"' in printed
    assert '"code":"BLOOM20"' in printed
    assert "'subtotal': 9900, 'discount_total': 1980" in printed
    assert "'total': 7920" in printed
    assert "'source': 'stripe'" in printed
    tail = printed[printed.index("Bienvenue sur Tally, Fleurs Léa") :].splitlines()
    assert tail[0] == "Bienvenue sur Tally, Fleurs Léa"
    assert tail[1:3] == ["past_due", '{"drained": true}past_due']  # the renewal failed
    assert tail[3].startswith("Votre paiement de 79,20")
    assert tail[3].endswith("n'a pas abouti")
    assert tail[4:7] == ["paid", '{"drained": true}active', "True"]  # paid again; cancel at period end
    assert '"taken":1,"free":4,"reserved":0' in tail[7]
    assert '"actor":"provider:stripe"' in tail[7]
    assert '"action":"subscription.cancel_scheduled"' in tail[7]
