#!/usr/bin/env bash
# Installs the non-Python tools the tests use (promtool, amtool, chromium for the Playwright browser tests) and the
# system libraries WeasyPrint loads for the report PDFs (Pango; docs/reports.md) from Debian's packages when
# missing. Playwright drives /usr/bin/chromium; no browser is downloaded.
# Tests that need a tool that could not be installed say so loudly and skip.
set -u
need=()
command -v promtool >/dev/null 2>&1 || need+=(prometheus)
command -v amtool >/dev/null 2>&1 || need+=(prometheus-alertmanager)
[ -x /usr/bin/chromium ] || need+=(chromium)
has_lib() { ldconfig -p 2>/dev/null | grep -q "$1"; }
has_lib libpango-1.0.so.0 || need+=(libpango-1.0-0)
has_lib libpangoft2-1.0.so.0 || need+=(libpangoft2-1.0-0)
has_lib libharfbuzz-subset.so.0 || need+=(libharfbuzz-subset0)  # font subsetting (WeasyPrint warns without it)
[ ${#need[@]} -eq 0 ] && exit 0
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "!! cannot install ${need[*]} (not root or no apt-get): the tests that need them will be SKIPPED" >&2
  exit 0
fi
echo "installing ${need[*]} for the alerting, browser and report PDF tests ..."
export DEBIAN_FRONTEND=noninteractive
if ! apt-get install -y -q --no-install-recommends "${need[@]}" >/dev/null 2>&1; then
  apt-get update -q >/dev/null 2>&1
  apt-get install -y -q --no-install-recommends "${need[@]}" >/dev/null 2>&1 \
    || echo "!! apt-get could not install ${need[*]}: the tests that need them will be SKIPPED" >&2
fi
# The Prometheus packages start their daemons; the tests start their own instances on other ports. Only when they
# were installed just now: other processes called prometheus on this machine are not ours to stop.
case " ${need[*]} " in *" prometheus"*) ;; *) exit 0 ;; esac
for svc in prometheus prometheus-alertmanager prometheus-node-exporter; do
  (command -v systemctl >/dev/null && systemctl stop "$svc") >/dev/null 2>&1 || true
  pkill -x "${svc#prometheus-}" >/dev/null 2>&1 || true
done
exit 0
