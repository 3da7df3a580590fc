"""Publish-to-receive latency of pub/sub fan-out, for comparing Eddy with Redis side by side.

Usage: python3 examples/pubsub_latency.py <port> [--subs 50] [--rate 1000] [--seconds 3] [--size 64]

One publisher sends PUBLISH at a fixed rate, each message carrying its send time (ns); `subs`
subscribers, all read by one selector loop, note when each message arrives. Prints the p50, p99
and max of (receive - send) over every delivery, and exits 1 if a delivery is missing. The client
is Python, so absolute figures include its own overhead; run it against both servers with the
same arguments and compare.
"""
import argparse, selectors, socket, sys, threading, time

ap = argparse.ArgumentParser()
ap.add_argument("port", type=int)
ap.add_argument("--subs", type=int, default=50)
ap.add_argument("--rate", type=int, default=1000)
ap.add_argument("--seconds", type=float, default=3.0)
ap.add_argument("--size", type=int, default=64)
a = ap.parse_args()

def resp(*args):
    out = [b"*%d\r\n" % len(args)]
    for x in args:
        x = x if isinstance(x, bytes) else str(x).encode()
        out.append(b"$%d\r\n%s\r\n" % (len(x), x))
    return b"".join(out)

subs = []
for _ in range(a.subs):
    s = socket.create_connection(("127.0.0.1", a.port))
    s.sendall(resp("SUBSCRIBE", "lat"))
    subs.append(s)
# Wait until every subscription is confirmed.
for s in subs:
    buf = b""
    while buf.count(b"\r\n") < 6:
        buf += s.recv(4096)
    s.setblocking(False)

total = int(a.rate * a.seconds)
pad = b"x" * max(0, a.size - 20)
lat = []
bufs = {s.fileno(): b"" for s in subs}
sel = selectors.DefaultSelector()
for s in subs:
    sel.register(s, selectors.EVENT_READ)

def publish():
    p = socket.create_connection(("127.0.0.1", a.port))
    t0 = time.perf_counter()
    for i in range(total):
        due = t0 + i / a.rate
        while time.perf_counter() < due:
            time.sleep(0.0002)
        p.sendall(resp("PUBLISH", "lat", b"%020d" % time.perf_counter_ns() + pad))
        p.recv(64)

th = threading.Thread(target=publish)
th.start()
deadline = time.time() + a.seconds + 5
while len(lat) < total * a.subs and time.time() < deadline:
    for key, _ in sel.select(timeout=0.5):
        now = time.perf_counter_ns()
        s = key.fileobj
        try:
            data = s.recv(1 << 16)
        except BlockingIOError:
            continue
        b = bufs[s.fileno()] + data
        # Each message: *3 $7 message $3 lat $<n> <20-digit ns><pad>
        while True:
            i = b.find(b"$3\r\nlat\r\n$")
            if i < 0:
                break
            j = b.find(b"\r\n", i + 10)
            if j < 0:
                break
            n = int(b[i + 10:j])
            if len(b) < j + 2 + n + 2:
                break
            sent = int(b[j + 2:j + 22])
            lat.append(now - sent)
            b = b[j + 2 + n + 2:]
        bufs[s.fileno()] = b
th.join()
lat.sort()
if not lat:
    print("no message received"); sys.exit(1)
pct = lambda q: lat[min(len(lat) - 1, int(q * len(lat)))] / 1e6
print(f"deliveries {len(lat)}/{total * a.subs}  p50 {pct(0.5):.3f} ms  p99 {pct(0.99):.3f} ms  max {lat[-1] / 1e6:.3f} ms")
sys.exit(0 if len(lat) == total * a.subs else 1)
