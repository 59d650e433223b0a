//! `failback apply`: lock the state, make (or re-check) the plan, ask for approval,
//! run the plan's actions through the providers with the executor and record every
//! start, remote operation and end in the state (saved by the recorder's writer thread,
//! flushed before the lock is released).
//!
//! A saved plan (`apply FILE`) is only applied when the world it was made from still
//! holds: the same state (lineage and serial), the same configuration and variables,
//! and the same observed estate, decided by discovering again under the lock.

use std::collections::HashMap;
use std::io::{BufRead, IsTerminal};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use failback_engine::apply::executor::{self, ActionResult, ApplyAction, ApplySummary};
use failback_engine::apply::scheduler::StopLevel;
use failback_engine::plan::{self, Plan, PlanMeta, PriorState};
use failback_engine::provider::Provider;
use failback_engine::state::{self, LockInfo, Operation, Outcome, State};
use miette::miette;

use crate::command_error::{CommandError, Exit};
use crate::commands::GlobalArgs;
use crate::commands::plan::{
    DISCOVERY_TIMEOUT, PlanWiring, default_wiring, discover, narrow_to_targets, select_targets,
};
use crate::events::{ApplyRecorder, EventStyle, json_line};
use crate::render::{self, Paint, Sources};
use crate::ui::Ui;

/// Carry out a plan: reprotect the VMs, fix their prerequisites, and record every
/// finished action in the state.
///
/// Without FILE, failback plans first, shows the plan and asks for `yes` (on a
/// terminal; elsewhere give --auto-approve). With FILE (from `failback plan --out`),
/// it applies exactly that plan, and refuses it when the state, the configuration or
/// the estate changed since it was made.
///
/// Exit codes: 0 everything applied, 1 an error or a failed action (the summary says
/// which succeeded, failed and were skipped; run apply again to continue).
#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// A saved plan from `failback plan --out FILE`.
    #[arg(value_name = "FILE")]
    pub plan_file: Option<PathBuf>,
    #[command(flatten)]
    pub config: crate::commands::config_args::ConfigArgs,
    /// Do not ask for approval.
    #[arg(long)]
    pub auto_approve: bool,
    /// How many actions run at once (default: `failback { parallelism }`, else 10).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub parallelism: Option<u32>,
    /// How long to wait for a state lock another run holds, e.g. 30s, 5m.
    #[arg(long, value_name = "DURATION", default_value = "0s", value_parser = parse_duration)]
    pub lock_timeout: Duration,
    /// Stream one JSON event per line on stdout (needs --auto-approve or FILE).
    #[arg(long)]
    pub json: bool,
    /// Apply only these reprotects and what they need (repeatable), as `failback plan
    /// --target`. A saved plan is applied as it was made: target when planning it.
    #[arg(long = "target", value_name = "ADDRESS", conflicts_with = "plan_file")]
    pub targets: Vec<String>,
}

/// Parses `30s`, `5m`, `1h`, `250ms` or plain seconds.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let value: u64 = number
        .parse()
        .map_err(|_| format!("{text:?} is not a duration: write e.g. 30s, 5m or 1h"))?;
    let seconds = match unit {
        "" | "s" => value,
        "m" => value.saturating_mul(60),
        "h" => value.saturating_mul(3600),
        "ms" => return Ok(Duration::from_millis(value)),
        _ => {
            return Err(format!(
                "{text:?}: unknown unit {unit:?}; use ms, s, m or h"
            ));
        }
    };
    Ok(Duration::from_secs(seconds))
}

/// `failback apply`.
pub fn cmd_apply(ui: &mut Ui, global: &GlobalArgs, args: &Args) -> Result<Exit, CommandError> {
    let wiring = default_wiring();
    run_apply(wiring.as_ref(), ui, &global.chdir, args)
}

