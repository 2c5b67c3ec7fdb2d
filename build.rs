//! Finds the system DPDK with pkg-config, generates allow-listed bindings and
//! compiles the C shim that exposes DPDK's static-inline fast path.
use std::{env, path::PathBuf};

const INSTALL_HINT: &str = "DPDK 22.11 development files not found (pkg-config libdpdk). \
Install them with: apt-get install -y dpdk dpdk-dev libdpdk-dev pkg-config clang libclang-dev";

fn main() {
    println!("cargo:rerun-if-changed=src/ffi/shim.h");
    println!("cargo:rerun-if-changed=src/ffi/shim.c");
    let dpdk = match pkg_config::Config::new()
        .atleast_version("22.11")
        .cargo_metadata(true)
        .probe("libdpdk")
    {
        Ok(lib) => lib,
        Err(e) => {
            eprintln!("error: {INSTALL_HINT}\n  ({e})");
            panic!("{INSTALL_HINT}");
        }
    };
    // DPDK's cflags include `-include rte_config.h` and -march: take them verbatim.
    let cflags = pkg_config::get_variable("libdpdk", "cflags").unwrap_or_default();
    let raw = std::process::Command::new("pkg-config")
        .args(["--cflags", "libdpdk"])
        .output()
        .expect("pkg-config runs");
    let flags: Vec<String> = String::from_utf8_lossy(&raw.stdout)
        .split_whitespace()
        .map(str::to_owned)
        .collect();
    let _ = cflags;

    let mut build = cc::Build::new();
    build.file("src/ffi/shim.c").opt_level(3).warnings(false);
    for f in &flags {
        build.flag(f);
    }
    for inc in &dpdk.include_paths {
        build.include(inc);
    }
    build.compile("vxgate_shim");

    let mut clang_args: Vec<String> = flags.clone();
    clang_args.push("-Wno-everything".into());
    let bindings = bindgen::Builder::default()
        .header("src/ffi/shim.h")
        .clang_args(&clang_args)
        .allowlist_function("vxg_.*")
        .allowlist_function("rte_eal_(init|cleanup|remote_launch|wait_lcore|mp_wait_lcore|process_type|has_hugepages|get_configuration|get_runtime_dir)")
        .allowlist_function("rte_lcore_(count|is_enabled|to_socket_id|index)")
        .allowlist_function("rte_get_(main_lcore|next_lcore|tsc_hz)")
        .allowlist_function("rte_socket_id")
        .allowlist_function("rte_strerror")
        .allowlist_function("rte_dev_bus|rte_bus_name")
        .allowlist_function("rte_thread_(register|unregister)")
        .allowlist_function("rte_pktmbuf_(pool_create|free_bulk)")
        .allowlist_function("rte_mempool_(free|lookup)")
        .allowlist_function("rte_eth_(dev_configure|dev_info_get|dev_start|dev_stop|dev_close|tx_done_cleanup|rx_queue_setup|tx_queue_setup|macaddr_get|link_get_nowait|dev_get_mtu|dev_set_mtu|stats_get|stats_reset|promiscuous_enable|promiscuous_disable|dev_count_avail|dev_get_port_by_name|dev_get_name_by_port|dev_is_valid_port|dev_socket_id|find_next_owned_by|dev_rss_hash_update|dev_adjust_nb_rx_tx_desc|xstats_get|xstats_get_names)")
        .allowlist_type("rte_mbuf")
        .allowlist_type("rte_eth_(conf|dev_info|stats|link|rxconf|txconf|rss_conf)")
        .allowlist_type("rte_ether_addr")
        .allowlist_var("RTE_ETH_.*")
        .allowlist_var("RTE_MBUF_DEFAULT_BUF_SIZE|RTE_PKTMBUF_HEADROOM|RTE_MAX_LCORE|RTE_MAX_ETHPORTS|RTE_ETHER_.*")
        .allowlist_var("RTE_MBUF_F_.*")
        .allowlist_var("SOCKET_ID_ANY")
        .opaque_type("rte_arp_hdr|rte_l2tpv2_combined_msg_hdr|rte_gtp_psc_generic_hdr|rte_mempool|rte_mempool_objhdr.*")
        .blocklist_type("max_align_t")
        .derive_default(true)
        .layout_tests(true)
        .generate_comments(false)
        .generate()
        .unwrap_or_else(|e| panic!("bindgen failed on DPDK headers: {e}. {INSTALL_HINT}"));
    let out = PathBuf::from(env::var("OUT_DIR").expect("OUT_DIR"));
    bindings
        .write_to_file(out.join("dpdk_bindings.rs"))
        .expect("write bindings");
}
