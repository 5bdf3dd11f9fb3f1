"""The common layer's requirements.txt is exactly what uv.lock says (run `make requirements`)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
REQUIREMENTS = ROOT / "layers" / "common" / "requirements.txt"
# Same command as the top-level Makefile's `requirements` target.
EXPORT = [
    "export",
    "--frozen",
    "--no-dev",
    "--no-emit-project",
    "--no-hashes",
    "--prune",
    "boto3",
    "--format",
    "requirements-txt",
]
# Provided by the Lambda Python runtime; shipping them would only grow the layer.
RUNTIME_PROVIDED = {"boto3", "botocore", "s3transfer", "urllib3", "python-dateutil", "six"}
# What the layer's code imports at run time (powertools needs jmespath and typing-extensions).
NEEDED = {"aws-lambda-powertools", "pydantic", "pydantic-core", "jmespath", "typing-extensions"}


def _uv() -> str:
    local = ROOT / ".tools" / "uv" / "bin" / "uv"
    if local.is_file():
        return str(local)
    found = shutil.which("uv")
    if found is None:
        pytest.skip("uv is not installed (.tools/uv/bin/uv or uv on PATH): run `make bootstrap`")
    return found


def _pinned(text: str) -> dict[str, str]:
    pins: dict[str, str] = {}
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            name, _, version = line.partition("==")
            pins[name.strip().lower()] = version.strip()
    return pins


def test_layer_requirements_match_the_lock() -> None:
    exported = subprocess.run(  # noqa: S603 - fixed arguments, uv from the project's tools
        [_uv(), *EXPORT], cwd=ROOT, capture_output=True, text=True, check=True, timeout=60
    ).stdout
    assert REQUIREMENTS.read_text() == exported, (
        "layers/common/requirements.txt is out of date with uv.lock: run `make requirements`"
    )


def test_layer_ships_no_runtime_provided_packages() -> None:
    pins = _pinned(REQUIREMENTS.read_text())
    assert not RUNTIME_PROVIDED & set(pins)
    assert set(pins) >= NEEDED
