#!/usr/bin/env bash
# follow_sync_bench.sh EDDY_BIN [KEYS] [ROUNDS] — Eddy and redis-server each following a
# redis-server primary (REPLICAOF), alternating: the full synchronisation's time for KEYS keys
# (default 1,000,000; from starting the follower to master_link_status:up), then the primary's
# SET throughput with the follower attached (redis-benchmark -P 16 -c 50, 1M requests), the
# time WAIT 1 then takes (the follower catching up), and a check that the follower holds what
# the primary holds. Both followers persist (Eddy's defaults; Redis with appendonly yes /
# everysec). Needs redis-server, redis-cli, redis-benchmark, python3, bc.
set -u
BIN=${1:?usage: follow_sync_bench.sh EDDY_BIN [KEYS] [ROUNDS]}
KEYS=${2:-1000000}
ROUNDS=${3:-2}
WORK=$(mktemp -d -t followbench.XXXXXX)
P=7593 F=7594
trap 'redis-cli -p $F shutdown nosave >/dev/null 2>&1; redis-cli -p $P shutdown nosave >/dev/null 2>&1; rm -rf "$WORK"' EXIT
python3 - "$KEYS" > "$WORK/load.resp" <<'PY'
import sys
out = sys.stdout.buffer
for i in range(int(sys.argv[1])):
    k = b"key:%d" % i
    out.write(b"*3\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$3\r\nxyz\r\n" % (len(k), k))
PY
up() { for _ in $(seq 1 500); do redis-cli -p "$1" ping >/dev/null 2>&1 && return 0; sleep 0.02; done; return 1; }
now() { date +%s.%N; }
run() { # eddy|redis
  rm -rf "$WORK/p" "$WORK/f"; mkdir -p "$WORK/p" "$WORK/f"
  (cd "$WORK/p" && exec redis-server --port $P --save '' --appendonly no \
    --repl-diskless-sync-delay 0 >log 2>&1) &
  up $P || { echo "redis did not start"; exit 1; }
  redis-cli -p $P --pipe < "$WORK/load.resp" >/dev/null
  local t0 t1 t2 t3 rps
  t0=$(now)
  if [ "$1" = eddy ]; then
    (cd "$WORK/f" && exec "$BIN" --port $F --http-port 0 --msgpack-port 0 \
      --replicaof 127.0.0.1 $P >log 2>&1) &
  else
    (cd "$WORK/f" && exec redis-server --port $F --replicaof 127.0.0.1 $P --save '' \
      --appendonly yes --appendfsync everysec >log 2>&1) &
  fi
  until redis-cli -p $F info replication 2>/dev/null | grep -q master_link_status:up; do sleep 0.02; done
  t1=$(now)
  rps=$(redis-benchmark -p $P -t set -n 1000000 -P 16 -c 50 -r 1000000 -q 2>/dev/null | tr '\r' '\n' |
    grep -o "SET: [0-9.]*" | tail -1 | cut -d' ' -f2)
  t2=$(now)
  redis-cli -p $P wait 1 60000 >/dev/null
  t3=$(now)
  local pk fk
  pk=$(redis-cli -p $P dbsize); fk=$(redis-cli -p $F dbsize)
  printf '%-5s sync %.2f s  primary SET %s/s  catch-up %.3f s  keys primary %s follower %s%s\n' "$1" \
    "$(echo "$t1 - $t0" | bc)" "$rps" "$(echo "$t3 - $t2" | bc)" "$pk" "$fk" \
    "$([ "$pk" = "$fk" ] || echo '  MISMATCH')"
  redis-cli -p $F shutdown nosave >/dev/null 2>&1; redis-cli -p $P shutdown nosave >/dev/null 2>&1
  sleep 0.5
}
for _ in $(seq 1 "$ROUNDS"); do run eddy; run redis; done
