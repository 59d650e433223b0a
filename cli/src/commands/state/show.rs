//! `failback state show ADDRESS`: everything the state holds about one address.

use failback_engine::state::{Outcome, ResourceState};

use super::{StateLocation, not_in_state, remote_ids};
use crate::command_error::{CommandError, Exit};
use crate::commands::GlobalArgs;
use crate::ui::Ui;

/// Show what the state holds about one address.
///
/// The action type, outcome (with the error message of a failure), the ASR job and
/// vSphere task ids, start and finish times, and the inputs that were applied
/// (secrets are never in state).
#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// The address, e.g. `reprotect.web01` or `reprotect.app["db01"]`.
    pub address: String,
    /// Print the record as JSON.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub location: StateLocation,
}

pub fn cmd_state_show(ui: &mut Ui, global: &GlobalArgs, args: &Args) -> Result<Exit, CommandError> {
    let backend = args.location.open(global)?;
    let Some(state) = backend.read()? else {
        return Err(CommandError::user(miette::miette!(
            help = "run `failback apply` first",
            "no state in {}: nothing has been applied yet",
            backend.describe()
        )));
    };
    let Some(resource) = state.get(&args.address) else {
        return Err(not_in_state(&state, &args.address));
    };
    if args.json {
        let mut text = serde_json::to_string_pretty(resource)?;
        text.push('\n');
        ui.write_data(&text);
    } else {
        ui.write_data(&render(resource));
    }
    Ok(Exit::Success)
}

/// The human form.
fn render(resource: &ResourceState) -> String {
    let mut text = format!("# {}\n", resource.address);
    let mut field = |name: &str, value: &str| {
        text.push_str(&format!("{name:<12}{value}\n"));
    };
    field("kind", &resource.kind);
    let outcome = match &resource.outcome {
        Outcome::Applied => "applied".to_owned(),
        Outcome::Failed { message } => format!("failed: {message}"),
        Outcome::InProgress { pending } if pending.is_empty() => "in progress".to_owned(),
        Outcome::InProgress { pending } => format!(
            "in progress, waiting for {}",
            pending
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    field("outcome", &outcome);
    field("remote ids", &remote_ids(resource));
    field("started", &resource.started_at.to_rfc3339());
    let finished = resource
        .finished_at
        .map_or_else(|| "not yet".to_owned(), |t| t.to_rfc3339());
    field("finished", &finished);
    let inputs = serde_json::to_string_pretty(&resource.inputs).unwrap_or_default();
    text.push_str("inputs\n");
    for line in inputs.lines() {
        text.push_str("  ");
        text.push_str(line);
        text.push('\n');
    }
    text
}
