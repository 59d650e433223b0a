//! The commands of `failback`, one module each. Every module has an `Args` struct
//! whose doc comments are its `--help`, and a `cmd_*` function.

pub mod apply;
pub mod config_args;
pub mod drift;
pub mod fmt;
pub mod force_unlock;
pub mod graph;
pub mod plan;
pub mod show;
pub mod state;
pub mod validate;

use clap::{Args, Parser, Subcommand};

use crate::command_error::{CommandError, Exit};
use crate::ui::Ui;

/// Reprotect and fail back VMware VMs from Azure Site Recovery, declaratively.
///
/// Describe the failback topology in HCL; `failback plan` discovers vCenter and the
/// ASR vault, checks every prerequisite (rules FB101–FB130) and shows an ordered plan;
/// `failback apply` executes it.
#[derive(Debug, Parser)]
#[command(name = "failback", version, propagate_version = true)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

/// Options every command takes.
#[derive(Debug, Clone, Args)]
pub struct GlobalArgs {
    /// Run as if failback was started in DIR instead of the current directory.
    #[arg(
        short = 'C',
        long = "chdir",
        value_name = "DIR",
        global = true,
        default_value = "."
    )]
    pub chdir: std::path::PathBuf,
    /// When to use colours: auto (on a terminal, unless NO_COLOR is set), always, never.
    #[arg(long, value_name = "WHEN", global = true, default_value = "auto")]
    pub color: ColorChoice,
    /// More log output on stderr (-v info, -vv debug, -vvv trace); FAILBACK_LOG overrides.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ColorChoice {
    Auto,
    Always,
    Never,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    Validate(validate::Args),
    Fmt(fmt::Args),
    Graph(graph::Args),
    Plan(plan::Args),
    Apply(apply::Args),
    Drift(drift::Args),
    Show(show::Args),
    State(state::Args),
    ForceUnlock(force_unlock::Args),
}

/// Runs the chosen command.
pub fn run_command(ui: &mut Ui, cli: &Cli) -> Result<Exit, CommandError> {
    match &cli.command {
        Command::Validate(args) => validate::cmd_validate(ui, &cli.global, args),
        Command::Fmt(args) => fmt::cmd_fmt(ui, &cli.global, args),
        Command::Graph(args) => graph::cmd_graph(ui, &cli.global, args),
        Command::Plan(args) => plan::cmd_plan(ui, &cli.global, args),
        Command::Apply(args) => apply::cmd_apply(ui, &cli.global, args),
        Command::Drift(args) => drift::cmd_drift(ui, &cli.global, args),
        Command::Show(args) => show::cmd_show(ui, &cli.global, args),
        Command::State(args) => state::cmd_state(ui, &cli.global, args),
        Command::ForceUnlock(args) => force_unlock::cmd_force_unlock(ui, &cli.global, args),
    }
}
