//! `failback state`: read what failback has applied, per address.

pub mod list;
pub mod show;

use std::path::PathBuf;

use failback_engine::config::model::Settings;
use failback_engine::state::{LocalBackend, StateBackend, open_backend};

use crate::command_error::{CommandError, Exit};
use crate::commands::GlobalArgs;
use crate::ui::Ui;

/// Read the state: what failback applied, per address.
///
/// The state records, for every address that apply touched, the inputs it applied
/// (secrets redacted), the outcome, the ASR job and vSphere task ids, and when. It is
/// read here without taking the lock.
#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    pub command: StateCommand,
}

#[derive(Debug, Clone, clap::Subcommand)]
pub enum StateCommand {
    List(list::Args),
    Show(show::Args),
}

pub fn cmd_state(ui: &mut Ui, global: &GlobalArgs, args: &Args) -> Result<Exit, CommandError> {
    match &args.command {
        StateCommand::List(args) => list::cmd_state_list(ui, global, args),
        StateCommand::Show(args) => show::cmd_state_show(ui, global, args),
    }
}

/// Where the state is, for the commands that read or unlock it.
#[derive(Debug, Clone, clap::Args)]
pub struct StateLocation {
    /// The local state file, relative to -C DIR. Default: the configuration's
    /// `failback { state ... }` block, else `failback.state.json`.
    #[arg(long = "state", value_name = "PATH")]
    pub path: Option<PathBuf>,
}

impl StateLocation {
    /// The backend to use: `--state PATH` when given, otherwise the configured one.
    pub fn open(&self, global: &GlobalArgs) -> Result<Box<dyn StateBackend>, CommandError> {
        if let Some(path) = &self.path {
            return Ok(Box::new(LocalBackend::new(global.chdir.join(path))));
        }
        // The configuration loader's `Settings` go here once it is wired into the CLI;
        // until then the defaults (a local `failback.state.json`) apply.
        let settings = Settings::default();
        open_backend(&settings.state, &global.chdir).map_err(CommandError::from)
    }
}
