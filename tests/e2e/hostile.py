#!/usr/bin/env python3
"""Sends malformed and hostile frames at the gateway's underlay port.
  hostile.py IFACE KIND COUNT GW_MAC GW_IP SRC_IP SRC_VTEP_MAC GW_VTEP_MAC VNI PORT
KIND: truncated bad_checksum bad_vxlan_flags unknown_vni unknown_vtep
      spoofed_inner_mac wrong_inner_dst_mac not_ipv4_inner random jumbo"""
import os, socket, struct, sys

def csum(b):
    if len(b) % 2:
        b += b"\0"
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return (~s) & 0xFFFF

def mac(s):
    return bytes(int(x, 16) for x in s.split(":"))

def ipv4(src, dst, proto, payload, ttl=64, good_csum=True):
    h = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(payload), 1, 0, ttl, proto, 0,
                    socket.inet_aton(src), socket.inet_aton(dst))
    c = csum(h) if good_csum else (csum(h) ^ 0x5A5A)
    return h[:10] + struct.pack("!H", c) + h[12:] + payload

def inner(src_mac, dst_mac, ethertype=0x0800, size=100):
    body = ipv4("10.244.1.10", "10.244.255.10", 17,
                struct.pack("!HHHH", 1234, 5678, 8 + size, 0) + os.urandom(size))
    if ethertype != 0x0800:
        body = os.urandom(len(body))
    return dst_mac + src_mac + struct.pack("!H", ethertype) + body

def vxlan(gw_mac, src_mac, src_ip, gw_ip, port, vni, inner_frame, flags=0x08):
    v = struct.pack("!B3xI", flags, vni << 8)
    udp = struct.pack("!HHHH", 40000, port, 8 + len(v) + len(inner_frame), 0) + v + inner_frame
    return gw_mac + src_mac + b"\x08\x00" + ipv4(src_ip, gw_ip, 17, udp)

def main():
    (iface, kind, count, gw_mac, gw_ip, src_ip, vtep_mac, gw_vtep, vni, port) = sys.argv[1:11]
    count, vni, port = int(count), int(vni), int(port)
    gw_mac, vtep_mac, gw_vtep = mac(gw_mac), mac(vtep_mac), mac(gw_vtep)
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
    s.bind((iface, 0))
    my_mac = s.getsockname()[4]
    good = inner(vtep_mac, gw_vtep)
    for _ in range(count):
        if kind == "truncated":
            f = vxlan(gw_mac, my_mac, src_ip, gw_ip, port, vni, good)[:14 + 20 + 4]
            f = f[:14] + f[14:16] + struct.pack("!H", 200) + f[18:]
        elif kind == "bad_checksum":
            f = gw_mac + my_mac + b"\x08\x00" + ipv4(src_ip, gw_ip, 17, b"\0" * 30, good_csum=False)
        elif kind == "bad_vxlan_flags":
            f = vxlan(gw_mac, my_mac, src_ip, gw_ip, port, vni, good, flags=0x0C)
        elif kind == "unknown_vni":
            f = vxlan(gw_mac, my_mac, src_ip, gw_ip, port, vni + 1000, good)
        elif kind == "unknown_vtep":
            f = vxlan(gw_mac, my_mac, "172.28.147.50", gw_ip, port, vni, good)
        elif kind == "spoofed_inner_mac":
            f = vxlan(gw_mac, my_mac, src_ip, gw_ip, port, vni, inner(mac("0e:66:66:66:66:66"), gw_vtep))
        elif kind == "wrong_inner_dst_mac":
            f = vxlan(gw_mac, my_mac, src_ip, gw_ip, port, vni, inner(vtep_mac, mac("0e:77:77:77:77:77")))
        elif kind == "not_ipv4_inner":
            f = vxlan(gw_mac, my_mac, src_ip, gw_ip, port, vni, inner(vtep_mac, gw_vtep, ethertype=0x86DD))
        elif kind == "random":
            f = gw_mac + my_mac + os.urandom(200)  # unicast source: bridges drop others
        elif kind == "jumbo":
            f = vxlan(gw_mac, my_mac, src_ip, gw_ip, port, vni, inner(vtep_mac, gw_vtep, size=8900))
        else:
            sys.exit("unknown kind " + kind)
        s.send(f)

main()
