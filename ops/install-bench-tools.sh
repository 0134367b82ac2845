#!/usr/bin/env bash
# Installs the load generator the lead-capture benchmark drives the servers with (`wrk`, a C program, so the
# generator does not compete with the servers for Python CPU time) from Debian's packages when missing.
set -u
command -v wrk >/dev/null 2>&1 && exit 0
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "!! cannot install wrk (not root or no apt-get): bench/lead_capture.py will refuse to run" >&2
  exit 0
fi
echo "installing wrk for bench/lead_capture.py ..."
export DEBIAN_FRONTEND=noninteractive
if ! apt-get install -o DPkg::Lock::Timeout=300 -y -q --no-install-recommends wrk >/dev/null 2>&1; then
  apt-get update -o DPkg::Lock::Timeout=300 -q >/dev/null 2>&1
  apt-get install -o DPkg::Lock::Timeout=300 -y -q --no-install-recommends wrk >/dev/null 2>&1 \
    || echo "!! apt-get could not install wrk: bench/lead_capture.py will refuse to run" >&2
fi
exit 0
