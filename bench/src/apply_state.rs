//! The `apply_state` case: what saving the state costs an apply run. The CLI's real
//! recorder ([`failback_cli::events::ApplyRecorder`]) hears the events of a thousand
//! reprotects (started, job accepted, finished), sent from tasks of a multi-thread
//! runtime as the executor sends them, and saves them to a local state file in a
//! temporary directory.
//!
//! What it answers: how long an action's task is held up by each event call
//! (`max_event_block_ms`, `mean_event_block_us`: the executor's worker threads are
//! blocked that long), how many state writes the run made and how many bytes they put
//! on disk (the state file and its backup, measured from the files after each write),
//! and the run's wall time against `ideal_s` (the jobs' time spread over the
//! parallelism, what a run whose state cost nothing would take). `wall_s` ends when
//! the recorder's `finish` returns, that is when the last state is on disk.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use failback_cli::events::{ApplyRecorder, EventStyle};
use failback_cli::ui::Ui;
use failback_engine::apply::executor::{ApplyEvent, ApplyObserver};
use failback_engine::config::model::Address;
use failback_engine::plan::{ChangeKind, PlannedAction, kinds};
use failback_engine::provider::{ActionOutcome, Progress, ProviderAction, ReprotectRequest};
use failback_engine::state::{
    LocalBackend, LockGuard, LockInfo, Operation, State, StateBackend, StateError,
};
use miette::{IntoDiagnostic, miette};
use tokio::sync::Semaphore;

/// Reprotects of the case.
pub const ITEMS: usize = 1_000;
/// How many run at once (the `apply` case's parallelism).
const PARALLELISM: usize = 50;
/// How long one reprotect's job runs between its acceptance and its end: short, so
/// that the state's cost shows, not the jobs'.
const JOB: Duration = Duration::from_millis(50);

/// A local backend that counts its writes and the bytes they left on disk.
#[derive(Debug)]
struct CountingBackend {
    local: LocalBackend,
    writes: Arc<AtomicU64>,
    bytes: Arc<AtomicU64>,
}

impl StateBackend for CountingBackend {
    fn describe(&self) -> String {
        self.local.describe()
    }

    fn read(&self) -> Result<Option<State>, StateError> {
        self.local.read()
    }

    fn write(&self, lock: &LockGuard, state: &State) -> Result<(), StateError> {
        self.local.write(lock, state)?;
        let size = |path: &std::path::Path| std::fs::metadata(path).map_or(0, |m| m.len());
        let written = size(self.local.path()) + size(self.local.backup_path());
        self.writes.fetch_add(1, Ordering::Relaxed);
        self.bytes.fetch_add(written, Ordering::Relaxed);
        Ok(())
    }

    fn lock(&self, info: LockInfo, timeout: Duration) -> Result<LockGuard, StateError> {
        self.local.lock(info, timeout)
    }

    fn lock_holder(&self) -> Result<Option<LockInfo>, StateError> {
        self.local.lock_holder()
    }

    fn force_unlock(&self, id: uuid::Uuid) -> Result<LockInfo, StateError> {
        self.local.force_unlock(id)
    }
}

/// How long event calls held their caller up.
#[derive(Default)]
struct Blocking {
    max_ns: AtomicU64,
    total_ns: AtomicU64,
    calls: AtomicU64,
}

impl Blocking {
    fn time(&self, recorder: &ApplyRecorder, event: ApplyEvent) {
        let started = Instant::now();
        recorder.event(event);
        let ns = u64::try_from(started.elapsed().as_nanos()).unwrap_or(u64::MAX);
        self.max_ns.fetch_max(ns, Ordering::Relaxed);
        self.total_ns.fetch_add(ns, Ordering::Relaxed);
        self.calls.fetch_add(1, Ordering::Relaxed);
    }
}

/// A reprotect as the planner makes it, with inputs of the usual size.
fn reprotect(index: usize) -> PlannedAction {
    let name = format!("vm{index:05}");
    let item = format!(
        "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg-dr/providers/\
         Microsoft.RecoveryServices/vaults/vault-dr/replicationFabrics/fabric/\
         replicationProtectionContainers/container/replicationProtectedItems/{name}-item"
    );
    PlannedAction {
        id: format!("reprotect.{name}/{}", kinds::REPROTECT),
        address: Address::new("reprotect", name.clone()),
        kind: kinds::REPROTECT.to_owned(),
        change: ChangeKind::Create,
        provider: "vault.dr".to_owned(),
        action: ProviderAction::Reprotect(ReprotectRequest {
            protected_item_id: item,
            master_target_id: "mt-linux-01".to_owned(),
            process_server_id: "ps-01".to_owned(),
            retention_drive: "/mnt/retention".to_owned(),
            datastore_name: "datastore-prod-01".to_owned(),
            run_as_account_id: None,
            policy_id: "failback-policy".to_owned(),
        }),
        depends_on: Vec::new(),
        unit: None,
        destructive: false,
        rule: None,
        reason: format!("{name} is failed over to Azure and committed"),
        before: serde_json::json!({ "protection_state": "FailedOver" }),
        after: serde_json::json!({
            "protection_state": "Protected",
            "direction": "Azure to on-premises",
            "master_target": "mt-linux-01",
            "process_server": "ps-01",
            "retention_volume": "/mnt/retention",
            "datastore": "datastore-prod-01",
            "policy": "failback-policy",
            "run_as_account": null,
        }),
    }
}

