#!/usr/bin/env sh
# Prints the path of a CPython 3.13 interpreter. An installed one comes first (what uv finds
# on the machine, pyenv's, the system's); only then does uv try to download one, bounded in
# time, since machines that reach only package registries cannot fetch interpreters and must
# not hang on it. Exits 1 when there is none.
uv_bin=${1:-uv}
download_timeout=${TALLY_PYTHON_DOWNLOAD_TIMEOUT:-120}

is_313() {
  [ -x "$1" ] && "$1" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 13) or sys.implementation.name != "cpython")' 2>/dev/null
}

if found=$(UV_PYTHON_DOWNLOADS=never "$uv_bin" python find --system 3.13 2>/dev/null) && is_313 "$found"; then
  echo "$found"; exit 0
fi
for candidate in "$HOME"/.pyenv/versions/3.13*/bin/python3.13 /usr/local/bin/python3.13 /usr/bin/python3.13 \
                 "$(command -v python3.13 2>/dev/null)"; do
  if is_313 "$candidate"; then echo "$candidate"; exit 0; fi
done
# uv's own HTTP timeout applies per read; `timeout` bounds the whole attempt as well.
if UV_HTTP_TIMEOUT=30 timeout "$download_timeout" "$uv_bin" python install 3.13 >/dev/null 2>&1 \
   && found=$("$uv_bin" python find 3.13 2>/dev/null) && is_313 "$found"; then
  echo "$found"; exit 0
fi
echo "no Python 3.13 found: install one (pyenv install 3.13, or your system's python3.13) and retry" >&2
exit 1
