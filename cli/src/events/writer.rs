//! The state writer of an apply run: a thread of its own that owns the state backend
//! and the state lock, so that saving the state never holds up an action's task.
//!
//! The recorder changes the state in memory ([`StateWriter::record`]: a map insert
//! under a short lock) and wakes the writer. The writer saves the newest state; what
//! was recorded while a write was running goes into the next one, so a burst of
//! events costs one write, not one each, and every recorded change is followed by a
//! write that includes it. Each write bumps the serial once. [`StateWriter::flush`]
//! waits until everything recorded so far was written (or failed to be);
//! [`StateWriter::close`] flushes, then ends the thread, which releases the lock
//! only after the last write. Failed writes are kept and returned by `close`, never
//! dropped: the remote side already changed, and the user must hear the state did
//! not follow.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;

use failback_engine::state::model::{SecretInState, find_secret};
use failback_engine::state::{LockGuard, ResourceState, State, StateBackend};

/// What the recorder and the writer share, under one mutex.
struct Pending {
    /// The state's header (lineage, serial, versions); its `resources` stay empty.
    header: State,
    /// The newest resources. An `Arc` each, so that the writer's snapshot is a
    /// shallow copy taken under the lock and deep-copied outside it.
    resources: BTreeMap<String, Arc<ResourceState>>,
    /// Grows by one with every recorded change.
    recorded: u64,
    /// The newest recorded change that a finished write (saved or failed) included.
    settled: u64,
    /// The addresses changed since the writer's last snapshot, to name in an error.
    changed: BTreeSet<String>,
    /// Failed writes, in order.
    errors: Vec<String>,
    /// Set by `close`: the writer ends once everything recorded is settled.
    closing: bool,
    /// Set when the writer thread ended, however it ended.
    gone: bool,
    /// How many writes were made (saved or failed), for tests and tracing.
    writes: u64,
}

struct Shared {
    pending: Mutex<Pending>,
    /// Signalled on each recorded change and on `close`; the writer waits on it.
    work: Condvar,
    /// Signalled after each write and when the writer ends; `flush` waits on it.
    settled: Condvar,
}

impl Shared {
    /// The shared part, also after a panic elsewhere: everything in it stays
    /// consistent between statements, so a poisoned lock is still usable.
    fn lock(&self) -> MutexGuard<'_, Pending> {
        self.pending
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// Owns the writer thread; see the module documentation.
pub(crate) struct StateWriter {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
    describe: String,
}

impl StateWriter {
    /// Starts the writer for `state` (as read, or as the run created it), which it
    /// saves through `backend` under `lock`.
    pub(crate) fn start(
        state: State,
        backend: Box<dyn StateBackend>,
        lock: LockGuard,
    ) -> std::io::Result<StateWriter> {
        let State {
            format_version,
            lineage,
            serial,
            tool_version,
            resources,
        } = state;
        let header = State {
            format_version,
            lineage,
            serial,
            tool_version,
            resources: BTreeMap::new(),
        };
        let resources = resources
            .into_iter()
            .map(|(key, resource)| (key, Arc::new(resource)))
            .collect();
        let shared = Arc::new(Shared {
            pending: Mutex::new(Pending {
                header,
                resources,
                recorded: 0,
                settled: 0,
                changed: BTreeSet::new(),
                errors: Vec::new(),
                closing: false,
                gone: false,
                writes: 0,
            }),
            work: Condvar::new(),
            settled: Condvar::new(),
        });
        let describe = backend.describe();
        let thread = std::thread::Builder::new()
            .name("failback-state-writer".to_owned())
            .spawn({
                let shared = Arc::clone(&shared);
                move || write_loop(&shared, backend.as_ref(), &lock)
            })?;
        Ok(StateWriter {
            shared,
            thread: Some(thread),
            describe,
        })
    }