/// Runs the case with `items` reprotects and prints its line.
pub fn run(items: usize) -> miette::Result<()> {
    let dir = tempfile::tempdir().into_diagnostic()?;
    let writes = Arc::new(AtomicU64::new(0));
    let bytes = Arc::new(AtomicU64::new(0));
    let backend = CountingBackend {
        local: LocalBackend::new(dir.path().join("failback.state.json")),
        writes: Arc::clone(&writes),
        bytes: Arc::clone(&bytes),
    };
    let lock = backend
        .lock(
            LockInfo::new(Operation::Apply, env!("CARGO_PKG_VERSION")),
            Duration::ZERO,
        )
        .into_diagnostic()?;
    let actions: Vec<PlannedAction> = (0..items).map(reprotect).collect();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .into_diagnostic()?;

    let started = Instant::now();
    let recorder = ApplyRecorder::new(
        &actions,
        State::new(env!("CARGO_PKG_VERSION")),
        Box::new(backend),
        lock,
        EventStyle::Silent,
        Ui::status_only(),
    )
    .into_diagnostic()?;
    let recorder = Arc::new(recorder);
    let blocking = Arc::new(Blocking::default());
    runtime.block_on(async {
        let limit = Arc::new(Semaphore::new(PARALLELISM));
        let mut tasks = tokio::task::JoinSet::new();
        for (index, action) in actions.iter().enumerate() {
            let recorder = Arc::clone(&recorder);
            let blocking = Arc::clone(&blocking);
            let limit = Arc::clone(&limit);
            let (id, address) = (action.id.clone(), action.address.to_string());
            tasks.spawn(async move {
                let _permit = limit.acquire_owned().await;
                let event = ApplyEvent::Started {
                    id: id.clone(),
                    address: address.clone(),
                    kind: kinds::REPROTECT.to_owned(),
                };
                blocking.time(&recorder, event);
                let job = format!("job-{index:05}");
                let progress = Progress {
                    remote_id: Some(job.clone()),
                    percent: Some(0),
                    message: "reprotect accepted".to_owned(),
                };
                let event = ApplyEvent::Progress {
                    id: id.clone(),
                    address: address.clone(),
                    progress,
                };
                blocking.time(&recorder, event);
                tokio::time::sleep(JOB).await;
                let event = ApplyEvent::Completed {
                    id,
                    address,
                    outcome: ActionOutcome::Applied {
                        remote_ids: vec![job],
                    },
                    elapsed_s: JOB.as_secs_f64(),
                };
                blocking.time(&recorder, event);
            });
        }
        while let Some(joined) = tasks.join_next().await {
            joined.map_err(|err| miette!("an action's task failed: {err}"))?;
        }
        Ok::<(), miette::Report>(())
    })?;
    let Ok(recorder) = Arc::try_unwrap(recorder) else {
        return Err(miette!("the recorder is still shared after the run"));
    };
    let errors = recorder.finish();
    let wall = started.elapsed();
    if !errors.is_empty() {
        return Err(miette!("state writes failed: {}", errors.join("; ")));
    }
    let stored = LocalBackend::new(dir.path().join("failback.state.json"))
        .read()
        .into_diagnostic()?
        .ok_or_else(|| miette!("no state was written"))?;
    let applied = stored
        .resources
        .values()
        .filter(|r| r.outcome == failback_engine::state::Outcome::Applied)
        .count();
    if applied != items {
        return Err(miette!(
            "the state on disk records {applied} applied reprotects, not {items}"
        ));
    }

    let calls = blocking.calls.load(Ordering::Relaxed).max(1);
    let ideal_s = items.div_ceil(PARALLELISM) as f64 * JOB.as_secs_f64();
    println!(
        "bench apply_state actions={items} events={} parallelism={PARALLELISM} job_ms={} \
         ideal_s={ideal_s:.2} wall_s={:.2} writes={} serial={} bytes_written_mb={:.1} \
         max_event_block_ms={:.2} mean_event_block_us={:.0}",
        blocking.calls.load(Ordering::Relaxed),
        JOB.as_millis(),
        wall.as_secs_f64(),
        writes.load(Ordering::Relaxed),
        stored.serial,
        bytes.load(Ordering::Relaxed) as f64 / 1_000_000.0,
        blocking.max_ns.load(Ordering::Relaxed) as f64 / 1_000_000.0,
        blocking.total_ns.load(Ordering::Relaxed) as f64 / calls as f64 / 1_000.0,
    );
    Ok(())
}
