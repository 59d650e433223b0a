//! `failback state`: read what failback has applied, per address.

pub mod list;
pub mod rm;
pub mod show;

use std::path::PathBuf;

use failback_engine::config::{self, VariableInputs, schema};
use failback_engine::state::{LocalBackend, ResourceState, State, StateBackend, open_backend};

use crate::command_error::{CommandError, Exit};
use crate::commands::GlobalArgs;
use crate::ui::Ui;

/// Read the state (what failback applied, per address), or forget addresses in it.
///
/// The state records, for every address that apply touched, the inputs it applied
/// (secrets redacted), the outcome, the ASR job and vSphere task ids, and when. `list`
/// and `show` read it without taking the lock; `rm` takes the lock and writes.
#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    pub command: StateCommand,
}

#[derive(Debug, Clone, clap::Subcommand)]
pub enum StateCommand {
    List(list::Args),
    Show(show::Args),
    Rm(rm::Args),
}

pub fn cmd_state(ui: &mut Ui, global: &GlobalArgs, args: &Args) -> Result<Exit, CommandError> {
    match &args.command {
        StateCommand::List(args) => list::cmd_state_list(ui, global, args),
        StateCommand::Show(args) => show::cmd_state_show(ui, global, args),
        StateCommand::Rm(args) => rm::cmd_state_rm(ui, global, args),
    }
}

/// An address the state does not hold, with the closest one it does.
fn not_in_state(state: &State, wanted: &str) -> CommandError {
    let closest = schema::did_you_mean(wanted, state.resources.keys().map(String::as_str));
    let help = match closest {
        Some(address) => {
            format!("did you mean `{address}`? `failback state list` shows every address")
        }
        None => "`failback state list` shows every address".to_owned(),
    };
    CommandError::user(miette::miette!(
        help = help,
        "no address {wanted} in the state"
    ))
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
    /// The backend to use: `--state PATH` when given, otherwise the one the
    /// configuration of -C DIR declares in `failback { state ... }` (a local
    /// `failback.state.json` when it declares none).
    ///
    /// Reading state must not need a configuration that is valid everywhere (a
    /// missing variable elsewhere is no reason to hide the state), so the settings are
    /// taken as far as they evaluated; a wrong path can only make reading fail or
    /// force-unlock refuse, since the lock id must match.
    pub fn open(&self, global: &GlobalArgs) -> Result<Box<dyn StateBackend>, CommandError> {
        if let Some(path) = &self.path {
            return Ok(Box::new(LocalBackend::new(global.chdir.join(path))));
        }
        let loaded =
            config::load_report(&global.chdir, &VariableInputs::default().with_process_env());
        if loaded.diagnostics.has_errors() {
            tracing::warn!(
                "the configuration in {} has errors; using its state settings as far as they evaluated",
                global.chdir.display()
            );
        }
        open_backend(&loaded.config.settings.state, &global.chdir).map_err(CommandError::from)
    }
}

/// `asr job 7f1c, vsphere task task-1042`, or `none`.
fn remote_ids(resource: &ResourceState) -> String {
    if resource.remote_ids.is_empty() {
        return "none".to_owned();
    }
    resource
        .remote_ids
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}