/// The whole command, with the wiring given.
pub fn run_apply(
    wiring: &dyn PlanWiring,
    ui: &mut Ui,
    dir: &Path,
    args: &Args,
) -> Result<Exit, CommandError> {
    let style = if args.json {
        EventStyle::Json
    } else if std::io::stderr().is_terminal() {
        EventStyle::Bars
    } else {
        EventStyle::Lines
    };
    let interactive = std::io::stdin().is_terminal() && ui.is_terminal();
    if args.plan_file.is_none() && !args.auto_approve && (args.json || !interactive) {
        return Err(CommandError::user(miette!(
            help = "review the plan with `failback plan`, then run `failback apply --auto-approve`, \
                    or save it with `failback plan --out failback.plan` and run \
                    `failback apply failback.plan`",
            "apply needs approval, and there is no terminal to ask on"
        )));
    }

    let inputs = args.config.inputs();
    let variables = crate::commands::plan::digest_inputs(dir, &inputs)?;
    let loaded = wiring.load(dir, &inputs)?;
    let config = &loaded.config;
    let selected = select_targets(config, &args.targets)?;
    let backend = state::open_backend(&config.settings.state, dir)?;
    let lock_info = LockInfo::new(Operation::Apply, env!("CARGO_PKG_VERSION"));
    if !args.lock_timeout.is_zero() {
        ui.status(&format!(
            "Acquiring the state lock ({}; waiting up to {} s)...",
            backend.describe(),
            args.lock_timeout.as_secs()
        ));
    }
    let lock = backend.lock(lock_info, args.lock_timeout)?;
    let current = backend.read()?;
    let prior = PriorState {
        lineage: current.as_ref().map(|state| state.lineage.to_string()),
        serial: current.as_ref().map_or(0, |state| state.serial),
    };

    let providers = wiring.providers(config)?;
    let started = wiring.now();
    let mut observed = discover(providers, DISCOVERY_TIMEOUT, ui.discovery_progress())?;
    observed.observed_at = Some(started);
    let config_digest = plan::config_digest(&loaded.files, &variables);

    let plan = match &args.plan_file {
        Some(file) => {
            let saved = read_plan(&dir.join(file))?;
            check_saved_plan(&saved, &prior, &config_digest, &observed.digest(), file)?;
            saved
        }
        None => {
            let assessment = wiring.assess(config, &observed);
            let meta = PlanMeta {
                tool_version: env!("CARGO_PKG_VERSION").to_owned(),
                created_at: started,
                config_digest,
            };
            let plan = plan::make_plan(config, observed, &prior, assessment, meta);
            narrow_to_targets(plan, config, selected.as_ref())
        }
    };

    let paint = Paint::new(ui.color());
    let sources = Sources::from_files(loaded.files.clone());
    if style != EventStyle::Json && args.plan_file.is_none() {
        ui.write_data(&render::human::render(&plan, &sources, paint));
    }
    let summary = plan.summary();
    if summary.is_blocked() {
        if style == EventStyle::Json {
            ui.write_data(&render::json::render(&plan));
        }
        let help = "fix what the findings above ask, or acknowledge a finding with \
                    acknowledge \"FBxxx\" { reason = \"...\" } in the block it concerns";
        return Err(CommandError::user(miette!(
            help = help,
            "the plan is blocked by {} error(s); nothing was applied",
            summary.errors + summary.not_planned
        )));
    }
    let mut state = current.unwrap_or_else(|| State::new(env!("CARGO_PKG_VERSION")));
    let settled = settle_unchanged(&plan, &mut state);
    if !settled.is_empty() {
        state.bump(env!("CARGO_PKG_VERSION"));
        backend.write(&lock, &state)?;
        for address in &settled {
            ui.status(&format!(
                "{address}: done, though the run that started it did not see it finish; \
                 recorded as applied"
            ));
        }
    }
    if plan.actions.is_empty() {
        let message = "No changes. The reprotects are in place as declared.";
        match style {
            EventStyle::Json => ui.write_data(&change_summary_line(0, 0, 0, message)),
            EventStyle::Lines | EventStyle::Bars => ui.status(message),
            EventStyle::Silent => {}
        }
        return Ok(Exit::Success);
    }
    if args.plan_file.is_none() && !args.auto_approve && !confirm(ui)? {
        ui.status("Apply cancelled; nothing was changed.");
        return Ok(Exit::Error);
    }

    let parallelism = args
        .parallelism
        .unwrap_or(config.settings.parallelism)
        .max(1) as usize;
    let recorder = ApplyRecorder::new(&plan.actions, state, backend, lock, style, ui.clone())
        .map_err(|err| {
            CommandError::user(miette!(
                "cannot start the thread that saves the state: {err}"
            ))
        })?;
    let recorder = Arc::new(recorder);
    let apply_providers: HashMap<String, Arc<dyn Provider>> = wiring
        .providers(config)?
        .into_iter()
        .map(|provider| (provider.address().to_owned(), Arc::from(provider)))
        .collect();
    let actions = apply_actions(&plan);
    let outcome = execute(
        actions,
        &apply_providers,
        parallelism,
        Arc::clone(&recorder),
    );
    let summary = outcome?;

    let aborted: Vec<String> = summary
        .outcomes
        .iter()
        .filter(|(_, result)| matches!(result, ActionResult::Aborted))
        .map(|(id, _)| id.clone())
        .collect();
    recorder.record_aborted(&aborted);
    let Ok(recorder) = Arc::try_unwrap(recorder) else {
        return Err(CommandError::user(miette!(
            "internal error: the apply run still holds its recorder"
        )));
    };
    let write_errors = recorder.finish();
    report(ui, style, &plan, &summary);
    if !write_errors.is_empty() {
        return Err(CommandError::many(
            write_errors
                .into_iter()
                .map(|message| {
                    miette!(
                        help = "the remote changes were made; run `failback apply` again once \
                                the state is writable, it continues without repeating them",
                        "{message}"
                    )
                })
                .collect(),
        ));
    }
    Ok(if summary.all_applied() {
        Exit::Success
    } else {
        Exit::Error
    })
}

