//! `failback state rm ADDRESS...`: forget addresses, as `terraform state rm` does.
//!
//! Nothing in vCenter or the vault changes: failback only stops remembering what it
//! applied there, so `drift` no longer watches it. The usual reason is the end of a
//! VM's failback: the VM runs on-premises again, its `reprotect` block is gone from the
//! configuration, and its record would otherwise stay in the state for good.

use std::time::Duration;

use failback_engine::state::{LockInfo, Operation, Outcome};

use super::{StateLocation, not_in_state, remote_ids};
use crate::command_error::{CommandError, Exit};
use crate::commands::GlobalArgs;
use crate::commands::apply::parse_duration;
use crate::ui::Ui;

/// Forget addresses in the state, without touching vCenter or the vault.
///
/// Use it when failback should stop tracking what it applied, e.g. after a VM's
/// failback is complete and its `reprotect` block was removed: `drift` no longer
/// watches a forgotten address. Every address must be in the state (see `failback
/// state list`), or nothing is removed. An address whose action is still in progress
/// is kept unless --force: the next apply follows its running job through the state.
#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// The addresses to forget, e.g. `reprotect.web01` or `reprotect.app["db01"]`.
    #[arg(required = true, value_name = "ADDRESS")]
    pub addresses: Vec<String>,
    /// Show what would be removed, without taking the lock or writing.
    #[arg(long)]
    pub dry_run: bool,
    /// Also forget addresses whose action is still in progress.
    #[arg(long)]
    pub force: bool,
    /// How long to wait for a state lock another run holds, e.g. 30s, 5m.
    #[arg(long, value_name = "DURATION", default_value = "0s", value_parser = parse_duration)]
    pub lock_timeout: Duration,
    #[command(flatten)]
    pub location: StateLocation,
}

pub fn cmd_state_rm(ui: &mut Ui, global: &GlobalArgs, args: &Args) -> Result<Exit, CommandError> {
    let backend = args.location.open(global)?;
    // A dry run reads without the lock, like `state list`; a removal holds it from the
    // read to the write, so that no apply records anything in between.
    let lock = if args.dry_run {
        None
    } else {
        let info = LockInfo::new(Operation::StateRm, env!("CARGO_PKG_VERSION"));
        Some(backend.lock(info, args.lock_timeout)?)
    };
    let Some(mut state) = backend.read()? else {
        return Err(CommandError::user(miette::miette!(
            help = "nothing has been applied yet, so there is nothing to forget",
            "no state in {}",
            backend.describe()
        )));
    };

    let mut errors = Vec::new();
    for address in &args.addresses {
        match state.get(address) {
            None => errors.push(not_in_state(&state, address)),
            Some(resource)
                if matches!(resource.outcome, Outcome::InProgress { .. }) && !args.force =>
            {
                errors.push(CommandError::user(miette::miette!(
                    help = "run `failback apply` to follow it to its end first, or add --force \
                            to forget it anyway (apply would then start it again if the plan \
                            still needs it)",
                    "{address} is still in progress (remote ids: {})",
                    remote_ids(resource)
                )));
            }
            Some(_) => {}
        }
    }
    if !errors.is_empty() {
        return Err(CommandError::many(
            errors.into_iter().flat_map(|err| err.reports).collect(),
        ));
    }

    let mut forgotten: Vec<&String> = args.addresses.iter().collect();
    forgotten.sort();
    forgotten.dedup();
    if let Some(lock) = &lock {
        for address in &forgotten {
            state.resources.remove(address.as_str());
        }
        let before = state.serial;
        state.bump(env!("CARGO_PKG_VERSION"));
        backend.write(lock, &state)?;
        for address in &forgotten {
            ui.status(&format!("Removed {address} from the state."));
        }
        ui.status(&format!(
            "{} forgotten (serial {before} -> {}); nothing in vCenter or the vault was changed.",
            counted(forgotten.len()),
            state.serial
        ));
    } else {
        for address in &forgotten {
            ui.status(&format!("Would remove {address} from the state."));
        }
        ui.status("Dry run: the state was not changed.");
    }
    Ok(Exit::Success)
}

/// `1 address`, `2 addresses`.
fn counted(count: usize) -> String {
    if count == 1 {
        "1 address".to_owned()
    } else {
        format!("{count} addresses")
    }
}
