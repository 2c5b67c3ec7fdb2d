#!/usr/bin/env python3
"""Large UDP datagrams, each carrying a digest of itself, for the end-to-end tests.
  udpfrag.py recv PORT SECONDS          -> prints "listening", then, once
      SECONDS pass without a datagram, "received N intact M"
  udpfrag.py send HOST PORT N SIZE GAP  -> N datagrams of SIZE bytes, GAP
      seconds apart (the kernel fragments them at the sender's MTU)"""
import hashlib, os, socket, sys, time

def recv(port, quiet):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    # Room for everything the test sends, whatever the scheduler does.
    s.setsockopt(socket.SOL_SOCKET, getattr(socket, "SO_RCVBUFFORCE", 33), 32 << 20)
    s.bind(("0.0.0.0", port))
    s.settimeout(quiet)
    print("listening", flush=True)
    n = intact = 0
    try:
        while True:
            d = s.recv(65535)
            n += 1
            intact += hashlib.sha256(d[32:]).digest() == d[:32]
    except socket.timeout:
        pass
    print(f"received {n} intact {intact}", flush=True)

def send(host, port, n, size, gap):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    # IP_PMTUDISC_DONT: DF clear, fragmented at the interface's MTU.
    s.setsockopt(socket.IPPROTO_IP, 10, 0)
    for i in range(n):
        body = i.to_bytes(4, "big") + os.urandom(size - 36)
        s.sendto(hashlib.sha256(body).digest() + body, (host, port))
        time.sleep(gap)
    print(f"sent {n}", flush=True)

if __name__ == "__main__":
    if sys.argv[1] == "recv":
        recv(int(sys.argv[2]), float(sys.argv[3]))
    else:
        send(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]), float(sys.argv[6]))
