#!/usr/bin/env bash
# replica_sync_bench.sh EDDY_BIN [KEYS] [ROUNDS] [--follow] — Eddy against redis-server in
# replication, alternating, KEYS keys (default 1,000,000), ROUNDS rounds (default 2):
# * default: a redis-server replica following Eddy, then following redis-server (Eddy's role);
# * --follow: Eddy following a redis-server primary (REPLICAOF), then redis-server following it.
# Each run prints the full synchronisation's time (from starting the replica to
# master_link_status:up), the primary's SET throughput with the replica attached
# (redis-benchmark -P 16 -c 50, 1M requests), the time WAIT 1 then takes (the replica catching
# up), and a check that the replica holds what the primary holds. With --follow, the replica is
# then restarted on its data and the second synchronisation timed, with the records it wrote to
# Eddy's log (only what differs from what the follower holds: none here). Whichever side is compared
# persists as Eddy does by default (Redis with appendonly yes / everysec); Redis primaries run
# with repl-diskless-sync-delay 0 (its default 5 s waits for more replicas).
# Needs redis-server, redis-cli, redis-benchmark, python3, bc.
set -u
BIN=${1:?usage: replica_sync_bench.sh EDDY_BIN [KEYS] [ROUNDS] [--follow]}
KEYS=${2:-1000000}
ROUNDS=${3:-2}
FOLLOW=$([ "${4:-}" = --follow ] && echo 1 || echo 0)
WORK=$(mktemp -d -t replbench.XXXXXX)
P=7591 R=7592
trap 'redis-cli -p $R shutdown nosave >/dev/null 2>&1; redis-cli -p $P shutdown nosave >/dev/null 2>&1; rm -rf "$WORK"' EXIT
python3 - "$KEYS" > "$WORK/load.resp" <<'PY'
import sys
out = sys.stdout.buffer
for i in range(int(sys.argv[1])):
    k = b"key:%d" % i
    out.write(b"*3\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$3\r\nxyz\r\n" % (len(k), k))
PY
up() { for _ in $(seq 1 500); do redis-cli -p "$1" ping >/dev/null 2>&1 && return 0; sleep 0.02; done; return 1; }
now() { date +%s.%N; }
# start DIR PORT eddy|redis|redis-persist [EXTRA ARGS...]
start() {
  local dir=$1 port=$2 kind=$3; shift 3
  case $kind in
    eddy) (cd "$dir" && exec "$BIN" --port "$port" --http-port 0 --msgpack-port 0 "$@" >log 2>&1) & ;;
    redis) (cd "$dir" && exec redis-server --port "$port" --save '' --appendonly no \
      --repl-diskless-sync-delay 0 "$@" >log 2>&1) & ;;
    redis-persist) (cd "$dir" && exec redis-server --port "$port" --save '' --appendonly yes \
      --appendfsync everysec --repl-diskless-sync-delay 0 "$@" >log 2>&1) & ;;
  esac
}
# stop PORT [nosave]: SHUTDOWN, and wait until the server is gone. A Redis replica refuses
# SHUTDOWN while it writes its initial AOF after a sync: wait for that first.
stop() {
  while redis-cli -p "$1" info persistence 2>/dev/null |
      grep -q 'aof_rewrite_in_progress:1\|aof_rewrite_scheduled:1'; do sleep 0.05; done
  redis-cli -p "$1" shutdown ${2:-} >/dev/null 2>&1
  while redis-cli -p "$1" ping >/dev/null 2>&1; do sleep 0.02; done
}
run() { # eddy|redis: the side under comparison
  rm -rf "$WORK/p" "$WORK/r"; mkdir -p "$WORK/p" "$WORK/r"
  local pk=redis rk=redis
  if [ $FOLLOW = 1 ]; then rk=$([ "$1" = eddy ] && echo eddy || echo redis-persist)
  else pk=$([ "$1" = eddy ] && echo eddy || echo redis-persist); fi
  start "$WORK/p" $P $pk
  up $P || { echo "primary did not start"; exit 1; }
  redis-cli -p $P --pipe < "$WORK/load.resp" >/dev/null
  local t0 t1 t2 t3 rps
  t0=$(now)
  start "$WORK/r" $R $rk --replicaof 127.0.0.1 $P
  until redis-cli -p $R info replication 2>/dev/null | grep -q master_link_status:up; do sleep 0.02; done
  t1=$(now)
  rps=$(redis-benchmark -p $P -t set -n 1000000 -P 16 -c 50 -r 1000000 -q 2>/dev/null | tr '\r' '\n' |
    grep -o "SET: [0-9.]*" | tail -1 | cut -d' ' -f2)
  t2=$(now)
  redis-cli -p $P wait 1 60000 >/dev/null
  t3=$(now)
  local pn rn
  pn=$(redis-cli -p $P dbsize); rn=$(redis-cli -p $R dbsize)
  printf '%-5s sync %.2f s  primary SET %s/s  catch-up %.3f s  keys primary %s replica %s%s\n' "$1" \
    "$(echo "$t1 - $t0" | bc)" "$rps" "$(echo "$t3 - $t2" | bc)" "$pn" "$rn" \
    "$([ "$pn" = "$rn" ] || echo '  MISMATCH')"
  if [ $FOLLOW = 1 ]; then
    # The replica restarts on its data and synchronises again (in full: neither keeps the
    # primary's position across a restart); Eddy's log gets only what differs, here nothing.
    local before after
    before=$(redis-cli -p $R info changes | tr -d '\r' | grep -oP '(?<=changes_last_offset:)\d+' || echo -)
    stop $R
    t0=$(now)
    start "$WORK/r" $R $rk --replicaof 127.0.0.1 $P
    until redis-cli -p $R info replication 2>/dev/null | grep -q master_link_status:up; do sleep 0.02; done
    t1=$(now)
    after=$(redis-cli -p $R info changes | tr -d '\r' | grep -oP '(?<=changes_last_offset:)\d+' || echo -)
    rn=$(redis-cli -p $R dbsize)
    printf '%-5s restart and sync again %.2f s  log records written %s  keys replica %s%s\n' "$1" \
      "$(echo "$t1 - $t0" | bc)" "$([ "$before" = - ] && echo - || echo $((after - before)))" "$rn" \
      "$([ "$pn" = "$rn" ] || echo '  MISMATCH')"
  fi
  stop $R nosave; stop $P nosave
}
for _ in $(seq 1 "$ROUNDS"); do run eddy; run redis; done
