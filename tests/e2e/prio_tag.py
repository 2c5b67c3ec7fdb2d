#!/usr/bin/env python3
"""A NIC that priority-tags what its host sends, as DCB hosts and some
storage and Windows NICs do: relays frames between HOST_IF (the host's
link) and WIRE_IF (the segment), inserting an 802.1Q tag with VLAN id 0
and priority PCP behind the source address of every frame from the host;
frames from the segment reach the host as they come (untagged).
  prio_tag.py HOST_IF WIRE_IF PCP
Prints "relaying" once both sockets are bound, and "tagged arp" /
"tagged ipv4" the first time it tags a frame of each."""
import select, socket, struct, sys

ETH_P_ALL = 3
PACKET_OUTGOING = 4
NAMES = {0x0806: "arp", 0x0800: "ipv4"}

def main():
    host_if, wire_if, pcp = sys.argv[1], sys.argv[2], int(sys.argv[3])
    tag = struct.pack("!HH", 0x8100, pcp << 13)
    socks = {}
    for name in (host_if, wire_if):
        s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
        s.bind((name, ETH_P_ALL))
        socks[name] = s
    host, wire = socks[host_if], socks[wire_if]
    seen = set()
    print("relaying", flush=True)
    while True:
        ready, _, _ = select.select([host, wire], [], [])
        for s in ready:
            frame, addr = s.recvfrom(65535)
            if addr[2] == PACKET_OUTGOING or len(frame) < 14:
                continue
            if s is host:
                wire.send(frame[:12] + tag + frame[12:])
                kind = NAMES.get(struct.unpack("!H", frame[12:14])[0])
                if kind and kind not in seen:
                    seen.add(kind)
                    print("tagged", kind, flush=True)
            else:
                host.send(frame)

main()
