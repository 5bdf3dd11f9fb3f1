#!/usr/bin/env bash
# `sam build` as `make build` runs it, with the environment the makefile builds need (UV,
# TALLY_PYTHON) and SOURCE_DATE_EPOCH (the commit's time unless set), so every file of
# .aws-sam/build, the built template included, is a function of the commit.
set -euo pipefail
: "${SAM:?set SAM to the sam executable}" "${UV:?set UV to uv}" "${TALLY_PYTHON:?set TALLY_PYTHON to a CPython 3.13}"
if [ -z "${SOURCE_DATE_EPOCH:-}" ]; then
  # 1980-01-01, the earliest time a zip entry can hold, outside a git checkout.
  SOURCE_DATE_EPOCH=$(git log -1 --format=%ct 2>/dev/null || echo 315532800)
fi
export SOURCE_DATE_EPOCH UV TALLY_PYTHON SAM_CLI_TELEMETRY=0
"$SAM" build --template template.yaml "$@"
touch -d "@$SOURCE_DATE_EPOCH" .aws-sam/build/template.yaml
