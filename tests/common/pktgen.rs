//! `vxgate pktgen` flags parsed as the binary parses them.
#![allow(dead_code)] // each test binary uses a different subset

use clap::Parser;
use vxgate::pktgen::PktgenArgs;

#[derive(Parser)]
struct Cli {
    #[command(flatten)]
    a: PktgenArgs,
}

/// `PktgenArgs` from command-line flags (panics on invalid ones).
pub fn args(extra: &[&str]) -> PktgenArgs {
    Cli::try_parse_from(std::iter::once("pktgen").chain(extra.iter().copied()))
        .expect("valid flags")
        .a
}
