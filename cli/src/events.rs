//! What `apply` does with each executor event: record it in the state (written after
//! every finished action, so a crash or Ctrl-C loses at most the running actions'
//! outcome, never a finished one) and show it, as plain timestamped lines or as a
//! Terraform-`-json`-shaped event stream.
//!
//! State keys: a reprotect is recorded under its address (`reprotect.web01`); the
//! other actions (VM fixes, agent waits) under their action id, because several of
//! them can concern one address.

use std::collections::HashMap;
use std::sync::Mutex;

use chrono::{DateTime, Utc};
use failback_engine::apply::executor::{ApplyEvent, ApplyObserver};
use failback_engine::plan::{PlannedAction, arm_name, kinds};
use failback_engine::provider::ActionOutcome;
use failback_engine::state::{LockGuard, Outcome, RemoteId, ResourceState, State, StateBackend};
use serde_json::json;

use crate::ui::Ui;

/// How progress is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventStyle {
    /// One timestamped line per event, on stderr.
    Lines,
    /// One JSON object per line on stdout.
    Json,
    /// On a terminal: a line per running action with its job or task progress, and
    /// an overall bar (indicatif); finished actions scroll above them.
    Bars,
}

/// The bars of [`EventStyle::Bars`].
struct Bars {
    multi: indicatif::MultiProgress,
    overall: indicatif::ProgressBar,
    running: HashMap<String, indicatif::ProgressBar>,
}

impl Bars {
    fn new(total: usize) -> Bars {
        let multi =
            indicatif::MultiProgress::with_draw_target(indicatif::ProgressDrawTarget::stderr());
        let overall = multi.add(indicatif::ProgressBar::new(total as u64));
        if let Ok(style) = indicatif::ProgressStyle::with_template(
            "{elapsed_precise} [{bar:30}] {pos}/{len} actions finished",
        ) {
            overall.set_style(style.progress_chars("=> "));
        }
        Bars {
            multi,
            overall,
            running: HashMap::new(),
        }
    }

    fn show(&mut self, event: &ApplyEvent, message: &str) {
        match event {
            ApplyEvent::Started { id, address, .. } => {
                let bar = self
                    .multi
                    .insert_before(&self.overall, indicatif::ProgressBar::new(100));
                if let Ok(style) = indicatif::ProgressStyle::with_template(
                    "  {prefix:30!} {bar:20} {pos:>3}% {msg}",
                ) {
                    bar.set_style(style.progress_chars("=> "));
                }
                bar.set_prefix(address.clone());
                bar.set_message("starting");
                self.running.insert(id.clone(), bar);
            }
            ApplyEvent::Progress { id, progress, .. } => {
                if let Some(bar) = self.running.get(id) {
                    if let Some(percent) = progress.percent {
                        bar.set_position(u64::from(percent));
                    }
                    let remote = progress
                        .remote_id
                        .as_deref()
                        .map(|r| format!(" [{}]", arm_name(r)))
                        .unwrap_or_default();
                    bar.set_message(format!("{}{remote}", progress.message));
                }
            }
            ApplyEvent::Completed { id, .. }
            | ApplyEvent::Errored { id, .. }
            | ApplyEvent::Skipped { id, .. } => {
                if let Some(bar) = self.running.remove(id) {
                    bar.finish_and_clear();
                    self.multi.remove(&bar);
                }
                self.overall.inc(1);
                let _ = self
                    .multi
                    .println(format!("{} {message}", Utc::now().format("%H:%M:%S")));
            }
        }
    }
}

/// What the recorder needs of one planned action.
#[derive(Debug, Clone)]
struct ActionInfo {
    state_key: String,
    kind: String,
    change: &'static str,
    inputs: serde_json::Value,
}

/// The state key of an action (see the module documentation).
pub fn state_key(action: &PlannedAction) -> String {
    if action.kind == kinds::REPROTECT {
        action.address.to_string()
    } else {
        action.id.clone()
    }
}

/// The remote id as the state keeps it: an ASR job by its name (the last segment
/// of its ARM id, however the provider reported it), a vSphere task by its moref.
fn remote_id(kind: &str, id: &str) -> RemoteId {
    if kind.starts_with("asr.") {
        RemoteId::AsrJob(arm_name(id).to_owned())
    } else {
        RemoteId::VsphereTask(id.to_owned())
    }
}

struct Inner {
    state: State,
    backend: Box<dyn StateBackend>,
    lock: LockGuard,
    started: HashMap<String, DateTime<Utc>>,
    /// Remote ids seen in progress reports, per action id, for actions not finished.
    pending: HashMap<String, Vec<RemoteId>>,
    /// State writes that failed: the run goes on (the remote side already changed),
    /// but the command ends in an error naming them.
    write_errors: Vec<String>,
    ui: Ui,
    bars: Option<Bars>,
}

/// Records and shows every event of one apply run.
pub struct ApplyRecorder {
    actions: HashMap<String, ActionInfo>,
    style: EventStyle,
    inner: Mutex<Inner>,
}

