#!/usr/bin/env bash
# chatd beside established IRC servers on this machine, in one run, same load generator:
# the measurement matrix of issue 13, printed as a table with ratios (chatd / other).
#
#   bench/compare.sh [--big] [chat-bench options...]
#
# Cases (each on a fresh server process): server CPU per delivery in direct messages (closed
# loop, N=200 and N=1000), fan-out (broadcast / channel PRIVMSG, N=200 and N=1000) and
# direct messages paced at 20,000/s in all (N=200 and N=1000, with p50/p99 latency); server
# RSS per idle logged-in connection (N=200, 1000, 5000). With --big (or BIG=1), 15,000
# clients: the time to log them all in (IRC: register and join one channel) and the mass
# logout rate (`mass`), and the time to exit on SIGTERM with 15,000 sessions (`shutdown`).
# See docs/BENCHMARKS.md for what each figure means exactly.
#
# Builds chatd and chat-bench (release), installs ngircd (and inspircd, if asked for) from
# Debian if missing (needs root and the Debian mirror), starts each server on a free port of
# 127.0.0.1 with a config in a temp dir (every limit raised so limits are not what is
# measured), runs chat-bench against it and stops it. All traffic stays on 127.0.0.0/8;
# every process started here is stopped on exit; every chat-bench run is bounded in time.
#
# The IRC servers' mass case gets a login budget of LOGIN_BUDGET_X (default 2) times chatd's
# time to log everyone in: an IRC server still joining clients by then is reported with how
# many it had joined (ngIRCd needs over half an hour for 15,000 here), not waited for.
#
# Environment: SERVERS="ngircd" (IRC servers beside chatd: ngircd, inspircd), BIG=1 (same
# as --big), BIG_N=15000 (clients in the big cases), CASES="direct200 ..." (a subset of the
# cases, by name; "" for none), RUNS=1 (runs per case; figures are medians), PROFILE=1
# (also syscalls per message with perf stat and strace, and a perf profile of chatd, in the
# direct N=200 case), OUT=DIR (keep the results there; `bench/compare.sh --table DIR`
# prints their table again), NO_BUILD=1, CARGO_TARGET_DIR.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=${CARGO_TARGET_DIR:-$ROOT/target}/release
SERVERS=${SERVERS:-"ngircd"}
RUNS=${RUNS:-1}
BIG=${BIG:-}
BIG_N=${BIG_N:-15000}
if [[ ${1:-} == --big ]]; then BIG=1; shift; fi
TMP=$(mktemp -d /tmp/chat-compare.XXXXXX)
# Results (JSON lines, perf and strace outputs, load averages): kept in OUT if given.
RES=${OUT:-$TMP}
mkdir -p "$RES"
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

