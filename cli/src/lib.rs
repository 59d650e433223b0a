//! failback's command-line interface: one module per command under [`commands`], all
//! output through [`ui::Ui`].

pub mod command_error;
pub mod commands;
pub mod events;
pub mod progress;
pub mod render;
pub mod ui;
pub mod wiring;

use std::process::ExitCode;

use clap::Parser;

use crate::commands::Cli;
use crate::ui::Ui;

/// Parses the command line, runs the command and turns its result into an exit code.
pub fn run() -> ExitCode {
    let cli = Cli::parse_from(commands::config_args::terraform_style_args(
        std::env::args_os(),
    ));
    init_tracing(cli.global.verbose);
    let mut ui = Ui::new(&cli.global);
    match commands::run_command(&mut ui, &cli) {
        Ok(code) => code.into(),
        Err(err) => {
            ui.report_error(&err);
            err.exit_code().into()
        }
    }
}

fn init_tracing(verbose: u8) {
    let default = match verbose {
        0 => "warn",
        1 => "info",
        2 => "debug",
        _ => "trace",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("FAILBACK_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    // Logs go to stderr so that stdout stays clean for data (JSON, plans).
    // Colours only for a person at a terminal, as for the rest of the output.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr())
        && std::env::var_os("NO_COLOR").is_none_or(|value| value.is_empty());
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(ansi)
        .try_init();
}