impl ApplyRecorder {
    pub fn new(
        actions: &[PlannedAction],
        state: State,
        backend: Box<dyn StateBackend>,
        lock: LockGuard,
        style: EventStyle,
        ui: Ui,
    ) -> ApplyRecorder {
        let actions_total = actions.len();
        let actions = actions
            .iter()
            .map(|action| {
                (
                    action.id.clone(),
                    ActionInfo {
                        state_key: state_key(action),
                        kind: action.kind.clone(),
                        change: action.change.terraform_action(),
                        inputs: action.after.clone(),
                    },
                )
            })
            .collect();
        ApplyRecorder {
            actions,
            style,
            inner: Mutex::new(Inner {
                state,
                backend,
                lock,
                started: HashMap::new(),
                pending: HashMap::new(),
                write_errors: Vec::new(),
                ui,
                bars: (style == EventStyle::Bars).then(|| Bars::new(actions_total)),
            }),
        }
    }

    /// Records the actions that were running when the run was aborted as in progress,
    /// with the remote operations they had started, so that a re-run follows them.
    pub fn record_aborted(&self, ids: &[String]) {
        let Ok(mut inner) = self.inner.lock() else {
            return;
        };
        for id in ids {
            let pending = inner.pending.remove(id).unwrap_or_default();
            self.record(&mut inner, id, Outcome::InProgress { pending }, Vec::new());
        }
    }

    /// Ends the run: releases the state lock and returns the state writes that
    /// failed.
    pub fn finish(self) -> Vec<String> {
        let inner = match self.inner.into_inner() {
            Ok(inner) => inner,
            Err(poisoned) => poisoned.into_inner(),
        };
        if let Some(bars) = &inner.bars {
            bars.overall.finish_and_clear();
        }
        inner.write_errors
    }

    fn record(&self, inner: &mut Inner, id: &str, outcome: Outcome, remote_ids: Vec<RemoteId>) {
        let Some(info) = self.actions.get(id) else {
            return;
        };
        let now = Utc::now();
        let started_at = inner.started.get(id).copied().unwrap_or(now);
        let finished_at = match outcome {
            Outcome::InProgress { .. } => None,
            _ => Some(now),
        };
        // Keep the remote operations of earlier runs: the history of the address.
        let mut all_remote_ids = inner
            .state
            .get(&info.state_key)
            .map(|previous| previous.remote_ids.clone())
            .unwrap_or_default();
        for remote in remote_ids {
            if !all_remote_ids.contains(&remote) {
                all_remote_ids.push(remote);
            }
        }
        let resource = ResourceState {
            address: info.state_key.clone(),
            kind: info.kind.clone(),
            inputs: info.inputs.clone(),
            outcome,
            remote_ids: all_remote_ids,
            started_at,
            finished_at,
        };
        if let Err(err) = inner.state.upsert(resource) {
            inner.write_errors.push(err.to_string());
            return;
        }
        inner.state.bump(env!("CARGO_PKG_VERSION"));
        let written = inner.backend.write(&inner.lock, &inner.state);
        if let Err(err) = written {
            inner.write_errors.push(format!(
                "the state after {} was not saved to {}: {err}",
                info.state_key,
                inner.backend.describe()
            ));
        }
    }

    fn show(&self, inner: &mut Inner, event: &ApplyEvent) {
        let (id, address) = match event {
            ApplyEvent::Started { id, address, .. }
            | ApplyEvent::Progress { id, address, .. }
            | ApplyEvent::Completed { id, address, .. }
            | ApplyEvent::Errored { id, address, .. }
            | ApplyEvent::Skipped { id, address, .. } => (id, address),
        };
        let (kind, change) = self
            .actions
            .get(id)
            .map(|info| (info.kind.as_str(), info.change))
            .unwrap_or(("", "create"));
        let (level, kind_name, message) = describe(event, address, kind);
        match self.style {
            EventStyle::Bars => {
                if let Some(bars) = inner.bars.as_mut() {
                    bars.show(event, &message);
                }
            }
            EventStyle::Lines => {
                let line = format!("{} {message}", Utc::now().format("%H:%M:%S"));
                inner.ui.status(&line);
            }
            EventStyle::Json => {
                let mut hook = json!({
                    "resource": { "addr": address, "resource_type": kind },
                    "action": change,
                    "id": id,
                });
                match event {
                    ApplyEvent::Progress { progress, .. } => {
                        hook["remote_id"] = json!(progress.remote_id);
                        hook["percent"] = json!(progress.percent);
                        hook["status"] = json!(progress.message);
                    }
                    ApplyEvent::Completed {
                        outcome, elapsed_s, ..
                    } => {
                        hook["elapsed_seconds"] = json!(elapsed_s);
                        if let ActionOutcome::Applied { remote_ids } = outcome {
                            hook["remote_ids"] = json!(remote_ids);
                        } else {
                            hook["already_done"] = json!(true);
                        }
                    }
                    ApplyEvent::Errored {
                        message, elapsed_s, ..
                    } => {
                        hook["elapsed_seconds"] = json!(elapsed_s);
                        hook["error"] = json!(message);
                    }
                    ApplyEvent::Skipped { reason, .. } => hook["reason"] = json!(reason),
                    ApplyEvent::Started { .. } => {}
                }
                let line = json_line(level, &message, kind_name, Some(hook));
                inner.ui.write_data(&line);
            }
        }
    }
}

