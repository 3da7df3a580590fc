#!/usr/bin/env bash
# bench_commands.sh — redis-benchmark of arbitrary commands on Eddy and redis-server side by side
# (alternating, same client, same machine), for the workloads ../shared/bench/vs-redis.sh does not
# cover (streams, bitmaps, HyperLogLog, scripts). Prints per workload both medians, the ratio,
# and each server's median CPU microseconds per request (all its threads, from
# /proc/PID/task/*/schedstat) with their ratio `cpux` (<1: Eddy spends less CPU than Redis). On a
# shared 2-core box cpux is the steadier figure: throughput also moves with what the benchmark
# client and the neighbours get of the cores.
#
# Usage: examples/bench_commands.sh EDDY_BIN [ROUNDS] [REQUESTS] [ONLY]
# ONLY, a regex, runs just the workloads whose name matches (e.g. EVALSHA for issue 10 item 6).
# PERSIST=aof (the default) runs both servers with an append-only log fsynced every second, Eddy's
# default and what `vs-redis.sh --redis-args "--appendonly yes --appendfsync everysec"` compares;
# PERSIST=none runs both without one. (Eddy logging its writes against a Redis that logs nothing
# charged Eddy for durability on every write workload.)
# Each workload is "name|setup;setup...|benchmarked command" (redis-benchmark syntax,
# __rand_int__ expands to a random zero-padded number below 100000; Redis refuses it as a bit
# offset, so SETBIT uses a fixed one). A setup prefixed "K*" runs K times
# (through redis-benchmark), others once.
set -euo pipefail
# Workloads are split into words unquoted; `*` (XADD's auto id) must not expand to file names.
set -f
EDDY=${1:?usage: bench_commands.sh EDDY_BIN [ROUNDS] [REQUESTS] [ONLY]}
ROUNDS=${2:-3}
N=${3:-200000}
ONLY=${4:-.}
WORK=$(mktemp -d -t benchcmd.XXXXXX)
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
RP=$(free_port); EP=$(free_port)
case "${PERSIST:-aof}" in
  aof) AOF=(--appendonly yes --appendfsync everysec) ;;
  none) AOF=(--appendonly no) ;;
  *) echo "PERSIST must be aof or none" >&2; exit 2 ;;