    /// Records `key`'s new state, built from its previous one, and wakes the writer.
    /// Refuses inputs that look like a secret (nothing is recorded then).
    pub(crate) fn record(
        &self,
        key: &str,
        build: impl FnOnce(Option<&ResourceState>) -> ResourceState,
    ) -> Result<(), SecretInState> {
        let mut pending = self.shared.lock();
        let resource = build(pending.resources.get(key).map(Arc::as_ref));
        if let Some(path) = find_secret(&resource.inputs) {
            return Err(SecretInState {
                address: resource.address,
                path,
            });
        }
        pending.resources.insert(key.to_owned(), Arc::new(resource));
        pending.recorded += 1;
        pending.changed.insert(key.to_owned());
        drop(pending);
        self.shared.work.notify_one();
        Ok(())
    }

    /// Waits until every change recorded so far was written, or its write failed, or
    /// the writer is gone.
    pub(crate) fn flush(&self) {
        let mut pending = self.shared.lock();
        let target = pending.recorded;
        while pending.settled < target && !pending.gone {
            pending = self
                .shared
                .settled
                .wait(pending)
                .unwrap_or_else(|poisoned| poisoned.into_inner());
        }
    }

    /// The state as recorded so far, with the serial of the newest write.
    pub(crate) fn state(&self) -> State {
        let pending = self.shared.lock();
        let mut state = pending.header.clone();
        state.resources = pending
            .resources
            .iter()
            .map(|(key, resource)| (key.clone(), ResourceState::clone(resource)))
            .collect();
        state
    }

    /// How many writes were made so far.
    #[cfg(test)]
    pub(crate) fn writes(&self) -> u64 {
        self.shared.lock().writes
    }

    /// Flushes, ends the writer (which releases the lock after its last write) and
    /// returns the writes that failed.
    pub(crate) fn close(mut self) -> Vec<String> {
        self.stop();
        std::mem::take(&mut self.shared.lock().errors)
    }

    fn stop(&mut self) {
        let Some(thread) = self.thread.take() else {
            return;
        };
        self.shared.lock().closing = true;
        self.shared.work.notify_one();
        if thread.join().is_err() {
            let mut pending = self.shared.lock();
            if pending.settled < pending.recorded {
                let message = format!(
                    "the state writer stopped unexpectedly; the last changes (to {}) were \
                     not saved to {}",
                    name_changes(&pending.changed),
                    self.describe
                );
                pending.errors.push(message);
            }
        }
    }
}

impl Drop for StateWriter {
    /// An apply that ends early (an error) still saves what it recorded before the
    /// lock is released.
    fn drop(&mut self) {
        self.stop();
    }
}

/// Marks the writer gone when its thread ends, also by a panic, so that no flush
/// waits for it forever.
struct GoneOnDrop<'a>(&'a Shared);

impl Drop for GoneOnDrop<'_> {
    fn drop(&mut self) {
        self.0.lock().gone = true;
        self.0.settled.notify_all();
    }
}

fn write_loop(shared: &Shared, backend: &dyn StateBackend, lock: &LockGuard) {
    let _gone = GoneOnDrop(shared);
    loop {
        let mut pending = shared.lock();
        while pending.settled == pending.recorded && !pending.closing {
            pending = shared
                .work
                .wait(pending)
                .unwrap_or_else(|poisoned| poisoned.into_inner());
        }
        if pending.settled == pending.recorded {
            // Closing, and everything is settled.
            return;
        }
        let target = pending.recorded;
        pending.header.bump(env!("CARGO_PKG_VERSION"));
        let mut snapshot = pending.header.clone();
        let resources: Vec<(String, Arc<ResourceState>)> = pending
            .resources
            .iter()
            .map(|(key, resource)| (key.clone(), Arc::clone(resource)))
            .collect();
        let changed = std::mem::take(&mut pending.changed);
        drop(pending);

        snapshot.resources = resources
            .into_iter()
            .map(|(key, resource)| (key, ResourceState::clone(&resource)))
            .collect();
        let written = backend.write(lock, &snapshot);
        tracing::debug!(
            serial = snapshot.serial,
            changes = changed.len(),
            ok = written.is_ok(),
            "state written"
        );

        let mut pending = shared.lock();
        pending.settled = target;
        pending.writes += 1;
        if let Err(err) = written {
            pending.errors.push(format!(
                "the state after {} was not saved to {}: {err}",
                name_changes(&changed),
                backend.describe()
            ));
        }
        drop(pending);
        shared.settled.notify_all();
    }
}

