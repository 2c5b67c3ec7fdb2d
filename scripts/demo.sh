#!/usr/bin/env bash
# Sets everything up and runs vxgate's main job on a self-contained demo:
# a flannel-style overlay in network namespaces (etcd, two Kubernetes-style
# nodes whose kernel VXLAN is configured exactly as flanneld configures it,
# a pod on each) and a bare-metal host behind vxgate. vxgate takes a lease in
# etcd, the nodes learn it, and the host and the pods ping each other through
# it. Prints vxgate's metrics and final counters; tears everything down.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
. scripts/cargo-env.sh
BIN=${CARGO_TARGET_DIR:-$PWD/target}/release/vxgate   # where setup.sh built it
P=vxdemo                       # namespace prefix
PREFIX=/coreos.com/network
VNI=1 PORT=8472
NSS=()
pids=()
WORK=$(mktemp -d -t vxgate-demo.XXXXXX)   # etcd's data, the logs
cleanup() {
  rc=$?
  # One SIGTERM each (a second one a second later makes vxgate skip its clean stop), 10 s
  # to end, then SIGKILL: a process that hangs does not hang the demo.
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for _ in $(seq 100); do
    alive=0
    for p in "${pids[@]}"; do kill -0 "$p" 2>/dev/null && alive=1; done
    [ $alive = 0 ] && break
    sleep 0.1
  done
  for p in "${pids[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  for ns in "${NSS[@]}"; do ip netns del "$ns" 2>/dev/null || true; done
  rm -rf /var/run/dpdk/vxgate-demo   # vxgate's EAL runtime directory
  if [ $rc = 0 ]; then rm -rf "$WORK"; else echo "demo: logs kept in $WORK" >&2; fi
}
trap cleanup EXIT
netns() { ip netns del "$1" 2>/dev/null || true; ip netns add "$1"; NSS+=("$1"); ip -n "$1" link set lo up
          ip netns exec "$1" sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
          ip netns exec "$1" sysctl -qw net.bridge.bridge-nf-call-iptables=0 2>/dev/null || true; }
step() { printf '\n== %s\n' "$*"; }

step "underlay bridge, gateway and bare-metal namespaces"
netns $P-ul; ip -n $P-ul link add br0 type bridge; ip -n $P-ul link set br0 up
netns $P-gw; netns $P-bm
ip link add $P-gu type veth peer name gwul netns $P-gw
ip link set $P-gu netns $P-ul; ip -n $P-ul link set $P-gu master br0 up
ip link add gwac netns $P-gw type veth peer name eth0 netns $P-bm
ip -n $P-bm link set eth0 up; ip -n $P-bm addr add 10.244.255.10/24 dev eth0
ip -n $P-bm route add 10.244.0.0/16 via 10.244.255.1

step "etcd with flannel's network config"
ETCD=http://127.0.0.1:23790
ip netns exec $P-gw etcd --name demo --data-dir "$WORK/etcd" --listen-client-urls $ETCD \
  --advertise-client-urls $ETCD --listen-peer-urls http://127.0.0.1:23800 \
  --initial-advertise-peer-urls http://127.0.0.1:23800 --initial-cluster demo=http://127.0.0.1:23800 \
  >"$WORK/etcd.log" 2>&1 &
pids+=($!)
ctl() { ETCDCTL_API=3 ip netns exec $P-gw etcdctl --endpoints=$ETCD "$@"; }
for _ in $(seq 100); do ctl endpoint health >/dev/null 2>&1 && break; sleep 0.1; done
ctl put $PREFIX/config '{"Network":"10.244.0.0/16","SubnetLen":24,"Backend":{"Type":"vxlan"}}' >/dev/null

step "two nodes with flannel.1 (VNI $VNI, port $PORT, nolearning), cni0 and a pod each"
for i in 1 2; do
  n=$P-n$i pod=$P-p$i ip=172.28.147.$((32 + i)) mac=0e:00:00:00:00:0$i
  netns $n; netns $pod
  ip link add $P-u$i type veth peer name eth0 netns $n
  ip link set $P-u$i netns $P-ul; ip -n $P-ul link set $P-u$i master br0 up
  ip -n $n link set eth0 up; ip -n $n addr add $ip/27 dev eth0
  ip -n $n link add flannel.$VNI type vxlan id $VNI dstport $PORT nolearning local $ip dev eth0
  ip -n $n link set flannel.$VNI address $mac mtu 1450 up
  ip -n $n addr add 10.244.$i.0/32 dev flannel.$VNI
  ip -n $n link add cni0 type bridge; ip -n $n link set cni0 mtu 1450 up; ip -n $n addr add 10.244.$i.1/24 dev cni0
  ip link add $P-v$i type veth peer name eth0 netns $pod
  ip link set $P-v$i netns $n; ip -n $n link set $P-v$i master cni0 mtu 1450 up
  ip -n $pod link set eth0 mtu 1450 up; ip -n $pod addr add 10.244.$i.10/24 dev eth0
  ip -n $pod route add default via 10.244.$i.1
  lease=$(ctl lease grant 3600 | awk '{print $2}')
  ctl put --lease="$lease" $PREFIX/subnets/10.244.$i.0-24 \
    "{\"PublicIP\":\"$ip\",\"PublicIPv6\":null,\"BackendType\":\"vxlan\",\"BackendData\":{\"VNI\":$VNI,\"VtepMAC\":\"$mac\"}}" >/dev/null
  echo "node $i: PublicIP $ip, subnet 10.244.$i.0/24, VtepMAC $mac, pod 10.244.$i.10"