/// Marks as applied every reprotect the state records as in progress or failed that
/// discovery now finds done as declared (a run was killed or stopped while its job
/// ran, and the job finished); returns their addresses.
pub fn settle_unchanged(plan: &Plan, state: &mut State) -> Vec<String> {
    let mut settled = Vec::new();
    for address in &plan.unchanged {
        let key = address.to_string();
        let Some(resource) = state.resources.get_mut(&key) else {
            continue;
        };
        if resource.outcome == Outcome::Applied {
            continue;
        }
        if let Outcome::InProgress { pending } = &resource.outcome {
            for remote in pending.clone() {
                if !resource.remote_ids.contains(&remote) {
                    resource.remote_ids.push(remote);
                }
            }
        }
        resource.outcome = Outcome::Applied;
        resource.finished_at = Some(chrono::Utc::now());
        settled.push(key);
    }
    settled
}

/// The plan's actions as the executor takes them.
pub fn apply_actions(plan: &Plan) -> Vec<ApplyAction> {
    plan.actions
        .iter()
        .map(|action| ApplyAction {
            id: action.id.clone(),
            address: action.address.to_string(),
            kind: action.kind.clone(),
            provider: action.provider.clone(),
            action: action.action.clone(),
            depends_on: action.depends_on.clone(),
            unit: action.unit.clone(),
        })
        .collect()
}

/// Runs the executor on a runtime of its own, with Ctrl-C feeding the stop levels:
/// the first drains (no new actions, running ones finish), the second aborts.
fn execute(
    actions: Vec<ApplyAction>,
    providers: &HashMap<String, Arc<dyn Provider>>,
    parallelism: usize,
    recorder: Arc<ApplyRecorder>,
) -> Result<ApplySummary, CommandError> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|err| CommandError::user(miette!("cannot start the async runtime: {err}")))?;
    runtime.block_on(async move {
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(StopLevel::Run);
        let mut status = Ui::status_only();
        // The listener is registered here, before any action starts, so that an
        // interrupt during the first action is never lost to a task not yet polled.
        let mut interrupts = Interrupts::register()?;
        let signals = tokio::spawn(async move {
            let mut level = StopLevel::Run;
            while interrupts.next().await {
                level = if level == StopLevel::Run {
                    status.status(
                        "Interrupt received: no new actions start; the running ones finish \
                         and are saved. Press Ctrl-C again to abort them.",
                    );
                    StopLevel::Drain
                } else {
                    status.status("Second interrupt: aborting the running actions.");
                    StopLevel::Abort
                };
                if stop_tx.send(level).is_err() {
                    break;
                }
            }
        });
        let result = executor::apply(actions, providers, parallelism, stop_rx, recorder).await;
        signals.abort();
        result.map_err(|err| CommandError::user(miette!("{err}")))
    })
}

/// Ctrl-C (SIGINT), registered at creation.
struct Interrupts {
    #[cfg(unix)]
    signal: tokio::signal::unix::Signal,
}

impl Interrupts {
    fn register() -> Result<Interrupts, CommandError> {
        #[cfg(unix)]
        {
            let signal = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt())
                .map_err(|err| CommandError::user(miette!("cannot listen for Ctrl-C: {err}")))?;
            Ok(Interrupts { signal })
        }
        #[cfg(not(unix))]
        {
            Ok(Interrupts {})
        }
    }

    /// Waits for the next interrupt; false when no more can come.
    async fn next(&mut self) -> bool {
        #[cfg(unix)]
        {
            self.signal.recv().await.is_some()
        }
        #[cfg(not(unix))]
        {
            tokio::signal::ctrl_c().await.is_ok()
        }
    }
}

fn confirm(ui: &mut Ui) -> Result<bool, CommandError> {
    ui.status(
        "\nDo you want to perform these actions?\n  failback will perform the actions described \
         above.\n  Only 'yes' will be accepted to approve.\n",
    );
    ui.prompt("  Enter a value: ");
    let mut answer = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut answer)
        .map_err(|err| CommandError::user(miette!("cannot read the answer: {err}")))?;
    Ok(answer.trim() == "yes")
}

