"""Measures what one change-feed subscriber tailing at full write rate costs the writers.

Usage: python3 examples/feed_tail_impact.py <port> [requests] [rounds]   (needs redis-benchmark)

Each round runs redis-benchmark SET -P16 -c50 once without and once with a raw-socket
subscriber (CHANGES SUBSCRIBE latest, bytes read into one reused buffer and discarded, so the
client itself costs little), and prints that round's throughput drop and the subscriber's lag
from INFO changes. Without and with alternate, so a drift of the machine's speed during the run
does not read as a cost; the last line gives every round's drop and their median.
"""
import re, socket, statistics, subprocess, sys, threading, time

port = int(sys.argv[1])
n = int(sys.argv[2]) if len(sys.argv) > 2 else 500000
rounds = int(sys.argv[3]) if len(sys.argv) > 3 else 3


def bench():
    out = subprocess.run(
        ["redis-benchmark", "-p", str(port), "-t", "set", "-n", str(n), "-P", "16", "-c", "50",
         "-r", "100000", "-q"], capture_output=True, text=True).stdout
    m = re.findall(r"SET: ([\d.]+) requests per second", out.replace("\r", "\n"))
    return float(m[-1]) if m else 0.0


def info_lag():
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(b"INFO changes\r\n")
    time.sleep(0.2)
    d = s.recv(65536).decode(errors="replace")
    s.close()
    return [l for l in d.splitlines() if l.startswith("reader_") or l.startswith("changes_last_offset")]


class Subscriber:
    """A raw subscriber that reads and discards: a fresh bytes object per recv cost the
    client 2-3x more CPU, which on a small machine is taken from the writers measured."""

    def __init__(self):
        self.sock = socket.create_connection(("127.0.0.1", port))
        self.sock.sendall(b"HELLO 3\r\nCHANGES SUBSCRIBE latest\r\n")
        self.bytes = 0
        self.stop = False
        self.thread = threading.Thread(target=self.drain, daemon=True)
        self.thread.start()

    def drain(self):
        buf = bytearray(1 << 20)
        self.sock.settimeout(0.5)
        while not self.stop:
            try:
                k = self.sock.recv_into(buf)
                if not k:
                    break
                self.bytes += k
            except socket.timeout:
                pass

    def close(self):
        self.stop = True
        self.thread.join()
        self.sock.close()


drops, total = [], 0
for r in range(rounds):
    base = bench()
    sub = Subscriber()
    time.sleep(0.3)
    withsub = bench()
    print(f"round {r + 1}: without {base:.0f}/s, with subscriber {withsub:.0f}/s, "
          f"drop {1 - withsub / base:.1%}; lag right after: {info_lag()}")
    time.sleep(1)
    print(f"  lag 1 s later: {info_lag()}")
    sub.close()
    total += sub.bytes
    drops.append(1 - withsub / base)
print(f"drops: {' '.join(f'{d:.1%}' for d in drops)}  median drop: {statistics.median(drops):.1%}  "
      f"subscriber bytes: {total}")
