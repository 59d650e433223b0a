//! What `apply` does with each executor event: record it in the state and show it,
//! as plain timestamped lines or as a Terraform-`-json`-shaped event stream.
//!
//! Recording is off the executor's path: an event changes the state in memory and
//! the state writer (`writer`) saves it on a thread of its own, coalescing what
//! arrives during a write into the next one. Every finished action is followed by a
//! write that includes it; the end of the run and both Ctrl-C paths wait for the
//! last write before the lock is released. A crash (kill -9) loses at most what was
//! recorded during the write in flight, a few milliseconds' worth.
//!
//! State keys: a reprotect is recorded under its address (`reprotect.web01`); the
//! other actions (VM fixes, agent waits) under their action id, because several of
//! them can concern one address.

mod writer;

use std::collections::HashMap;
use std::sync::Mutex;

use chrono::{DateTime, Utc};
use failback_engine::apply::executor::{ApplyEvent, ApplyObserver};
use failback_engine::plan::{PlannedAction, arm_name, kinds};
use failback_engine::provider::ActionOutcome;
use failback_engine::state::{LockGuard, Outcome, RemoteId, ResourceState, State, StateBackend};

use self::writer::StateWriter;
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
    /// Nothing shown; events are only recorded (benchmarks, embedding).
    Silent,
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
    started: HashMap<String, DateTime<Utc>>,
    /// Remote ids seen in progress reports, per action id, for actions not finished.
    pending: HashMap<String, Vec<RemoteId>>,
    /// States that could not be recorded (their inputs looked like a secret): the run
    /// goes on (the remote side already changed), but the command ends in an error
    /// naming them, as it does for failed writes.
    record_errors: Vec<String>,
    ui: Ui,
    bars: Option<Bars>,
}

/// Records and shows every event of one apply run.
pub struct ApplyRecorder {
    actions: HashMap<String, ActionInfo>,
    style: EventStyle,
    inner: Mutex<Inner>,
    writer: StateWriter,
}

impl ApplyRecorder {
    pub fn new(
        actions: &[PlannedAction],
        state: State,
        backend: Box<dyn StateBackend>,
        lock: LockGuard,
        style: EventStyle,
        ui: Ui,
    ) -> std::io::Result<ApplyRecorder> {
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
        let writer = StateWriter::start(state, backend, lock)?;
        Ok(ApplyRecorder {
            actions,
            style,
            inner: Mutex::new(Inner {
                started: HashMap::new(),
                pending: HashMap::new(),
                record_errors: Vec::new(),
                ui,
                bars: (style == EventStyle::Bars).then(|| Bars::new(actions_total)),
            }),
            writer,
        })
    }

    /// Records the actions that were running when the run was aborted as in progress,
    /// with the remote operations they had started, so that a re-run follows them,
    /// and waits until that (and everything recorded before) is written.
    pub fn record_aborted(&self, ids: &[String]) {
        {
            let mut inner = self.lock_inner();
            for id in ids {
                let pending = inner.pending.remove(id).unwrap_or_default();
                self.record(&mut inner, id, Outcome::InProgress { pending }, Vec::new());
            }
        }
        self.writer.flush();
    }

    /// The state as recorded so far (what the next write saves), with the serial of
    /// the newest write.
    pub fn state(&self) -> State {
        self.writer.state()
    }

    /// Ends the run: waits until the last recorded state is written, releases the
    /// state lock, and returns what could not be recorded or written.
    pub fn finish(self) -> Vec<String> {
        let ApplyRecorder { inner, writer, .. } = self;
        let inner = inner
            .into_inner()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(bars) = &inner.bars {
            bars.overall.finish_and_clear();
        }
        let mut errors = inner.record_errors;
        errors.extend(writer.close());
        errors
    }

