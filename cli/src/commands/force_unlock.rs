//! `failback force-unlock ID`: removes a state lock whose holder cannot release it.

use std::io::{BufRead, IsTerminal};

use failback_engine::state::StateError;
use uuid::Uuid;

use super::state::StateLocation;
use crate::command_error::{CommandError, Exit};
use crate::commands::GlobalArgs;
use crate::ui::Ui;

/// Remove the state lock of a run that can no longer release it.
///
/// A run that crashed or was killed releases its lock by itself; this is for a run
/// that is still there but will never finish (a hung terminal, a lost CI job). ID is
/// the lock id printed by the run that waited for the lock. Removing the lock of a
/// run that is still working lets two runs change the same machines at once: the old
/// run can then no longer write the state.
#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// The lock id, as printed by the run that found the state locked.
    #[arg(value_name = "ID")]
    pub id: Uuid,
    /// Do not ask for confirmation.
    #[arg(long)]
    pub force: bool,
    #[command(flatten)]
    pub location: StateLocation,
}

pub fn cmd_force_unlock(
    ui: &mut Ui,
    global: &GlobalArgs,
    args: &Args,
) -> Result<Exit, CommandError> {
    let backend = args.location.open(global)?;
    if !args.force {
        if !std::io::stdin().is_terminal() {
            return Err(CommandError::user(miette::miette!(
                help = "run it on a terminal to confirm, or pass --force",
                "force-unlock needs confirmation"
            )));
        }
        let holder = match backend.lock_holder()? {
            Some(holder) => format!("held for {holder}"),
            None => "not held by a running process".to_owned(),
        };
        ui.status(&format!(
            "The lock on {} is {holder}.\nRemoving a lock while its run still works lets two runs change the same machines.\nDo you really want to force-unlock? Only 'yes' will be accepted.",
            backend.describe()
        ));
        let mut answer = String::new();
        std::io::stdin().lock().read_line(&mut answer)?;
        if answer.trim() != "yes" {
            ui.status("force-unlock cancelled.");
            return Ok(Exit::Error);
        }
    }
    match backend.force_unlock(args.id) {
        Ok(removed) => {
            ui.status(&format!("Removed the lock held for {removed}."));
            Ok(Exit::Success)
        }
        Err(err @ StateError::NotLocked) => Err(CommandError::user(miette::miette!(
            help = "nothing to do",
            "{err}"
        ))),
        Err(err @ StateError::LockIdMismatch { .. }) => Err(CommandError::user(miette::miette!(
            help = "copy the lock id from the message of the run that waited for the lock",
            "{err}"
        ))),
        Err(err) => Err(err.into()),
    }
}
