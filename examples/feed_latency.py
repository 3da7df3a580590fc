"""Measures a tailing change-feed subscriber's write-to-push latency at a low write rate.

Usage: python3 examples/feed_latency.py <port> [writes]

One raw-socket subscriber (CHANGES SUBSCRIBE latest, RESP3) and one writer: each SET is timed
from its send to the subscriber receiving the change, one SET every 3 ms (so the log's writer is
idle between writes, the case where delivery waits for it). Prints p50 and p99 in ms.
"""
import socket, sys, time

port = int(sys.argv[1])
n = int(sys.argv[2]) if len(sys.argv) > 2 else 300
sub = socket.create_connection(("127.0.0.1", port))
sub.sendall(b"HELLO 3\r\nCHANGES SUBSCRIBE latest\r\n")
time.sleep(0.3)
sub.recv(1 << 16)
w = socket.create_connection(("127.0.0.1", port))
lat = []
for i in range(n):
    t = time.perf_counter()
    w.sendall(b"SET feed-latency:%d v\r\n" % i)
    w.recv(100)
    buf = b""
    # The push ends with the event's args, the last field written.
    while b"args" not in buf:
        buf += sub.recv(1 << 16)
    lat.append((time.perf_counter() - t) * 1e3)
    time.sleep(0.003)
lat.sort()
print("p50 %.3f ms  p99 %.3f ms  (%d writes)" % (lat[len(lat) // 2], lat[int(len(lat) * 0.99) - 1], n))
