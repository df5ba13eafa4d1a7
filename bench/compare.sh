#!/usr/bin/env bash
# chatd against established IRC servers on this machine, same scenarios, same load generator.
#
#   bench/compare.sh [chat-bench options...]     e.g. bench/compare.sh --runs 5
#
# Builds chatd and chat-bench (release), installs ngircd and inspircd from Debian if they are
# missing (needs root and network access to the Debian mirror), starts each server on
# 127.0.0.1 with a config in a temp dir (flood control off or raised as far as the server
# allows; see docs/BENCHMARKS.md), runs chat-bench against chatd and each IRC server, and
# prints a comparison table. All traffic stays on 127.0.0.1; every server it started is
# stopped on exit.
#
# Environment: SERVERS="ngircd inspircd" (which IRC servers), SCENARIOS="login direct
# broadcast offline", NO_BUILD=1 (use existing binaries), CARGO_TARGET_DIR.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=${CARGO_TARGET_DIR:-$ROOT/target}/release
SERVERS=${SERVERS:-"ngircd inspircd"}
SCENARIOS=${SCENARIOS:-"login direct broadcast offline"}
TMP=$(mktemp -d /tmp/chat-compare.XXXXXX)
STARTED=()

cleanup() {
    for pid in "${STARTED[@]}"; do
        kill "$pid" 2>/dev/null || true
        for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -9 "$pid" 2>/dev/null || true
    done
    rm -rf "$TMP"
}
trap cleanup EXIT

if [[ -z "${NO_BUILD:-}" ]]; then
    (cd "$ROOT" && cargo build --release -q -p chatd -p chat-bench)
fi

install_if_missing() { # package binary
    if ! command -v "$2" >/dev/null; then
        echo "installing $1 ..." >&2
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$1" >/dev/null 2>&1 || {
            apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$1" >/dev/null
        }
    fi
}

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

wait_port() { # port pid
    for _ in $(seq 200); do
        if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then return 0; fi
        kill -0 "$2" 2>/dev/null || { echo "server exited before listening" >&2; return 1; }
        sleep 0.05
    done
    echo "server did not listen on 127.0.0.1:$1 in 10 s" >&2
    return 1
}

start_ngircd() { # port -> pid
    cat >"$TMP/ngircd.conf" <<EOF
[Global]
Name = bench.irc.local
Info = chat-bench
Listen = 127.0.0.1
Ports = $1
MotdPhrase = "chat-bench"
[Limits]
MaxConnections = 0
MaxConnectionsIP = 0
MaxJoins = 0
MaxNickLength = 30
MaxPenaltyTime = 0
PingTimeout = 3600
PongTimeout = 3600
[Options]
DNS = no
Ident = no
PAM = no
EOF
    ngircd --nodaemon --config "$TMP/ngircd.conf" >"$TMP/ngircd.log" 2>&1 &
    echo $!
}

start_inspircd() { # port -> pid
    echo "chat-bench" >"$TMP/motd"
    cat >"$TMP/inspircd.conf" <<EOF
<server name="bench.irc.local" description="chat-bench" network="bench">
<admin name="bench" nick="bench" email="bench@localhost">
<bind address="127.0.0.1" port="$1" type="clients">
<connect name="bench" allow="127.0.0.1" timeout="600" pingfreq="3600"
         hardsendq="64M" softsendq="16M" recvq="1M"
         threshold="100000000" commandrate="100000000" fakelag="no"
         localmax="100000" globalmax="100000" maxchans="100" limit="100000"
         resolvehostnames="no" useident="no">
<channels users="100" opers="100">
<limits maxnick="30">
<pid file="$TMP/inspircd.pid">
<files motd="$TMP/motd">
<performance softlimit="50000" somaxconn="4096" clonesonconnect="no" quietbursts="yes">
<log method="file" type="* -USERINPUT -USEROUTPUT" level="default" target="$TMP/inspircd.log">
EOF
    local asroot=()
    [[ $(id -u) == 0 ]] && asroot=(--runasroot)
    inspircd --nofork "${asroot[@]}" --config="$TMP/inspircd.conf" >"$TMP/inspircd.out" 2>&1 &
    echo $!
}

read -r -a scen <<<"$SCENARIOS"
RESULTS="$TMP/results.jsonl"
: >"$RESULTS"

echo "chatd ..." >&2
"$BIN/chat-bench" --chatd "$BIN/chatd" --json "$@" "${scen[@]}" | tee -a "$RESULTS" >/dev/null

for server in $SERVERS; do
    case $server in
        ngircd) install_if_missing ngircd ngircd ;;
        inspircd) install_if_missing inspircd inspircd ;;
        *) echo "unknown IRC server $server (ngircd, inspircd)" >&2; exit 2 ;;
    esac
    port=$(free_port)
    pid=$("start_$server" "$port")
    STARTED+=("$pid")
    wait_port "$port" "$pid"
    echo "$server ..." >&2
    for s in "${scen[@]}"; do
        [[ $s == offline ]] && continue
        extra=()
        # inspircd completes every registration ~1 s after it starts whatever the load, so
        # its login rate is concurrency / 1 s; fewer clients give the same figure sooner.
        [[ $server == inspircd && $s == login ]] && extra=(--clients 100)
        "$BIN/chat-bench" --irc "127.0.0.1:$port" --pid "$pid" --label "$server" --json \
            "${extra[@]}" "$@" "$s" | tee -a "$RESULTS" >/dev/null
    done
    kill "$pid" 2>/dev/null || true
done

python3 - "$RESULTS" <<'EOF'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
def ms(v): return f"{v:.2f}" if v < 10 else f"{v:.1f}" if v < 100 else f"{v:.0f}"
print(f"{'scenario':<10} {'server':<9} {'rate':>10} {'unit':<13} {'p50 ms':>7} {'p99 ms':>7} {'max ms':>7} {'CPU us/op':>9} {'peak RSS':>9}  runs")
for scen in dict.fromkeys(r["scenario"] for r in rows):
    for r in (r for r in rows if r["scenario"] == scen):
        rss = f"{r['peak_rss_kib']/1024:.1f} MiB" if r.get("peak_rss_kib") else "n/a"
        cpu = f"{r['server_cpu_us_per_op']:.1f}" if r.get("server_cpu_us_per_op") is not None else "n/a"
        bad = "" if not (r["errors"] or r["incomplete_runs"]) else f"  ERRORS {r['errors']} incomplete {r['incomplete_runs']}"
        rates = " ".join(f"{x:.0f}" for x in r["rates"])
        print(f"{scen:<10} {r['target']:<9} {r['rate']:>10.0f} {r['unit']:<13} {ms(r['p50_ms']):>7} {ms(r['p99_ms']):>7} {ms(r['max_ms']):>7} {cpu:>9} {rss:>9}  {rates}{bad}")
EOF
