//! `vxgate pktgen`'s flags parsed in tests as its command line parses them.

use super::PktgenArgs;
use clap::Parser;

/// `PktgenArgs` on a command line of its own, as `vxgate pktgen` has it.
#[derive(Parser)]
pub(crate) struct Cli {
    #[command(flatten)]
    a: PktgenArgs,
}

/// The flags `args` parsed as `vxgate pktgen` would (not validated).
pub(crate) fn parse(args: &[&str]) -> Result<PktgenArgs, clap::Error> {
    Cli::try_parse_from(std::iter::once("pktgen").chain(args.iter().copied())).map(|c| c.a)
}