# print_table DIR SERVERS: the table of DIR/results.jsonl (and DIR's perf/strace outputs).
print_table() {
python3 - "$1/results.jsonl" "$2" "$1" <<'EOF'
import json, os, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
servers = sys.argv[2].split()
tmp = sys.argv[3]
res = {}
for r in rows:  # the IRC servers' exit statuses come on lines of their own: merged
    res.setdefault((r["case"], r["server"]), {}).update(r)

def get(case, server):
    return res.get((case, server))

def cpu(r):
    return r and r.get("server_cpu_us_per_op")

def rate(r):
    return r and r.get("rate")

def extra(key):
    return lambda r: r and r.get("extra", {}).get(key)

def p(key):
    return lambda r: r and r.get(key)

def fmt(v):
    if v is None:
        return "n/a"
    if isinstance(v, int):
        return str(v)
    if abs(v) >= 1000:
        return f"{v:,.0f}"
    if abs(v) >= 100:
        return f"{v:.0f}"
    if abs(v) >= 10:
        return f"{v:.1f}"
    return f"{v:.2f}"

def exit_code(v):
    return None if v is None else int(v)

lines = []
def row(label, case, fn):
    c = fn(get(case, "chatd"))
    cells = [fmt(c)]
    for s in servers:
        o = fn(get(case, s))
        cells.append(fmt(o))
        cells.append(f"{c / o:.2f}" if c is not None and o else "n/a")
    lines.append(f"| {label} | " + " | ".join(cells) + " |")

cases = dict.fromkeys(r["case"] for r in rows if r["server"] in ["chatd"] + servers)
head = "| case | chatd | " + " | ".join(f"{s} | ratio" for s in servers) + " |"
print(head)
print("|---|---:|" + "---:|---:|" * len(servers))
for case in cases:
    r = get(case, "chatd") or next(iter(v for k, v in res.items() if k[0] == case))
    n = r.get("clients")
    sys_cpu = extra("server_sys_us_per_op")
    gen_cpu = extra("loadgen_cpu_us_per_op")
    if case.startswith("direct"):
        row(f"direct N={n} closed loop: server CPU µs/delivery", case, cpu)
        row(f"direct N={n} closed loop: of which kernel (system CPU)", case, sys_cpu)
        row(f"direct N={n} closed loop: load generator CPU µs/delivery", case, gen_cpu)
    elif case.startswith("fanout"):
        row(f"fan-out N={n}: server CPU µs/delivery", case, cpu)
        row(f"fan-out N={n}: of which kernel (system CPU)", case, sys_cpu)
        row(f"fan-out N={n}: load generator CPU µs/delivery", case, gen_cpu)
    elif case.startswith("paced"):
        row(f"direct N={n} paced 20,000/s: server CPU µs/delivery", case, cpu)
        row(f"direct N={n} paced: of which kernel (system CPU)", case, sys_cpu)
        row(f"direct N={n} paced: load generator CPU µs/delivery", case, gen_cpu)
        row(f"direct N={n} paced: p50 ms", case, p("p50_ms"))
        row(f"direct N={n} paced: p99 ms", case, p("p99_ms"))
        row(f"direct N={n} paced: load generator lag p99 ms", case, extra("pacer_lag_p99_ms"))
    elif case.startswith("idle"):
        row(f"idle N={n}: RSS KiB per logged-in connection", case, rate)
    elif case.startswith("mass"):
        row(f"{n} clients: s to log all in (to last welcome / end of NAMES)", case, extra("login_secs"))
        if any(get(case, s) and "login_budget_secs" in get(case, s).get("extra", {}) for s in servers):
            row(f"{n} clients: login budget s (IRC: {os.environ.get('LOGIN_BUDGET_X', '2')}x chatd's time to log all in)", case, extra("login_budget_secs"))
            row(f"{n} clients: logins done within the budget (observer told)", case, extra("logins_told_within_budget"))
        row(f"{n} clients: s until the observer was told of every login", case, extra("login_settled_secs"))
        # A run stopped at its login budget logged nobody out.
        row(f"{n - 1} log out at once: logouts/s", case,
            lambda r: None if not r or "login_budget_secs" in r.get("extra", {}) else rate(r))
        row(f"{n - 1} log out at once: s until done", case, extra("logout_secs"))
    elif case.startswith("shutdown"):
        row(f"SIGTERM with {n} sessions: s to exit", case, rate)
        row(f"SIGTERM with {n} sessions: exit status", case,
            lambda r: r and (r["exit_status"] if "exit_status" in r else
                            exit_code(r.get("extra", {}).get("exit_code"))))
for l in lines:
    print(l)
problems = [r for r in rows if "scenario" in r and (r["errors"] or r["incomplete_runs"] or r["notes"])]
for r in problems:
    print(f"NOTE {r['server']} {r['case']}: errors {r['errors']}, incomplete runs {r['incomplete_runs']}, {'; '.join(r['notes'])}")
print(open(os.path.join(tmp, "load")).read().strip().replace("\n", "; "))

if os.path.exists(os.path.join(tmp, "perfstat.chatd")):
    print("\nSyscalls per delivered message, direct N=200 (perf stat):")
    for who in ["chatd"] + servers:
        path = os.path.join(tmp, f"perfstat.{who}")
        r = res.get(("direct200", f"{who}-perfstat"))
        if not os.path.exists(path) or not r:
            continue
        counts = {}
        for l in open(path):
            f = l.strip().split(",")
            if len(f) > 2 and f[0].replace(".", "").isdigit():
                counts[f[2].split(":")[-1].replace("sys_enter_", "")] = float(f[0])
        n = r["count"]
        parts = [f"{k} {v / n:.3f}" for k, v in sorted(counts.items(), key=lambda kv: -kv[1]) if v]
        print(f"  {who}: " + ", ".join(parts) + f"  ({n:.0f} messages)")
if os.path.exists(os.path.join(tmp, "strace.chatd")):
    print("\nstrace -c -f of chatd, direct N=200 (errors = EAGAIN and the like):")
    print(open(os.path.join(tmp, "strace.chatd")).read().rstrip())
if os.path.exists(os.path.join(tmp, "perf.top")):
    print("\nperf record of chatd, direct N=200, top symbols (self):")
    print(open(os.path.join(tmp, "perf.top")).read().rstrip())
EOF
}

