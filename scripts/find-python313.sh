#!/usr/bin/env sh
# Prints the path of a CPython 3.13 interpreter: uv's own (downloading one when the network
# allows), else one installed on the machine (pyenv, the system). Exits 1 when there is none.
uv_bin=${1:-uv}
if found=$("$uv_bin" python find --system 3.13 2>/dev/null) && [ -x "$found" ]; then echo "$found"; exit 0; fi
if "$uv_bin" python install 3.13 >/dev/null 2>&1 && found=$("$uv_bin" python find --system 3.13 2>/dev/null); then
  echo "$found"; exit 0
fi
for candidate in "$HOME"/.pyenv/versions/3.13*/bin/python3.13 /usr/local/bin/python3.13 /usr/bin/python3.13; do
  if [ -x "$candidate" ]; then echo "$candidate"; exit 0; fi
done
echo "no Python 3.13 found: install one (pyenv install 3.13) and retry" >&2
exit 1
