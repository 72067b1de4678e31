#!/usr/bin/env bash
# Installs what finirace's tests need, then runs them.  Safe to run again.
#   apt (when root): gcc, g++, gdb, valgrind, Debian's debug build of 3.11 and chromium
#   (the HTML reports are rendered headless in a test),
#   pip: finirace itself with its [test] extra,
#   and per interpreter 3.11-3.13 (pyenv) a venv in the user cache dir with
#   opencv-python-headless, numpy and duckdb: the real programs the exit
#   guard's tests crash at exit (skipped when an interpreter is missing).
# Extra arguments go to pytest (e.g. ./test.sh -k model).
set -euo pipefail
cd "$(dirname "$0")"

need=()
for pkg in gcc g++ gdb valgrind python3.11-dbg libpython3.11-dbg chromium; do
  dpkg -s "$pkg" >/dev/null 2>&1 || need+=("$pkg")
done
if [ "${#need[@]}" -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
  else
    echo "test.sh: not root, cannot install: ${need[*]} (tests that need them will skip)" >&2
  fi
fi

# a failed install must fail here, not show up later as tests of a stale copy
PIP_ROOT_USER_ACTION=ignore python3 -m pip install -q -e '.[test]'

venvs="${FINIRACE_TEST_VENVS:-${XDG_CACHE_HOME:-$HOME/.cache}/finirace/test-venvs}"
wheels="opencv-python-headless numpy duckdb"
for ver in 3.11.7 3.12.1 3.13.0; do
  py="/root/.pyenv/versions/$ver/bin/python${ver%.*}"
  [ -x "$py" ] || continue
  venv="$venvs/$ver"
  if [ "$(cat "$venv/.finirace-stamp" 2>/dev/null)" != "$wheels" ]; then
    rm -rf "$venv"
    "$py" -m venv "$venv"
    PIP_ROOT_USER_ACTION=ignore "$venv/bin/python" -m pip install -q --disable-pip-version-check --only-binary=:all: $wheels
    echo "$wheels" > "$venv/.finirace-stamp"
  fi
done
export FINIRACE_TEST_VENVS="$venvs"

exec python3 -m pytest "$@"
