"""Every function's init runs without cyclic garbage collection and ends with it back on, with
init's objects frozen out of later collections (decision 0009)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    "module",
    [
        "tracking.app",
        "tracking.counter",
        "accounts.app",
        "auth.app",
        "docs.app",
        "authorizer.app",
        "billing.app",
        "checkout.app",
        "webhooks.app",  # issue 9
        "webhooks.worker",
    ],
)
def test_init_leaves_garbage_collection_on_with_its_objects_frozen(module: str) -> None:
    probe = f"import gc, {module}\nprint(gc.isenabled(), gc.get_freeze_count() > 0)\n"
    path = os.pathsep.join(str(ROOT / part) for part in ("layers/common", "functions"))
    child = subprocess.run(  # noqa: S603 - this interpreter, a fixed script
        [sys.executable, "-c", probe],
        env={**os.environ, "PYTHONPATH": path},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert child.stdout.split() == ["True", "True"]