/// One event of the `--json` stream: Terraform's machine-readable UI shape.
pub fn json_line(
    level: &str,
    message: &str,
    kind: &str,
    hook: Option<serde_json::Value>,
) -> String {
    let mut object = json!({
        "@level": level,
        "@message": message,
        "@module": "failback",
        "@timestamp": Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
        "type": kind,
    });
    if let Some(hook) = hook {
        object["hook"] = hook;
    }
    format!("{object}\n")
}

/// The level, the `--json` type and the human message of one event.
fn describe(event: &ApplyEvent, address: &str, kind: &str) -> (&'static str, &'static str, String) {
    match event {
        ApplyEvent::Started { .. } => ("info", "apply_start", format!("{address}: {kind} started")),
        ApplyEvent::Progress { progress, .. } => {
            let percent = progress
                .percent
                .map(|p| format!(" {p}%"))
                .unwrap_or_default();
            let remote = progress
                .remote_id
                .as_deref()
                .map(|r| format!(" [{r}]"))
                .unwrap_or_default();
            (
                "info",
                "apply_progress",
                format!("{address}: {}{percent}{remote}", progress.message),
            )
        }
        ApplyEvent::Completed {
            outcome, elapsed_s, ..
        } => {
            let what = match outcome {
                ActionOutcome::Applied { remote_ids } if !remote_ids.is_empty() => {
                    let names: Vec<&str> = remote_ids.iter().map(|id| arm_name(id)).collect();
                    format!("done after {elapsed_s:.1} s ({})", names.join(", "))
                }
                ActionOutcome::Applied { .. } => format!("done after {elapsed_s:.1} s"),
                ActionOutcome::AlreadyDone => "already done, nothing changed".to_owned(),
            };
            (
                "info",
                "apply_complete",
                format!("{address}: {kind} {what}"),
            )
        }
        ApplyEvent::Errored {
            message, elapsed_s, ..
        } => (
            "error",
            "apply_errored",
            format!("{address}: {kind} failed after {elapsed_s:.1} s: {message}"),
        ),
        ApplyEvent::Skipped { reason, .. } => (
            "warn",
            "apply_errored",
            format!("{address}: {kind} skipped: {reason}"),
        ),
    }
}

impl ApplyObserver for ApplyRecorder {
    fn event(&self, event: ApplyEvent) {
        let Ok(mut inner) = self.inner.lock() else {
            return;
        };
        self.show(&mut inner, &event);
        match &event {
            ApplyEvent::Started { id, .. } => {
                inner.started.insert(id.clone(), Utc::now());
                // Recorded before the provider sends anything: if this process dies
                // now, the next run knows a remote change may have been started.
                self.record(
                    &mut inner,
                    id,
                    Outcome::InProgress {
                        pending: Vec::new(),
                    },
                    Vec::new(),
                );
            }
            ApplyEvent::Progress { id, progress, .. } => {
                let Some(remote) = &progress.remote_id else {
                    return;
                };
                let kind = self.actions.get(id).map(|i| i.kind.as_str()).unwrap_or("");
                let remote = remote_id(kind, remote);
                let pending = inner.pending.entry(id.clone()).or_default();
                if !pending.contains(&remote) {
                    pending.push(remote);
                    // A new remote operation: record it at once, so that a crash
                    // leaves its id in the state.
                    let pending = pending.clone();
                    self.record(&mut inner, id, Outcome::InProgress { pending }, Vec::new());
                }
            }
            ApplyEvent::Completed { id, outcome, .. } => {
                let kind = self.actions.get(id).map(|i| i.kind.as_str()).unwrap_or("");
                let mut remote_ids = inner.pending.remove(id).unwrap_or_default();
                if let ActionOutcome::Applied { remote_ids: ids } = outcome {
                    for remote in ids.iter().map(|r| remote_id(kind, r)) {
                        if !remote_ids.contains(&remote) {
                            remote_ids.push(remote);
                        }
                    }
                }
                self.record(&mut inner, id, Outcome::Applied, remote_ids);
            }
            ApplyEvent::Errored { id, message, .. } => {
                let remote_ids = inner.pending.remove(id).unwrap_or_default();
                let outcome = Outcome::Failed {
                    message: message.clone(),
                };
                self.record(&mut inner, id, outcome, remote_ids);
            }
            ApplyEvent::Skipped { .. } => {}
        }
    }
}
