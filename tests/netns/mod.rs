//! A network namespace of the test's own, for tests whose DPDK devices the
//! kernel sees (net_tap makes TAP interfaces). The test's thread enters it
//! before EAL starts, so the TAPs, any bridge, and every thread and process
//! the test starts live in it, out of the machine's own namespace, and it
//! vanishes with the test's process, also when the test fails.

/// Moves the calling thread into a new, empty network namespace.
pub fn enter_private_netns() {
    let ns = || std::fs::read_link("/proc/thread-self/ns/net").expect("this thread's netns");
    let before = ns();
    nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNET)
        .expect("unshare(CLONE_NEWNET) (the DPDK tests run as root)");
    assert_ne!(ns(), before, "still in the machine's network namespace");
}
