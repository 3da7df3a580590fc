#!/usr/bin/env bash
# ab_bench.sh — redis-benchmark of two Eddy binaries, alternating, on the same machine: the A/B
# for a change (the before and after binaries), where bench_commands.sh compares with Redis.
# Prints per round and side the requests/s and the server's CPU microseconds per request.
#
# Usage: examples/ab_bench.sh BIN_A BIN_B ROUNDS -- REDIS_BENCHMARK_ARGS (must include -n N)
# e.g.   examples/ab_bench.sh /tmp/old /tmp/new 3 -- -n 1000000 -c 50 -P 16 -t rpush
set -euo pipefail
A=${1:?usage: ab_bench.sh BIN_A BIN_B ROUNDS -- ARGS}; B=${2:?}; R=${3:?}; shift 3
[ "${1:-}" = "--" ] && shift
N=$(grep -oP '(?<=-n )\d+' <<< "$*") || { echo "give -n N" >&2; exit 2; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
WORK=$(mktemp -d -t abbench.XXXXXX)
PA_PORT=$(free_port); PB_PORT=$(free_port)
"$A" --port "$PA_PORT" --dir "$WORK/a" --http-port 0 --msgpack-port 0 > "$WORK/a.log" 2>&1 & PA=$!
"$B" --port "$PB_PORT" --dir "$WORK/b" --http-port 0 --msgpack-port 0 > "$WORK/b.log" 2>&1 & PB=$!
trap 'kill $PA $PB 2>/dev/null; wait $PA $PB 2>/dev/null; rm -rf "$WORK"' EXIT
for p in "$PA_PORT" "$PB_PORT"; do
  for _ in $(seq 100); do [ "$(redis-cli -p "$p" ping 2>/dev/null)" = PONG ] && break; sleep 0.1; done
done
# utime + stime of the server process, in clock ticks.
cpu() { awk '{print $14+$15}' "/proc/$1/stat"; }
TICK=$(getconf CLK_TCK)
for i in $(seq "$R"); do
  for side in A B; do
    if [ $side = A ]; then p=$PA_PORT; pid=$PA; else p=$PB_PORT; pid=$PB; fi
    c0=$(cpu $pid)
    rps=$(redis-benchmark -p "$p" "$@" --csv 2>/dev/null | tail -1 | cut -d, -f2 | tr -d '"')
    c1=$(cpu $pid)
    echo "round $i $side rps=$rps us/req=$(echo "($c1-$c0)*1000000/$TICK/$N" | bc -l | cut -c1-5)"
  done
done