/// `reprotect.web01`, `reprotect.web01, reprotect.web02` or
/// `reprotect.web01, reprotect.web02, reprotect.web03 and 7 more`.
fn name_changes(changed: &BTreeSet<String>) -> String {
    const SHOWN: usize = 3;
    let mut names: Vec<&str> = changed.iter().take(SHOWN).map(String::as_str).collect();
    if names.is_empty() {
        names.push("the last recorded change");
    }
    let mut text = names.join(", ");
    if changed.len() > SHOWN {
        text.push_str(&format!(" and {} more", changed.len() - SHOWN));
    }
    text
}

#[cfg(test)]
mod tests {
    use std::sync::mpsc;
    use std::time::Duration;

    use failback_engine::state::{
        LocalBackend, LockInfo, Operation, Outcome, RemoteId, StateError,
    };
    use uuid::Uuid;

    use super::*;

    /// How long a test waits for the writer before it calls it stuck.
    const BOUND: Duration = Duration::from_secs(10);

    /// Where a held write says it started, and where it waits for a go.
    type Gate = (Mutex<mpsc::Sender<()>>, Mutex<mpsc::Receiver<()>>);

    /// A local backend whose writes can be held at a gate, or fail.
    #[derive(Debug)]
    struct TestBackend {
        local: LocalBackend,
        /// Each write first says it started, then waits for a go (when set).
        gate: Option<Gate>,
        failing: bool,
    }

    impl StateBackend for TestBackend {
        fn describe(&self) -> String {
            self.local.describe()
        }
        fn read(&self) -> Result<Option<State>, StateError> {
            self.local.read()
        }
        fn write(&self, lock: &LockGuard, state: &State) -> Result<(), StateError> {
            if let Some((started, go)) = &self.gate {
                let _ = started.lock().map(|tx| tx.send(()));
                let _ = go.lock().map(|rx| rx.recv_timeout(BOUND));
            }
            if self.failing {
                return Err(StateError::Remote {
                    action: "write",
                    location: "the test backend".to_owned(),
                    reason: "the disk is full".to_owned(),
                });
            }
            self.local.write(lock, state)
        }
        fn lock(&self, info: LockInfo, timeout: Duration) -> Result<LockGuard, StateError> {
            self.local.lock(info, timeout)
        }
        fn lock_holder(&self) -> Result<Option<LockInfo>, StateError> {
            self.local.lock_holder()
        }
        fn force_unlock(&self, id: Uuid) -> Result<LockInfo, StateError> {
            self.local.force_unlock(id)
        }
    }

    fn resource(address: &str, outcome: Outcome) -> ResourceState {
        ResourceState {
            address: address.to_owned(),
            kind: "asr.protected_item.reprotect".to_owned(),
            inputs: serde_json::json!({ "master_target": "mt01" }),
            outcome,
            remote_ids: Vec::new(),
            started_at: chrono::Utc::now(),
            finished_at: None,
        }
    }

    struct Fixture {
        _dir: tempfile::TempDir,
        path: std::path::PathBuf,
        writer: StateWriter,
        started: Option<mpsc::Receiver<()>>,
        go: Option<mpsc::Sender<()>>,
    }

    fn fixture(gated: bool, failing: bool) -> Fixture {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let path = dir.path().join("failback.state.json");
        let (started_tx, started_rx) = mpsc::channel();
        let (go_tx, go_rx) = mpsc::channel();
        let backend = TestBackend {
            local: LocalBackend::new(&path),
            gate: gated.then(|| (Mutex::new(started_tx), Mutex::new(go_rx))),
            failing,
        };
        let lock = backend
            .lock(LockInfo::new(Operation::Apply, "test"), Duration::ZERO)
            .expect("the lock is free");
        let writer =
            StateWriter::start(State::new("test"), Box::new(backend), lock).expect("a thread");
        Fixture {
            _dir: dir,
            path,
            writer,
            started: gated.then_some(started_rx),
            go: gated.then_some(go_tx),
        }
    }

    fn record(writer: &StateWriter, address: &str, outcome: Outcome) {
        writer
            .record(address, |_| resource(address, outcome))
            .expect("no secret");
    }

