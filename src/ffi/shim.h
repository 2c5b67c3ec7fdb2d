/* Non-inline wrappers for DPDK's static-inline fast-path functions, so that
 * Rust can call them. Compiled with DPDK's own cflags (pkg-config). */
#ifndef VXGATE_SHIM_H
#define VXGATE_SHIM_H
#include <stdint.h>
#include <rte_config.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_lcore.h>
#include <rte_launch.h>
#include <rte_cycles.h>
#include <rte_mempool.h>
#include <rte_mbuf.h>
#include <rte_ethdev.h>
#include <rte_bus_vdev.h>
#include <rte_dev.h>
#include <rte_bus.h>

uint16_t vxg_rx_burst(uint16_t port, uint16_t queue, struct rte_mbuf **pkts, uint16_t n);
uint16_t vxg_tx_burst(uint16_t port, uint16_t queue, struct rte_mbuf **pkts, uint16_t n);
int vxg_pktmbuf_alloc_bulk(struct rte_mempool *mp, struct rte_mbuf **pkts, unsigned n);
struct rte_mbuf *vxg_pktmbuf_alloc(struct rte_mempool *mp);
void vxg_pktmbuf_free(struct rte_mbuf *m);
unsigned vxg_lcore_id(void);
int vxg_errno(void);
uint64_t vxg_rdtsc(void);
unsigned vxg_mempool_in_use(const struct rte_mempool *mp);
unsigned vxg_mempool_avail(const struct rte_mempool *mp);
void vxg_prefetch0(const void *p);
#endif
