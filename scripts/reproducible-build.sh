#!/usr/bin/env bash
# Builds the current commit twice, each in a fresh clone under a different folder, with the
# commit's own scripts/sam-build.sh (what `make build` runs), and compares the two
# .aws-sam/build trees: the same files, byte for byte, with the same modes
# and times. Run by `make reproducible`, which passes SAM, UV and TALLY_PYTHON (the project's
# tools are reused, so nothing is downloaded but the layer's wheels).
# SAM's own .aws-sam/build.toml (a build cache index naming the source folder) and
# .aws-sam/cache are not artifacts and are not compared.
set -euo pipefail
: "${SAM:?set SAM to the sam executable}" "${UV:?set UV to uv}" "${TALLY_PYTHON:?set TALLY_PYTHON to a CPython 3.13}"

root=$(git rev-parse --show-toplevel)
commit=$(git -C "$root" rev-parse HEAD)
if [ -n "$(git -C "$root" status --porcelain --untracked-files=no)" ]; then
  echo "note: uncommitted changes are not part of this check; it builds $commit" >&2
fi
epoch=$(git -C "$root" log -1 --format=%ct "$commit")
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# Folder names of different lengths, so any build path left in an artifact shows.
for name in a build-number-two; do
  git clone --quiet --no-checkout "$root" "$work/$name"
  git -C "$work/$name" checkout --quiet --detach "$commit"
  echo "building $commit in $work/$name"
  if ! (cd "$work/$name" && SOURCE_DATE_EPOCH="$epoch" scripts/sam-build.sh --no-cached) > "$work/$name.log" 2>&1; then
    cat "$work/$name.log" >&2
    exit 1
  fi
done

"$TALLY_PYTHON" - "$work/a/.aws-sam/build" "$work/build-number-two/.aws-sam/build" <<'PY'
import os
import stat
import sys
from pathlib import Path


def tree(root: Path) -> dict[str, tuple[int, int, bytes]]:
    found = {}
    for path in sorted(root.rglob("*")):
        info = path.lstat()
        if stat.S_ISLNK(info.st_mode):
            content = os.readlink(path).encode()
        elif stat.S_ISREG(info.st_mode):
            content = path.read_bytes()
        else:
            content = b""
        found[str(path.relative_to(root))] = (info.st_mode, int(info.st_mtime), content)
    return found


first, second = (tree(Path(arg)) for arg in sys.argv[1:3])
problems = [f"only in one build: {name}" for name in sorted(set(first) ^ set(second))]
for name in sorted(set(first) & set(second)):
    (mode_a, time_a, data_a), (mode_b, time_b, data_b) = first[name], second[name]
    if data_a != data_b:
        problems.append(f"content differs: {name}")
    if mode_a != mode_b:
        problems.append(f"mode differs: {name} ({oct(mode_a)} vs {oct(mode_b)})")
    if time_a != time_b:
        problems.append(f"time differs: {name} ({time_a} vs {time_b})")
if problems:
    print(f"NOT reproducible: {len(problems)} difference(s)", *problems[:40], sep="\n  ")
    sys.exit(1)
size = sum(len(entry[2]) for entry in first.values())
print(f"reproducible: {len(first)} entries, {size:,} bytes, identical in both builds")
PY
