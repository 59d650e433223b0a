//! `failback state list`: every address in the state, with its outcome.

use failback_engine::state::Outcome;

use super::StateLocation;
use crate::command_error::{CommandError, Exit};
use crate::commands::GlobalArgs;
use crate::ui::Ui;

/// List the addresses in the state, with their outcome.
///
/// One line per address: the address, then `applied`, `failed` or `in progress`.
#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub location: StateLocation,
}

pub fn cmd_state_list(ui: &mut Ui, global: &GlobalArgs, args: &Args) -> Result<Exit, CommandError> {
    let backend = args.location.open(global)?;
    let Some(state) = backend.read()? else {
        ui.status(&format!(
            "No state in {}: nothing has been applied yet.",
            backend.describe()
        ));
        return Ok(Exit::Success);
    };
    let width = state
        .resources
        .keys()
        .map(|a| a.chars().count())
        .max()
        .unwrap_or(0);
    let mut text = String::new();
    for (address, resource) in &state.resources {
        let outcome = match &resource.outcome {
            Outcome::Failed { .. } => "failed".to_owned(),
            other => other.to_string(),
        };
        let pad = width - address.chars().count();
        text.push_str(&format!("{address}{}  {outcome}\n", " ".repeat(pad)));
    }
    ui.write_data(&text);
    Ok(Exit::Success)
}
