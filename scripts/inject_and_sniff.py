#!/usr/bin/env python3
"""Sends one Ethernet frame into interface A and waits for it on interface B
(raw AF_PACKET sockets, Python stdlib only). Exit 0 when it arrived intact."""
import socket, sys, time

a, b = sys.argv[1], sys.argv[2]
frame = bytes.fromhex("02000000bbbb" "02000000aaaa" "88b5") + b"vxgate demo frame " + bytes(range(32))
frame += bytes(max(0, 60 - len(frame)))
rx = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x88B5))
rx.bind((b, 0))
rx.settimeout(0.2)
tx = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
tx.bind((a, 0))
deadline = time.time() + 5
tx.send(frame)
print(f"sent     {len(frame)} bytes into {a}: {frame.hex()}")
while time.time() < deadline:
    try:
        got = rx.recv(65535)
    except socket.timeout:
        continue
    if got == frame:
        print(f"received {len(got)} bytes from {b}: {got.hex()}  (identical)")
        sys.exit(0)
print(f"frame did not arrive on {b}", file=sys.stderr)
sys.exit(1)