    fn lock_inner(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
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
        let recorded = self.writer.record(&info.state_key, |previous| {
            // Keep the remote operations of earlier runs: the history of the address.
            let mut all_remote_ids = previous
                .map(|previous| previous.remote_ids.clone())
                .unwrap_or_default();
            for remote in remote_ids {
                if !all_remote_ids.contains(&remote) {
                    all_remote_ids.push(remote);
                }
            }
            ResourceState {
                address: info.state_key.clone(),
                kind: info.kind.clone(),
                inputs: info.inputs.clone(),
                outcome,
                remote_ids: all_remote_ids,
                started_at,
                finished_at,
            }
        });
        if let Err(err) = recorded {
            inner.record_errors.push(err.to_string());
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
            EventStyle::Silent => {}
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
        let mut inner = self.lock_inner();
        self.show(&mut inner, &event);
        match &event {
            ApplyEvent::Started { id, .. } => {
                inner.started.insert(id.clone(), Utc::now());
                // Recorded before the provider sends anything, and written moments
                // later: if this process dies after that, the next run knows a remote
                // change may have been started.
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
                    // A new remote operation: record it at once (not only when the
                    // action ends), so that a crash leaves its id in the state.
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

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use failback_engine::config::model::Address;
    use failback_engine::plan::ChangeKind;
    use failback_engine::provider::{Progress, ProviderAction};
    use failback_engine::state::{LocalBackend, LockInfo, Operation, StateError};

    use super::*;

    /// A local backend whose writes are slow, so that a missing flush would show.
    #[derive(Debug)]
    struct SlowBackend(LocalBackend);

    impl StateBackend for SlowBackend {
        fn describe(&self) -> String {
            self.0.describe()
        }
        fn read(&self) -> Result<Option<State>, StateError> {
            self.0.read()
        }
        fn write(&self, lock: &LockGuard, state: &State) -> Result<(), StateError> {
            std::thread::sleep(Duration::from_millis(30));
            self.0.write(lock, state)
        }
        fn lock(&self, info: LockInfo, timeout: Duration) -> Result<LockGuard, StateError> {
            self.0.lock(info, timeout)
        }
        fn lock_holder(&self) -> Result<Option<LockInfo>, StateError> {
            self.0.lock_holder()
        }
        fn force_unlock(&self, id: uuid::Uuid) -> Result<LockInfo, StateError> {
            self.0.force_unlock(id)
        }
    }

    fn agent_wait(name: &str) -> PlannedAction {
        PlannedAction {
            id: format!("reprotect.{name}/{}", kinds::WAIT_FOR_AGENT),
            address: Address::new("reprotect", name),
            kind: kinds::WAIT_FOR_AGENT.to_owned(),
            change: ChangeKind::Read,
            provider: "vault.dr".to_owned(),
            action: ProviderAction::WaitForAgent {
                protected_item_id: format!("{name}-item"),
                timeout_s: 60,
            },
            depends_on: Vec::new(),
            unit: None,
            destructive: false,
            rule: None,
            reason: "test".to_owned(),
            before: json!({}),
            after: json!({ "agent": "registered" }),
        }
    }

    #[test]
    fn an_aborted_run_s_pending_jobs_are_on_disk_when_record_aborted_returns() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let path = dir.path().join("failback.state.json");
        let backend = SlowBackend(LocalBackend::new(&path));
        let lock = backend
            .lock(LockInfo::new(Operation::Apply, "test"), Duration::ZERO)
            .expect("the lock is free");
        let actions: Vec<PlannedAction> = (0..5).map(|i| agent_wait(&format!("vm{i}"))).collect();
        let recorder = ApplyRecorder::new(
            &actions,
            State::new("test"),
            Box::new(backend),
            lock,
            EventStyle::Silent,
            Ui::status_only(),
        )
        .expect("a writer thread");
        for action in &actions {
            let (id, address) = (action.id.clone(), action.address.to_string());
            recorder.event(ApplyEvent::Started {
                id: id.clone(),
                address: address.clone(),
                kind: action.kind.clone(),
            });
            recorder.event(ApplyEvent::Progress {
                id,
                address,
                progress: Progress {
                    remote_id: Some(format!("task-{}", action.address.name)),
                    percent: None,
                    message: "running".to_owned(),
                },
            });
        }
        let ids: Vec<String> = actions.iter().map(|a| a.id.clone()).collect();
        recorder.record_aborted(&ids);

        let stored = LocalBackend::new(&path)
            .read()
            .expect("a valid state")
            .expect("a state");
        assert_eq!(stored.resources, recorder.state().resources);
        for action in &actions {
            let expected = Outcome::InProgress {
                pending: vec![RemoteId::AsrJob(format!("task-{}", action.address.name))],
            };
            assert_eq!(stored.resources[&action.id].outcome, expected);
        }
        assert!(recorder.finish().is_empty());
    }
}
