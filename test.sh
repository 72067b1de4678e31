#!/usr/bin/env bash
# Installs what finirace's tests need, then runs them.  Safe to run again.
#   apt (when root): gcc, g++, gdb, valgrind and Debian's debug build of 3.11,
#   pip: finirace itself with its [test] extra.
# Extra arguments go to pytest (e.g. ./test.sh -k model).
set -euo pipefail
cd "$(dirname "$0")"

need=()
for pkg in gcc g++ gdb valgrind python3.11-dbg libpython3.11-dbg; do
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
exec python3 -m pytest "$@"
