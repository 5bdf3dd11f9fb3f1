"""Performance figures for Tally (`make bench`): cold start, DynamoDB cost, warm throughput, the
local stack under load, the Lambda authorizer's added latency.

Run as `python -m benchmarks [cold|cost|throughput|local|authorizer]` from the repository root.
Figures only: nothing here asserts on timing.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# What Lambda puts on sys.path (the layer's python/ and the function's folder), plus the
# repository root for tests.support and local. pytest does the same from pyproject.toml.
for _index, _path in enumerate((ROOT / "layers" / "common", ROOT / "functions", ROOT)):
    if str(_path) not in sys.path:
        sys.path.insert(_index, str(_path))