fn read_plan(path: &Path) -> Result<Plan, CommandError> {
    let text = std::fs::read_to_string(path).map_err(|err| {
        CommandError::user(miette!(
            help = "give the file `failback plan --out FILE` wrote",
            "cannot read the saved plan {}: {err}",
            path.display()
        ))
    })?;
    let plan: Plan = serde_json::from_str(&text).map_err(|err| {
        CommandError::user(miette!(
            help = "give the file `failback plan --out FILE` wrote, or plan again",
            "{} is not a failback plan: {err}",
            path.display()
        ))
    })?;
    if !Plan::is_readable_format(&plan.format_version) {
        return Err(CommandError::user(miette!(
            help = "plan again with this failback",
            "{} has plan format {}, which failback {} cannot read",
            path.display(),
            plan.format_version,
            env!("CARGO_PKG_VERSION")
        )));
    }
    Ok(plan)
}

/// Refuses a saved plan whose world moved on, naming every reason.
pub fn check_saved_plan(
    plan: &Plan,
    prior: &PriorState,
    config_digest: &str,
    observed_digest: &str,
    file: &Path,
) -> Result<(), CommandError> {
    let mut reasons = Vec::new();
    if plan.state_lineage.is_some() && plan.state_lineage != prior.lineage {
        reasons.push("the state belongs to another history (its lineage changed)".to_owned());
    }
    if plan.state_serial != prior.serial {
        reasons.push(format!(
            "the state changed (serial {} when planned, {} now): another apply ran",
            plan.state_serial, prior.serial
        ));
    }
    if plan.config_digest != config_digest {
        reasons.push("the configuration files or the variables changed".to_owned());
    }
    if plan.observed_digest != observed_digest {
        reasons.push(
            "the estate changed: vCenter or the vault no longer look as they did when planned"
                .to_owned(),
        );
    }
    if reasons.is_empty() {
        return Ok(());
    }
    let help = format!(
        "make a new plan with `failback plan --out {}`, review it, and apply that",
        file.display()
    );
    Err(CommandError::user(miette!(
        help = help,
        "the saved plan {} is stale; nothing was applied:\n  - {}",
        file.display(),
        reasons.join("\n  - ")
    )))
}

fn change_summary_line(applied: usize, failed: usize, skipped: usize, message: &str) -> String {
    let hook = serde_json::json!({
        "changes": { "applied": applied, "failed": failed, "skipped": skipped,
                     "operation": "apply" }
    });
    json_line(
        if failed > 0 { "error" } else { "info" },
        message,
        "change_summary",
        Some(hook),
    )
}

/// The end of the run: counts, each recovery plan as one, and what to do next.
fn report(ui: &mut Ui, style: EventStyle, plan: &Plan, summary: &ApplySummary) {
    let applied = summary.count(|r| matches!(r, ActionResult::Applied { .. }));
    let failed = summary.count(|r| matches!(r, ActionResult::Failed { .. }));
    let skipped = summary.count(|r| matches!(r, ActionResult::Skipped { .. }));
    let not_run = summary.count(|r| matches!(r, ActionResult::NotStarted | ActionResult::Aborted));
    let mut lines = Vec::new();
    for unit in &plan.units {
        let results: Vec<&ActionResult> = unit
            .actions
            .iter()
            .filter_map(|id| summary.outcomes.get(id))
            .collect();
        let done = results
            .iter()
            .filter(|r| matches!(r, ActionResult::Applied { .. }))
            .count();
        let verdict = if done == results.len() {
            "reprotected"
        } else if done > 0 {
            "partially reprotected"
        } else {
            "failed"
        };
        lines.push(format!(
            "{}: {verdict} ({done} of {} actions done)",
            unit.address,
            results.len()
        ));
    }
    for (id, result) in &summary.outcomes {
        match result {
            ActionResult::Failed { message } => lines.push(format!("failed: {id}: {message}")),
            ActionResult::Skipped { reason } => lines.push(format!("skipped: {id}: {reason}")),
            ActionResult::NotStarted => lines.push(format!("not started: {id}")),
            ActionResult::Aborted => lines.push(format!("aborted: {id}")),
            ActionResult::Applied { .. } => {}
        }
    }
    let headline = if summary.all_applied() {
        format!("Apply complete! {applied} applied, 0 failed, 0 skipped.")
    } else {
        format!(
            "Apply incomplete: {applied} applied, {failed} failed, {skipped} skipped, \
             {not_run} not run. Run `failback apply` again to continue; accepted reprotects \
             are not repeated."
        )
    };
    match style {
        EventStyle::Lines | EventStyle::Bars => {
            for line in &lines {
                ui.status(line);
            }
            ui.status(&headline);
        }
        EventStyle::Json => {
            ui.write_data(&change_summary_line(applied, failed, skipped, &headline))
        }
        EventStyle::Silent => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_take_units_and_refuse_nonsense() {
        assert_eq!(parse_duration("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("5m"), Ok(Duration::from_secs(300)));
        assert_eq!(parse_duration("2"), Ok(Duration::from_secs(2)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert!(parse_duration("five").is_err());
        assert!(parse_duration("5d").is_err());
    }
}
