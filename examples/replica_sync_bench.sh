#!/usr/bin/env bash
# replica_sync_bench.sh EDDY_BIN [KEYS] [ROUNDS] — a redis-server replica following Eddy and
# following redis-server, alternating: the full synchronisation's time for KEYS keys (default
# 1,000,000; time from starting the replica to master_link_status:up), then SET throughput on
# the primary with the replica attached (redis-benchmark -P 16 -c 50, 1M requests), then a
# check that the replica holds what the primary holds. Redis runs with appendonly yes /
# everysec (Eddy's default) and repl-diskless-sync-delay 0 (its default 5 s waits for more
# replicas). Needs redis-server, redis-cli, redis-benchmark, python3.
set -u
BIN=${1:?usage: replica_sync_bench.sh EDDY_BIN [KEYS] [ROUNDS]}
KEYS=${2:-1000000}
ROUNDS=${3:-2}
WORK=$(mktemp -d -t replbench.XXXXXX)
trap 'redis-cli -p 7592 shutdown nosave >/dev/null 2>&1; redis-cli -p 7591 shutdown nosave >/dev/null 2>&1; rm -rf "$WORK"' EXIT
python3 - "$KEYS" > "$WORK/load.resp" <<'PY'
import sys
out = sys.stdout.buffer
for i in range(int(sys.argv[1])):
    k = b"key:%d" % i
    out.write(b"*3\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$3\r\nxyz\r\n" % (len(k), k))
PY
up() { for _ in $(seq 1 500); do redis-cli -p "$1" ping >/dev/null 2>&1 && return 0; sleep 0.02; done; return 1; }
run() { # eddy|redis
  local P=7591 R=7592
  rm -rf "$WORK/p" "$WORK/r"; mkdir -p "$WORK/p" "$WORK/r"
  if [ "$1" = eddy ]; then
    (cd "$WORK/p" && exec "$BIN" --port $P >log 2>&1) &
  else
    (cd "$WORK/p" && exec redis-server --port $P --save '' --appendonly yes --appendfsync everysec \
      --repl-diskless-sync-delay 0 >log 2>&1) &
  fi
  up $P || { echo "$1 did not start"; exit 1; }
  redis-cli -p $P --pipe < "$WORK/load.resp" >/dev/null
  local t0 t1 rps
  t0=$(date +%s.%N)
  (cd "$WORK/r" && exec redis-server --port $R --replicaof 127.0.0.1 $P --save '' --appendonly no >log 2>&1) &
  until redis-cli -p $R info replication 2>/dev/null | grep -q master_link_status:up; do sleep 0.02; done
  t1=$(date +%s.%N)
  rps=$(redis-benchmark -p $P -t set -n 1000000 -P 16 -c 50 -r 1000000 -q 2>/dev/null | tr '\r' '\n' |
    grep -o "SET: [0-9.]*" | tail -1 | cut -d' ' -f2)
  redis-cli -p $P wait 1 10000 >/dev/null
  local pk rk
  pk=$(redis-cli -p $P dbsize); rk=$(redis-cli -p $R dbsize)
  printf '%-5s sync %.2f s  SET with replica %s/s  keys primary %s replica %s%s\n' "$1" \
    "$(echo "$t1 - $t0" | bc)" "$rps" "$pk" "$rk" "$([ "$pk" = "$rk" ] || echo '  MISMATCH')"
  redis-cli -p $R shutdown nosave >/dev/null 2>&1; redis-cli -p $P shutdown nosave >/dev/null 2>&1
  sleep 0.5
}
for _ in $(seq 1 "$ROUNDS"); do run eddy; run redis; done