done

step "vxgate run (net_tap devices, one worker)"
# setsid: a Ctrl-C at the terminal reaches the script, whose cleanup stops
# vxgate with one SIGTERM, not vxgate itself as well. --in-memory: no
# hugepage files left behind (the TAP driver then says it cannot reach
# secondary processes: there are none).
ip netns exec $P-gw setsid "$BIN" run --underlay net_tap0 --underlay-ip 172.28.147.40/27 --access net_tap1 \
  --subnet 10.244.255.0/24 --etcd-endpoints $ETCD --metrics-addr 127.0.0.1:9477 -- \
  -l 0-1 --no-pci --in-memory --file-prefix vxgate-demo --log-level=lib.eal:warning \
  --vdev net_tap0,iface=vxgu0 --vdev net_tap1,iface=vxga0 >"$WORK/vxgate.out" 2>&1 &
vx=$!; pids+=($vx)
# vxgate's lease in etcd: it is up. If it ends first, its log says why.
for _ in $(seq 200); do
  ctl get $PREFIX/subnets/10.244.255.0-24 | grep -q PublicIP && break
  kill -0 $vx 2>/dev/null || { echo "demo: vxgate ended before taking its lease:" >&2; cat "$WORK/vxgate.out" >&2; exit 1; }
  sleep 0.1
done
ctl get $PREFIX/subnets/10.244.255.0-24 | grep -q PublicIP \
  || { echo "demo: vxgate took no lease within 20 s:" >&2; cat "$WORK/vxgate.out" >&2; exit 1; }
ctl get $PREFIX/subnets/10.244.255.0-24 | tail -1 | sed 's/^/vxgate lease: /'
# Bridge vxgate's TAPs to the veths (the kernel side needs a MAC of its own).
ip -n $P-gw link set vxgu0 address 02:00:00:00:ee:01; ip -n $P-gw link set vxga0 address 02:00:00:00:ee:02
for b in ul ac; do ip -n $P-gw link add br$b type bridge; ip -n $P-gw link set br$b up; done
ip -n $P-gw link set gwul master brul up; ip -n $P-gw link set vxgu0 master brul up
ip -n $P-gw link set gwac master brac up; ip -n $P-gw link set vxga0 master brac up

step "each node does what flanneld does for every other lease (route, neighbour, FDB)"
leases=$(ctl get --prefix $PREFIX/subnets/ | paste - - )
for i in 1 2; do
  while read -r key val; do
    sn=${key##*/}; net=${sn%-*}; [ "$net" = "10.244.$i.0" ] && continue
    pip=$(sed 's/.*"PublicIP":"\([^"]*\)".*/\1/' <<<"$val"); vmac=$(sed 's/.*"VtepMAC":"\([^"]*\)".*/\1/' <<<"$val")
    ip -n $P-n$i neigh replace "$net" lladdr "$vmac" dev flannel.$VNI nud permanent
    bridge -n $P-n$i fdb replace "$vmac" dev flannel.$VNI dst "$pip" self permanent
    ip -n $P-n$i route replace "$net/24" via "$net" dev flannel.$VNI onlink
  done <<<"$leases"
done

step "ping across"
ok=1
for i in 1 2; do
  ip netns exec $P-bm ping -c 3 -i 0.2 -W 2 10.244.$i.10 | tail -2 | head -1 | sed "s/^/bare-metal -> pod 10.244.$i.10: /" || ok=0
  ip netns exec $P-p$i ping -c 3 -i 0.2 -W 2 10.244.255.10 | tail -2 | head -1 | sed "s/^/pod 10.244.$i.10 -> bare-metal: /" || ok=0
done

step "vxgate metrics (non-zero samples)"
ip netns exec $P-gw curl -sf http://127.0.0.1:9477/metrics | grep -v '^#' | grep -v ' 0$' | grep -v '_bucket' || true

step "stop vxgate (SIGTERM)"
# Under `set -e` a failed wait would end the script before saying why.
rc=0; kill -TERM $vx; wait $vx || rc=$?
echo "vxgate exit code $rc"
grep -v '^EAL\|^TELEMETRY\|^eth_dev_tap\|^tap_nl\|^tap_mp\|^qdisc' "$WORK/vxgate.out" | grep -v ' INFO \| WARN ' || true
[ $rc = 0 ] || ok=0
[ $ok = 1 ] && echo "demo: OK" || { echo "demo: FAILED"; exit 1; }
