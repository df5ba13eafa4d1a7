#!/usr/bin/env bash
# Checks examples/chatd.service with `systemd-analyze verify`, installing Debian's `systemd`
# package first if the tool is missing. Any diagnostic fails the check (verify itself only
# warns about unknown keys). The unit names /usr/local/bin/chatd and chatctl, which verify
# requires to exist: a copy of the unit points at stand-ins in a temp dir instead.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v systemd-analyze >/dev/null 2>&1; then
  if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    echo "installing systemd for systemd-analyze"
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends systemd >/dev/null
  else
    echo "systemd-analyze is not available and cannot be installed here; unit not verified" >&2
    exit 1
  fi
fi

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/bin"
for prog in chatd chatctl; do
  printf '#!/bin/sh\nexit 0\n' >"$tmp/bin/$prog"
  chmod +x "$tmp/bin/$prog"
done
sed -e "s#/usr/local/bin/#$tmp/bin/#g" examples/chatd.service >"$tmp/chatd.service"

out="$(systemd-analyze verify "$tmp/chatd.service" 2>&1)" || {
  echo "$out" >&2
  exit 1
}
if [ -n "$out" ]; then
  echo "$out" >&2
  echo "systemd-analyze verify reported problems in examples/chatd.service" >&2
  exit 1
fi
echo "examples/chatd.service: systemd-analyze verify OK"
