#!/usr/bin/env python3
"""TCP transfer with checksums at both ends, for the end-to-end tests.
  tcpxfer.py serve PORT            -> prints "bytes sha256 seconds" after one connection
  tcpxfer.py send HOST PORT BYTES  -> prints "bytes sha256 seconds" after sending
  tcpxfer.py send HOST PORT until:FILE  sends until FILE exists, then the same
The data is a deterministic pseudo-random stream so both ends can be compared."""
import hashlib, os, socket, sys, time

def stream(n):
    """n bytes, or without end when n is None."""
    block = hashlib.sha256(b"vxgate").digest() * 2048  # 64 KiB
    seed = 0
    while n is None or n > 0:
        chunk = bytes((b + seed) & 0xFF for b in block[:256]) + block[256:]
        seed += 1
        take = len(chunk) if n is None else min(n, len(chunk))
        yield chunk[:take]
        if n is not None:
            n -= take

def serve(port):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("0.0.0.0", port))
    s.listen(1)
    s.settimeout(60)
    print("listening", flush=True)
    c, _ = s.accept()
    c.settimeout(60)
    h, n, t0 = hashlib.sha256(), 0, time.time()
    while True:
        b = c.recv(1 << 16)
        if not b:
            break
        h.update(b)
        n += len(b)
    print(n, h.hexdigest(), "%.3f" % (time.time() - t0), flush=True)

def send(host, port, total, gate=None):
    deadline = time.time() + 20
    while True:
        try:
            c = socket.create_connection((host, port), timeout=5)
            break
        except OSError:
            if time.time() > deadline:
                raise
            time.sleep(0.2)
    c.settimeout(60)
    h, n, t0 = hashlib.sha256(), 0, time.time()
    for chunk in stream(total):
        if gate is not None and os.path.exists(gate):
            break
        c.sendall(chunk)
        h.update(chunk)
        n += len(chunk)
    c.shutdown(socket.SHUT_WR)
    c.recv(1)
    c.close()
    print(n, h.hexdigest(), "%.3f" % (time.time() - t0), flush=True)

if __name__ == "__main__":
    if sys.argv[1] == "serve":
        serve(int(sys.argv[2]))
    else:
        what = sys.argv[4]
        if what.startswith("until:"):
            send(sys.argv[2], int(sys.argv[3]), None, what[len("until:"):])
        else:
            send(sys.argv[2], int(sys.argv[3]), int(what))