esac
redis-server --port "$RP" --save '' "${AOF[@]}" --dir "$WORK" --logfile "$WORK/redis.log" &
RPID=$!
# The HTTP and MessagePack front doors are off: they are not measured, and their default ports
# may be taken by another server on the machine.
"$EDDY" --port "$EP" --dir "$WORK/eddy" --http-port 0 --msgpack-port 0 "${AOF[@]}" > "$WORK/eddy.log" 2>&1 &
EPID=$!
trap 'kill $RPID $EPID 2>/dev/null' EXIT
for p in "$RP" "$EP"; do
  for _ in $(seq 100); do [ "$(redis-cli -p "$p" ping 2>/dev/null)" = PONG ] && break; sleep 0.1; done
  [ "$(redis-cli -p "$p" ping 2>/dev/null)" = PONG ] ||
    { echo "no server on port $p:" >&2; tail -3 "$WORK"/*.log >&2; exit 1; }
done
# EVALSHA_ratelim: the fixed-window rate limiter that task queues run per request, a small
# read-modify-write script (INCR the window's counter, PEXPIRE it on the first hit, 1 while within
# the limit). SCRIPT LOAD gives the same SHA1 on both servers; FLUSHALL keeps the script cache.
# Before timing, the limiter must behave identically on both (1 1 0 and a TTL set).
RATELIM='local n = redis.call("INCR", KEYS[1])
if n == 1 then redis.call("PEXPIRE", KEYS[1], ARGV[2]) end
if n <= tonumber(ARGV[1]) then return 1 end
return 0'
SHA=""
for p in "$RP" "$EP"; do
  s=$(redis-cli -p "$p" SCRIPT LOAD "$RATELIM")
  [ -z "$SHA" ] || [ "$s" = "$SHA" ] || { echo "SCRIPT LOAD digests differ: $SHA $s" >&2; exit 1; }
  SHA=$s
  got=$(for _ in 1 2 3; do redis-cli -p "$p" EVALSHA "$SHA" 1 check:rl 2 60000; done
        redis-cli -p "$p" PTTL check:rl | awk '{print ($1 > 0 && $1 <= 60000)}')
  [ "$(paste -sd' ' <<< "$got")" = "1 1 0 1" ] || { echo "rate limiter misbehaves on port $p: $got" >&2; exit 1; }
done
WORKLOADS=(
  "XADD||XADD bench:s * f v"
  "XRANGE_100|100*XADD bench:r * f v|XRANGE bench:r - + COUNT 100"
  "XREADGROUP|N*XADD bench:g * f v;XGROUP CREATE bench:g g 0|XREADGROUP GROUP g c COUNT 1 NOACK STREAMS bench:g >"
  # Without NOACK each delivery enters the group's pending list, as for a consumer that XACKs.
  "XREADGROUP_PEL|N*XADD bench:p * f v;XGROUP CREATE bench:p g 0|XREADGROUP GROUP g c COUNT 1 STREAMS bench:p >"
  "SETBIT||SETBIT bench:bits 1234567 1"
  "BITCOUNT|SETBIT bench:bc 1000000 1|BITCOUNT bench:bc"
  "PFADD||PFADD bench:hll __rand_int__"
  "PFCOUNT|PFADD bench:pc a b c d e f g|PFCOUNT bench:pc"
  "EVALSHA_ratelim||EVALSHA $SHA 1 rl:__rand_int__ 100 1000"
)
# Globbing is off (`set -f` above), so find lists the threads.
cpu_ns() { find /proc/"$1"/task -maxdepth 2 -name schedstat -exec cat {} + 2>/dev/null | awk '{s+=$1} END{printf "%.0f", s}'; }
rps() { # port pid command... -> "requests/s server-CPU-us-per-request"
  local c0 out
  c0=$(cpu_ns "$2")
  out=$(redis-benchmark -p "$1" -c 50 -n "$N" -r 100000 --csv "${@:3}" 2>/dev/null | awk -F'"' 'NR==2{print $4}')
  echo "$out $(awk -v a="$c0" -v b="$(cpu_ns "$2")" -v n="$N" 'BEGIN{printf "%.3f", (b-a)/1000/n}')"
}
median() { sort -n | awk '{a[NR]=$1} END{print a[int((NR+1)/2)]}'; }
echo "persistence: ${PERSIST:-aof} (both servers)"
printf "%-16s %12s %12s %7s %7s %7s %6s\n" workload redis eddy ratio r_us e_us cpux
for w in "${WORKLOADS[@]}"; do
  IFS='|' read -r name setup cmd <<< "$w"
  [[ "$name" =~ $ONLY ]] || continue
  for p in "$RP" "$EP"; do
    redis-cli -p "$p" flushall >/dev/null
    IFS=';' read -r -a steps <<< "$setup"
    for st in "${steps[@]}"; do
      [ -n "$st" ] || continue
      if [[ "$st" == *"*"* && "${st%%\**}" =~ ^(N|[0-9]+)$ ]]; then
        k=${st%%\**}; [ "$k" = N ] && k=$((N * ROUNDS))
        # shellcheck disable=SC2086
        redis-benchmark -p "$p" -c 50 -P 16 -n "$k" ${st#*\*} >/dev/null 2>&1
      else
        # shellcheck disable=SC2086
        redis-cli -p "$p" $st >/dev/null
      fi
    done
  done
  # A workload whose command errors would measure error replies: check it once on both.
  for p in "$RP" "$EP"; do
    # shellcheck disable=SC2086
    if redis-cli -p "$p" ${cmd//__rand_int__/1} 2>&1 | grep -q '^ERR\|^WRONGTYPE\|^NOGROUP'; then
      echo "$name: the command fails on port $p" >&2; exit 1
    fi
  done
  r=(); e=()
  for _ in $(seq "$ROUNDS"); do
    # shellcheck disable=SC2086
    r+=("$(rps "$RP" "$RPID" $cmd)"); e+=("$(rps "$EP" "$EPID" $cmd)")
  done
  col() { printf '%s\n' "${@:2}" | awk -v k="$1" '{print $k}' | median; }
  rm=$(col 1 "${r[@]}"); em=$(col 1 "${e[@]}"); rc=$(col 2 "${r[@]}"); ec=$(col 2 "${e[@]}")
  printf "%-16s %12.0f %12.0f %7.3f %7.2f %7.2f %6.3f\n" "$name" "$rm" "$em" \
    "$(awk -v a="$em" -v b="$rm" 'BEGIN{print a/b}')" "$rc" "$ec" "$(awk -v a="$ec" -v b="$rc" 'BEGIN{print a/b}')"
done
