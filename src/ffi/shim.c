#include "shim.h"

uint16_t vxg_rx_burst(uint16_t port, uint16_t queue, struct rte_mbuf **pkts, uint16_t n)
{ return rte_eth_rx_burst(port, queue, pkts, n); }

uint16_t vxg_tx_burst(uint16_t port, uint16_t queue, struct rte_mbuf **pkts, uint16_t n)
{ return rte_eth_tx_burst(port, queue, pkts, n); }

int vxg_pktmbuf_alloc_bulk(struct rte_mempool *mp, struct rte_mbuf **pkts, unsigned n)
{ return rte_pktmbuf_alloc_bulk(mp, pkts, n); }

struct rte_mbuf *vxg_pktmbuf_alloc(struct rte_mempool *mp)
{ return rte_pktmbuf_alloc(mp); }

void vxg_pktmbuf_free(struct rte_mbuf *m) { rte_pktmbuf_free(m); }

unsigned vxg_lcore_id(void) { return rte_lcore_id(); }

int vxg_errno(void) { return rte_errno; }

uint64_t vxg_rdtsc(void) { return rte_rdtsc(); }

/* rte_mempool_in_use_count walks per-lcore caches: control thread only. */
unsigned vxg_mempool_in_use(const struct rte_mempool *mp) { return rte_mempool_in_use_count(mp); }
unsigned vxg_mempool_avail(const struct rte_mempool *mp) { return rte_mempool_avail_count(mp); }

void vxg_prefetch0(const void *p) { rte_prefetch0(p); }