    #[test]
    fn records_made_during_a_write_are_coalesced_into_the_next() {
        let mut fixture = fixture(true, false);
        let started = fixture.started.take().expect("gated");
        let go = fixture.go.take().expect("gated");
        record(&fixture.writer, "reprotect.vm000", Outcome::Applied);
        started.recv_timeout(BOUND).expect("the first write starts");
        for index in 1..50 {
            record(
                &fixture.writer,
                &format!("reprotect.vm{index:03}"),
                Outcome::Applied,
            );
        }
        let in_memory = fixture.writer.state();
        // Let the held first write and the one after it through.
        go.send(()).expect("the writer waits");
        started
            .recv_timeout(BOUND)
            .expect("the second write starts");
        go.send(()).expect("the writer waits");
        fixture.writer.flush();
        assert_eq!(
            fixture.writer.writes(),
            2,
            "50 records, one write each burst"
        );
        let errors = fixture.writer.close();
        assert!(errors.is_empty(), "{errors:?}");

        let stored = LocalBackend::new(&fixture.path)
            .read()
            .expect("a valid state")
            .expect("a state");
        assert_eq!(stored.resources, in_memory.resources);
        assert_eq!(stored.resources.len(), 50);
        assert_eq!(stored.serial, 2, "one serial bump per write");
        assert_eq!(stored.lineage, in_memory.lineage);
    }

    #[test]
    fn flush_waits_for_the_last_recorded_change_and_close_releases_the_lock() {
        let fixture = fixture(false, false);
        let backend = LocalBackend::new(&fixture.path);
        for round in 0..20 {
            let pending = vec![RemoteId::AsrJob(format!("job-{round}"))];
            record(
                &fixture.writer,
                "reprotect.web01",
                Outcome::InProgress { pending },
            );
            fixture.writer.flush();
            let stored = backend.read().expect("valid").expect("a state");
            assert_eq!(
                stored.resources["reprotect.web01"].outcome,
                Outcome::InProgress {
                    pending: vec![RemoteId::AsrJob(format!("job-{round}"))]
                },
                "round {round}: flush returned before the newest change was written"
            );
        }
        assert!(backend.lock_holder().expect("readable").is_some());
        let errors = fixture.writer.close();
        assert!(errors.is_empty(), "{errors:?}");
        let relock = backend.lock(LockInfo::new(Operation::Apply, "test"), Duration::ZERO);
        assert!(relock.is_ok(), "the lock is released after close");
    }

    #[test]
    fn a_failing_backend_s_errors_are_returned_naming_what_was_not_saved() {
        let fixture = fixture(false, true);
        record(&fixture.writer, "reprotect.web01", Outcome::Applied);
        fixture.writer.flush();
        record(&fixture.writer, "reprotect.web02", Outcome::Applied);
        let errors = fixture.writer.close();
        assert_eq!(errors.len(), 2, "{errors:?}");
        assert!(errors[0].contains("reprotect.web01"), "{errors:?}");
        assert!(errors[0].contains("the disk is full"), "{errors:?}");
        assert!(errors[1].contains("reprotect.web02"), "{errors:?}");
        assert!(!fixture.path.exists());
    }

    #[test]
    fn a_secret_is_refused_and_not_recorded() {
        let fixture = fixture(false, false);
        let refused = fixture.writer.record("reprotect.web01", |_| {
            let mut resource = resource("reprotect.web01", Outcome::Applied);
            resource.inputs = serde_json::json!({ "password": "hunter2" });
            resource
        });
        let err = refused.expect_err("a password is refused");
        assert!(!err.to_string().contains("hunter2"));
        assert!(fixture.writer.state().resources.is_empty());
        assert!(fixture.writer.close().is_empty());
    }

    #[test]
    fn changes_are_named_up_to_three() {
        let changed: BTreeSet<String> = (1..=5).map(|i| format!("reprotect.vm{i}")).collect();
        assert_eq!(
            name_changes(&changed),
            "reprotect.vm1, reprotect.vm2, reprotect.vm3 and 2 more"
        );
    }
}
