//! Arbitrary bytes into both ports' entry points (and the post-decap entry)
//! under a fixed context and a small table; panics on a malformed output.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Err(e) = vxgate::pipeline::testing::fuzz_one(data) {
        panic!("{e}");
    }
});
