"""The layer's requirements.txt is exactly what uv.lock says, hashes included (`make requirements`)."""

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
    "--prune",
    "boto3",
    "--prune",
    "urllib3",
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


def _requirements(text: str) -> dict[str, tuple[str, list[str]]]:
    """name -> (version, hashes), joining the backslash-continued lines of each requirement."""
    found: dict[str, tuple[str, list[str]]] = {}
    for line in text.replace("\\\n", " ").splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        requirement, *options = line.split()
        name, _, version = requirement.partition("==")
        hashes = [option.removeprefix("--hash=") for option in options if option.startswith("--hash=")]
        found[name.strip().lower()] = (version.strip(), hashes)
    return found


def _pinned(text: str) -> dict[str, str]:
    return {name: version for name, (version, _) in _requirements(text).items()}


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


def test_every_layer_requirement_is_pinned_with_hashes() -> None:
    """The layer installs with --require-hashes: a pin without a hash would fail the build."""
    requirements = _requirements(REQUIREMENTS.read_text())
    assert requirements
    for name, (version, hashes) in requirements.items():
        assert version, f"{name} is not pinned"
        assert hashes, f"{name} has no hash"
        assert all(h.startswith("sha256:") and len(h) == len("sha256:") + 64 for h in hashes), name


def test_layer_build_requires_hashes() -> None:
    makefile = (ROOT / "layers" / "common" / "Makefile").read_text()
    assert "--require-hashes -r requirements.txt" in makefile