if [[ ${1:-} == --table ]]; then
    [[ -f ${2:-}/results.jsonl ]] || { echo "usage: $0 --table DIR (a kept OUT dir)" >&2; exit 2; }
    print_table "$2" "$SERVERS"
    exit 0
fi


# 15,000 connections on each side need as many descriptors; children inherit this.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

# name | chat-bench scenario and sizes | timeout (s)
CASE_TABLE=(
    "direct200|direct --clients 200 --messages 3000 --window 16|300"
    "direct1000|direct --clients 1000 --messages 600 --window 16|300"
    "fanout200|broadcast --clients 200 --senders 2 --messages 1000 --window 4|300"
    "fanout1000|broadcast --clients 1000 --senders 2 --messages 400 --window 4|300"
    "paced200|direct --clients 200 --rate 20000|300"
    "paced1000|direct --clients 1000 --rate 20000|300"
    "idle200|idle --clients 200|300"
    "idle1000|idle --clients 1000|300"
    "idle5000|idle --clients 5000|600"
)
if [[ -n $BIG ]]; then
    CASE_TABLE+=(
        "mass$BIG_N|mass --clients $BIG_N --send-queue 1000000|1500"
        "shutdown$BIG_N|shutdown --clients $BIG_N --send-queue 1000000|1500"
    )
fi
CASES=${CASES-$(printf '%s\n' "${CASE_TABLE[@]}" | cut -d'|' -f1 | tr '\n' ' ')}

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

# start_SERVER PORT: starts it in the background of this shell (so that `wait` can collect
# its exit status) and sets SERVER_PID.
start_ngircd() { # port
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
    SERVER_PID=$!
}

start_inspircd() { # port
    echo "chat-bench" >"$TMP/motd"
    cat >"$TMP/inspircd.conf" <<EOF
<server name="bench.irc.local" description="chat-bench" network="bench">
<admin name="bench" nick="bench" email="bench@localhost">
<bind address="127.0.0.1" port="$1" type="clients">
<connect name="bench" allow="127.0.0.*" timeout="600" pingfreq="3600"
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
    SERVER_PID=$!
}

case_spec() { # name -> "args|timeout"
    local c
    for c in "${CASE_TABLE[@]}"; do
        if [[ ${c%%|*} == "$1" ]]; then echo "${c#*|}"; return 0; fi
    done
    echo "unknown case $1 (known: $(printf '%s ' "${CASE_TABLE[@]%%|*}"))" >&2
    return 1
}

RESULTS="$RES/results.jsonl"
: >"$RESULTS"
# Every login 8 at a time: more overflows ngIRCd's listen backlog of 10, and then the
# kernel's 1 s SYN retries would be measured instead of the server.
COMMON=(--json --runs "$RUNS" --concurrency 8)

record() { # case server -> tags each JSON line of stdin with the case
    python3 -c '
import json, sys
for l in sys.stdin:
    if l.strip():
        v = json.loads(l); v["case"] = sys.argv[1]; v["server"] = sys.argv[2]; print(json.dumps(v))
' "$1" "$2" >>"$RESULTS"
}

run_chatd() { # case [extra chat-bench args...]
    local name=$1 spec args timeout
    shift
    spec=$(case_spec "$name")
    read -r -a args <<<"${spec%|*}"
    timeout=${spec##*|}
    echo "chatd $name ..." >&2
    "$BIN/chat-bench" --chatd "$BIN/chatd" "${COMMON[@]}" --timeout "$timeout" "$@" \
        "${args[@]:1}" "${args[0]}" | record "$name" chatd ||
        echo "chatd $name FAILED (see above); going on" >&2
}

run_irc() { # server case [extra chat-bench args...]
    local server=$1 name=$2 spec args timeout port pid status
    shift 2
    spec=$(case_spec "$name")
    read -r -a args <<<"${spec%|*}"
    timeout=${spec##*|}
    port=$(free_port)
    "start_$server" "$port"
    pid=$SERVER_PID
    STARTED+=("$pid")
    wait_port "$port" "$pid"
    echo "$server $name ..." >&2
    "$BIN/chat-bench" --irc "127.0.0.1:$port" --pid "$pid" --label "$server" "${COMMON[@]}" \
        --timeout "$timeout" "$@" "${args[@]:1}" "${args[0]}" | record "$name" "$server" ||
        echo "$server $name FAILED (see above); going on" >&2
    if [[ ${args[0]} == shutdown ]]; then
        status=0
        wait "$pid" || status=$?
        echo "{\"case\":\"$name\",\"server\":\"$server\",\"exit_status\":$status}" >>"$RESULTS"
    else
        kill "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    fi
}

for server in $SERVERS; do
    case $server in
        ngircd) install_if_missing ngircd ngircd ;;
        inspircd) install_if_missing inspircd inspircd ;;
        *) echo "unknown IRC server $server (ngircd, inspircd)" >&2; exit 2 ;;
    esac
