#!/usr/bin/env bash
# code_order.sh — regenerate src/code-order.txt, the function layout the linker uses for release
# builds of eddy-server (build.rs explains why). Run it after changes that add or rename hot
# functions, or after a dependency or toolchain update (symbol hashes change with them; a stale
# file only loses its effect, it never breaks the build).
#
# How: build the release server in both ways cargo links it (`cargo build --release`, and as
# `cargo test --release` does: the library's symbol hashes differ between the two), run the
# plain build under callgrind through a representative workload (redis-benchmark's default
# tests, plain and pipelined, small collections, streams, bitmaps, HyperLogLog, a script,
# transactions and introspection), and list every function that ran while it served (start-up
# is left out), the most instructions first, in both builds' spelling.
#
# Needs valgrind, redis-cli and redis-benchmark. Takes a few minutes plus the two builds.
set -euo pipefail
set -f
cd "$(dirname "$0")/.."
for t in valgrind redis-cli redis-benchmark python3 nm; do
  command -v "$t" >/dev/null || { echo "missing $t" >&2; exit 2; }
done
WORK=$(mktemp -d -t codeorder.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
# As `cargo test --release` builds it (all test targets unify features differently).
cargo build --release --tests >&2
cp target/release/eddy-server "$WORK/tests-build"
cargo build --release >&2
cp target/release/eddy-server "$WORK/plain-build"

PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()')
valgrind --tool=callgrind --demangle=no --callgrind-out-file="$WORK/callgrind.out" \
  "$WORK/plain-build" --port "$PORT" --dir "$WORK/data" --http-port 0 --msgpack-port 0 \
  > "$WORK/valgrind.log" 2>&1 &
VG=$!
for _ in $(seq 600); do [ "$(redis-cli -p "$PORT" ping 2>/dev/null)" = PONG ] && break; sleep 0.2; done
# Start-up code runs before any request, wherever it lies: only what serving runs is ordered.
callgrind_control --zero "$VG" >/dev/null
cli() { redis-cli -p "$PORT" "$@" >/dev/null; }
bench() { redis-benchmark -p "$PORT" -q -c 10 -r 1000 "$@" >/dev/null 2>&1; }
for P in 1 16; do
  bench -n 3000 -P "$P"
  bench -n 2000 -P "$P" XADD s '*' f v
  bench -n 500 -P "$P" XRANGE s - + COUNT 100
  bench -n 2000 -P "$P" SETBIT bits 1234567 1
  bench -n 2000 -P "$P" BITCOUNT bits
  bench -n 2000 -P "$P" PFADD hll __rand_int__
  bench -n 2000 -P "$P" PFCOUNT hll
  bench -n 2000 -P "$P" EXPIRE key:__rand_int__ 100
  bench -n 2000 -P "$P" PUBLISH chan msg
done
# Small collections, the common case (intset and listpack encodings), written and read back.
python3 - <<'PY' | redis-cli -p "$PORT" --pipe >/dev/null
import sys
def cmd(*args):
    a = [str(x).encode() for x in args]
    sys.stdout.buffer.write(b"*%d\r\n" % len(a) + b"".join(b"$%d\r\n%s\r\n" % (len(x), x) for x in a))
for k in range(200):
    for j in range(30):
        cmd("SADD", f"ids:{k}", j * (7, 100003, 10**12)[k % 3])
        cmd("HSET", f"h:{k}", f"field{j}", f"value{j * k}")
        cmd("ZADD", f"z:{k}", j * 1.5, f"member{j}")
        cmd("RPUSH", f"l:{k}", f"item{j}")
    cmd("SISMEMBER", f"ids:{k}", 14)
    cmd("SMEMBERS", f"ids:{k}")
    cmd("HGETALL", f"h:{k}")
    cmd("ZRANGE", f"z:{k}", 0, -1, "WITHSCORES")
    cmd("ZSCORE", f"z:{k}", "member3")
    cmd("LRANGE", f"l:{k}", 0, -1)
PY
cli XGROUP CREATE s g 0
bench -n 2000 XREADGROUP GROUP g c COUNT 1 STREAMS s '>'
SHA=$(redis-cli -p "$PORT" SCRIPT LOAD 'local n = redis.call("INCR", KEYS[1])
if n == 1 then redis.call("PEXPIRE", KEYS[1], ARGV[2]) end
return n <= tonumber(ARGV[1]) and 1 or 0')
bench -n 2000 EVALSHA "$SHA" 1 rl:__rand_int__ 100 1000
printf 'MULTI\nINCR n\nSET k v\nEXEC\nINFO\nCLIENT LIST\nSCAN 0\nDBSIZE\n' | redis-cli -p "$PORT" >/dev/null
cli SHUTDOWN NOSAVE || true
wait "$VG" || true

python3 - "$WORK/callgrind.out" "$WORK/plain-build" "$WORK/tests-build" > src/code-order.txt <<'PY'
import collections, re, subprocess, sys

def self_costs(path):
    """Instructions each function executed itself (callgrind's exclusive cost)."""
    names, cost, cur, after_call = {}, collections.Counter(), None, False
    def name(s):
        m = re.match(r"\((\d+)\)(?: (.*))?", s)
        if not m:
            return s
        if m.group(2):
            names[m.group(1)] = m.group(2)
        return names.get(m.group(1))
    for line in open(path):
        if line.startswith("fn="):
            cur = name(line[3:].rstrip("\n"))
        elif line.startswith("cfn="):
            name(line[4:].rstrip("\n"))
        elif line.startswith("calls="):
            after_call = True  # the next cost line is the call's inclusive cost
        elif line[:1].isdigit() or line[:1] in "+-*":
            if after_call:
                after_call = False
                continue
            parts = line.split()
            if cur and len(parts) > 1:
                cost[cur] += int(parts[1])
    return cost

def plain(sym):
    """A Rust symbol without its hash and ThinLTO suffix: the same in both builds."""
    return re.sub(r"17h[0-9a-f]{16}E$", "E", re.sub(r"\.llvm\.\d+$", "", sym))

def text_symbols(binary):
    out = subprocess.run(["nm", "--defined-only", binary], capture_output=True, text=True).stdout
    by_plain = collections.defaultdict(set)
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[1] in "tTwW":
            by_plain[plain(parts[2])].add(parts[2])
    return by_plain

# The profile names the plain build's symbols. The tests build spells a function differently
# only by its hash; a name is carried over when it stands for one function in both builds
# (generic instances share a name and are told apart by the hash alone).
tests = text_symbols(sys.argv[3])
plain_build = text_symbols(sys.argv[2])
for sym, c in sorted(self_costs(sys.argv[1]).items(), key=lambda kv: -kv[1]):
    key = plain(sym)
    if c <= 0 or sym not in plain_build.get(key, ()):
        continue
    print(sym)
    other = tests.get(key, set())
    if len(plain_build[key]) == 1 and len(other) == 1 and sym not in other:
        print(next(iter(other)))
PY
echo "src/code-order.txt: $(wc -l < src/code-order.txt) functions" >&2
