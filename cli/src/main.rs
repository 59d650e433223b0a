//! The `failback` binary.

use std::process::ExitCode;

fn main() -> ExitCode {
    failback_cli::run()
}