done

echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)" >"$RES/load"
# login_budget CASE: --login-budget for the IRC servers' run of a mass case, from chatd's.
login_budget() {
    python3 -c '
import json, sys
for l in open(sys.argv[1]):
    r = json.loads(l)
    if r.get("case") == sys.argv[2] and r.get("server") == "chatd":
        secs = r.get("extra", {}).get("login_secs")
        if secs:
            print(f"--login-budget {float(sys.argv[3]) * secs:.0f}")
' "$RESULTS" "$1" "${LOGIN_BUDGET_X:-2}"
}

for name in $CASES; do
    echo "load at $name: $(cut -d' ' -f1-3 /proc/loadavg)" >>"$RES/load"
    run_chatd "$name" "$@"
    budget=()
    if [[ $name == mass* ]]; then read -r -a budget <<<"$(login_budget "$name")"; fi
    for server in $SERVERS; do
        run_irc "$server" "$name" "${budget[@]}" "$@"
    done
done
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)" >>"$RES/load"

if [[ -n ${PROFILE:-} ]]; then
    install_if_missing strace strace
    install_if_missing linux-perf perf
    spec=$(case_spec direct200)
    read -r -a args <<<"${spec%|*}"
    events="raw_syscalls:sys_enter"
    for s in read recvfrom write writev sendto sendmsg epoll_wait epoll_pwait epoll_ctl \
             futex accept4 sched_yield clock_gettime fdatasync fsync; do
        events+=",syscalls:sys_enter_$s"
    done
    echo "chatd direct200 under perf stat ..." >&2
    "$BIN/chat-bench" --chatd "$BIN/chatd" "${COMMON[@]}" "$@" "${args[@]:1}" \
        --attach "perf stat -x, -e '$events' -p {pid} -o $RES/perfstat.chatd" "${args[0]}" \
        | record direct200 chatd-perfstat
    for server in $SERVERS; do
        port=$(free_port)
        "start_$server" "$port"
        pid=$SERVER_PID
        STARTED+=("$pid")
        wait_port "$port" "$pid"
        echo "$server direct200 under perf stat ..." >&2
        "$BIN/chat-bench" --irc "127.0.0.1:$port" --pid "$pid" --label "$server" "${COMMON[@]}" \
            "$@" "${args[@]:1}" \
            --attach "perf stat -x, -e '$events' -p {pid} -o $RES/perfstat.$server" "${args[0]}" \
            | record direct200 "$server-perfstat"
        kill "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    echo "chatd direct200 under strace -c ..." >&2
    "$BIN/chat-bench" --chatd "$BIN/chatd" "${COMMON[@]}" "$@" "${args[@]:1}" --timeout 300 \
        --attach "strace -c -f -p {pid} -o $RES/strace.chatd" "${args[0]}" \
        | record direct200 chatd-strace
    echo "chatd direct200 under perf record ..." >&2
    "$BIN/chat-bench" --chatd "$BIN/chatd" "${COMMON[@]}" "$@" "${args[@]:1}" \
        --attach "perf record -q -F 4999 -g -p {pid} -o $RES/perf.data 2>/dev/null" "${args[0]}" \
        | record direct200 chatd-perfrecord
    perf report -i "$RES/perf.data" --stdio --no-children --sort dso,symbol 2>/dev/null \
        | grep -v '^#' | grep -E '^ +[0-9.]+%' | sed -E "s/[ -]+$//" | head -40 >"$RES/perf.top" || true
fi

print_table "$RES" "$SERVERS"
