#!/usr/bin/env bash
# bench_commands.sh — redis-benchmark of arbitrary commands on Eddy and redis-server side by side
# (alternating, same client, same machine), for the workloads ../shared/bench/vs-redis.sh does not
# cover (streams, bitmaps, HyperLogLog, scripts). Prints per workload both medians and the ratio.
#
# Usage: examples/bench_commands.sh EDDY_BIN [ROUNDS] [REQUESTS]
# Each workload is "name|setup;setup...|benchmarked command" (redis-benchmark syntax,
# __rand_int__ expands to a random zero-padded number below 100000; Redis refuses it as a bit
# offset, so SETBIT uses a fixed one). A setup prefixed "K*" runs K times
# (through redis-benchmark), others once.
set -euo pipefail
# Commands contain `*` (XADD ids): word splitting must not expand it as a glob.
set -f
EDDY=${1:?usage: bench_commands.sh EDDY_BIN [ROUNDS] [REQUESTS]}
ROUNDS=${2:-3}
N=${3:-200000}
WORK=$(mktemp -d -t benchcmd.XXXXXX)
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
RP=$(free_port); EP=$(free_port)
redis-server --port "$RP" --save '' --appendonly no --dir "$WORK" --logfile "$WORK/redis.log" &
RPID=$!
"$EDDY" --port "$EP" --dir "$WORK/eddy" > "$WORK/eddy.log" 2>&1 &
EPID=$!
trap 'kill $RPID $EPID 2>/dev/null' EXIT
for p in "$RP" "$EP"; do
  for _ in $(seq 100); do [ "$(redis-cli -p "$p" ping 2>/dev/null)" = PONG ] && break; sleep 0.1; done
done
WORKLOADS=(
  "XADD||XADD bench:s * f v"
  "XRANGE_100|100*XADD bench:r * f v|XRANGE bench:r - + COUNT 100"
  "XREADGROUP|N*XADD bench:g * f v;XGROUP CREATE bench:g g 0|XREADGROUP GROUP g c COUNT 1 NOACK STREAMS bench:g >"
  "SETBIT||SETBIT bench:bits 1234567 1"
  "BITCOUNT|SETBIT bench:bc 1000000 1|BITCOUNT bench:bc"
  "PFADD||PFADD bench:hll __rand_int__"
  "PFCOUNT|PFADD bench:pc a b c d e f g|PFCOUNT bench:pc"
)
rps() { # port command...
  redis-benchmark -p "$1" -c 50 -n "$N" -r 100000 --csv "${@:2}" 2>/dev/null | awk -F'"' 'NR==2{print $4}'
}
median() { sort -n | awk '{a[NR]=$1} END{print a[int((NR+1)/2)]}'; }
printf "%-12s %12s %12s %7s\n" workload redis eddy ratio
for w in "${WORKLOADS[@]}"; do
  IFS='|' read -r name setup cmd <<< "$w"
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
    r+=("$(rps "$RP" $cmd)"); e+=("$(rps "$EP" $cmd)")
  done
  rm=$(printf '%s\n' "${r[@]}" | median); em=$(printf '%s\n' "${e[@]}" | median)
  printf "%-12s %12.0f %12.0f %7.3f\n" "$name" "$rm" "$em" "$(awk -v a="$em" -v b="$rm" 'BEGIN{print a/b}')"
done
