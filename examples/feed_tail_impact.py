"""Measures what one change-feed subscriber tailing at full write rate costs the writers.

Usage: python3 examples/feed_tail_impact.py <port> [requests]   (needs redis-benchmark)

Runs redis-benchmark SET -P16 -c50 twice without and twice with a raw-socket subscriber
(CHANGES SUBSCRIBE latest, bytes read and discarded, so the client itself costs almost
nothing), and prints the throughput drop and the subscriber's lag from INFO changes.
"""
import socket, subprocess, sys, time, re, threading
port = int(sys.argv[1]); n = int(sys.argv[2]) if len(sys.argv) > 2 else 500000
def bench():
    out = subprocess.run(["redis-benchmark","-p",str(port),"-t","set","-n",str(n),"-P","16","-c","50","-r","100000","-q"],capture_output=True,text=True).stdout
    m = re.findall(r"SET: ([\d.]+) requests per second", out.replace("\r","\n"))
    return float(m[-1]) if m else 0.0
def info_lag():
    s = socket.create_connection(("127.0.0.1", port)); s.sendall(b"INFO changes\r\n"); time.sleep(0.2)
    d = s.recv(65536).decode(errors="replace"); s.close()
    return [l for l in d.splitlines() if l.startswith("reader_") or l.startswith("changes_last_offset")]
base = [bench() for _ in range(2)]
# a raw subscriber that reads and discards (costs the client almost nothing)
sub = socket.create_connection(("127.0.0.1", port))
sub.sendall(b"HELLO 3\r\nCHANGES SUBSCRIBE latest\r\n")
got = [0]; stop = [False]
def drain():
    sub.settimeout(0.5)
    while not stop[0]:
        try:
            b = sub.recv(1 << 20)
            if not b: break
            got[0] += len(b)
        except socket.timeout:
            pass
t = threading.Thread(target=drain, daemon=True); t.start()
time.sleep(0.3)
withsub = [bench() for _ in range(2)]
print("lag right after:", info_lag())
time.sleep(2)
print("lag 2s later:", info_lag())
stop[0] = True
print(f"baseline SET -P16: {base}  with subscriber: {withsub}  drop: {1 - (sum(withsub)/sum(base)):.1%}  subscriber bytes: {got[0]}")
