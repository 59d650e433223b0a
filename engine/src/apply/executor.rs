//! Carries out a plan's actions through providers: the bridge between the
//! [`scheduler`] (which knows only job ids) and the
//! [`Provider`] trait (which knows only single actions).
//!
//! Every start, progress report and end is handed to an [`ApplyObserver`], which is
//! where the caller renders progress and saves state after each finished action.
//! Each provider's own concurrency hint is honoured below the run's parallelism.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use tokio::sync::{Semaphore, watch};

use super::scheduler::{self, Job, JobOutcome, SchedulerError, StopLevel};
use crate::provider::{ActionOutcome, Progress, ProgressSink, Provider, ProviderAction};

/// One action to carry out, as the plan gives it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApplyAction {
    pub id: String,
    /// The object it concerns, e.g. `reprotect.web01`.
    pub address: String,
    /// The action type, e.g. `asr.protected_item.reprotect`.
    pub kind: String,
    /// The address of the provider block that carries it out, e.g. `vault.dr`.
    pub provider: String,
    pub action: ProviderAction,
    pub depends_on: Vec<String>,
    /// Actions of one unit (a recovery plan) start together.
    pub unit: Option<String>,
}

/// What happened to one action, as the observer hears it.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ApplyEvent {
    Started {
        id: String,
        address: String,
        kind: String,
    },
    Progress {
        id: String,
        address: String,
        progress: Progress,
    },
    Completed {
        id: String,
        address: String,
        outcome: ActionOutcome,
        elapsed_s: f64,
    },
    Errored {
        id: String,
        address: String,
        message: String,
        elapsed_s: f64,
    },
    Skipped {
        id: String,
        address: String,
        reason: String,
    },
}

/// Hears every event of a run, in order per action. Called from tokio tasks: keep it
/// quick, never block on I/O (hand state writes to a thread, as `failback apply` does).
pub trait ApplyObserver: Send + Sync {
    fn event(&self, event: ApplyEvent);
}

/// How each action of a run ended.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ApplySummary {
    pub outcomes: BTreeMap<String, ActionResult>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum ActionResult {
    Applied { outcome: ActionOutcome },
    Failed { message: String },
    Skipped { reason: String },
    NotStarted,
    Aborted,
}

impl ApplySummary {
    pub fn count(&self, pred: impl Fn(&ActionResult) -> bool) -> usize {
        self.outcomes.values().filter(|r| pred(r)).count()
    }

    /// True when every action was applied (or was already done).
    pub fn all_applied(&self) -> bool {
        self.outcomes
            .values()
            .all(|r| matches!(r, ActionResult::Applied { .. }))
    }
}

/// Runs `actions` in dependency order with at most `parallelism` at once.
pub async fn apply(
    actions: Vec<ApplyAction>,
    providers: &HashMap<String, Arc<dyn Provider>>,
    parallelism: usize,
    stop: watch::Receiver<StopLevel>,
    observer: Arc<dyn ApplyObserver>,
) -> Result<ApplySummary, ApplyError> {
    for action in &actions {
        if !providers.contains_key(&action.provider) {
            return Err(ApplyError::UnknownProvider {
                address: action.address.clone(),
                provider: action.provider.clone(),
            });
        }
    }
    // One semaphore per provider, sized by its own concurrency hint.
    let limits: HashMap<String, Arc<Semaphore>> = providers
        .iter()
        .map(|(address, provider)| {
            let permits = provider.concurrency().clamp(1, parallelism.max(1));
            (address.clone(), Arc::new(Semaphore::new(permits)))
        })
        .collect();
    let by_id: HashMap<String, ApplyAction> = actions
        .iter()
        .map(|action| (action.id.clone(), action.clone()))
        .collect();
    let results: Arc<std::sync::Mutex<HashMap<String, ActionOutcome>>> = Arc::default();
    let jobs = actions
        .iter()
        .map(|action| Job {
            id: action.id.clone(),
            depends_on: action.depends_on.clone(),
            unit: action.unit.clone(),
        })
        .collect();

    let execute = |id: &str| -> scheduler::JobFuture {
        let Some(action) = by_id.get(id).cloned() else {
            let message = format!("no action with id {id}");
            return Box::pin(async move { Err(message) });
        };
        let provider = Arc::clone(&providers[&action.provider]);
        let limit = Arc::clone(&limits[&action.provider]);
        let observer = Arc::clone(&observer);
        let results = Arc::clone(&results);
        Box::pin(async move {
            // The semaphore is never closed, so acquiring cannot fail.
            let _permit = limit.acquire_owned().await.map_err(|e| e.to_string())?;
            observer.event(ApplyEvent::Started {
                id: action.id.clone(),
                address: action.address.clone(),
                kind: action.kind.clone(),
            });
            let started = Instant::now();
            let sink = ObserverSink {
                id: action.id.clone(),
                address: action.address.clone(),
                observer: Arc::clone(&observer),
            };
            let result = provider.apply(&action.action, &sink).await;
            let elapsed_s = seconds(started.elapsed());
            match result {
                Ok(outcome) => {
                    if let Ok(mut results) = results.lock() {
                        results.insert(action.id.clone(), outcome.clone());
                    }
                    observer.event(ApplyEvent::Completed {
                        id: action.id,
                        address: action.address,
                        outcome,
                        elapsed_s,
                    });
                    Ok(())
                }
                Err(err) => {
                    let message = err.to_string();
                    observer.event(ApplyEvent::Errored {
                        id: action.id,
                        address: action.address,
                        message: message.clone(),
                        elapsed_s,
                    });
                    Err(message)
                }
            }
        })
    };

    let skipped_observer = Arc::clone(&observer);
    let on_event = |event: scheduler::SchedulerEvent| {
        if let scheduler::SchedulerEvent::Finished {
            id,
            outcome: JobOutcome::Skipped { reason },
        } = event
        {
            let address = by_id
                .get(&id)
                .map(|action| action.address.clone())
                .unwrap_or_default();
            skipped_observer.event(ApplyEvent::Skipped {
                id,
                address,
                reason,
            });
        }
    };

    let outcomes = scheduler::run(jobs, parallelism, stop, execute, on_event).await?;
    let results = results.lock().map(|r| r.clone()).unwrap_or_default();
    let outcomes = outcomes
        .into_iter()
        .map(|(id, outcome)| {
            let result = match outcome {
                JobOutcome::Succeeded => ActionResult::Applied {
                    outcome: results
                        .get(&id)
                        .cloned()
                        .unwrap_or(ActionOutcome::AlreadyDone),
                },
                JobOutcome::Failed { message } => ActionResult::Failed { message },
                JobOutcome::Skipped { reason } => ActionResult::Skipped { reason },
                JobOutcome::NotStarted => ActionResult::NotStarted,
                JobOutcome::Aborted => ActionResult::Aborted,
            };
            (id, result)
        })
        .collect();
    Ok(ApplySummary { outcomes })
}

fn seconds(duration: Duration) -> f64 {
    (duration.as_secs_f64() * 1000.0).round() / 1000.0
}

/// Forwards a provider's progress reports to the observer, tagged with the action.
struct ObserverSink {
    id: String,
    address: String,
    observer: Arc<dyn ApplyObserver>,
}

impl ProgressSink for ObserverSink {
    fn report(&self, progress: Progress) {
        self.observer.event(ApplyEvent::Progress {
            id: self.id.clone(),
            address: self.address.clone(),
            progress,
        });
    }
}

/// Why a run could not start.
#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    #[error("{address} needs provider {provider}, which is not configured")]
    UnknownProvider { address: String, provider: String },
    #[error(transparent)]
    Schedule(#[from] SchedulerError),
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use async_trait::async_trait;

    use super::*;
    use crate::observe::Observation;
    use crate::provider::ProviderError;

    /// A provider whose actions take a second and fail for VMs named `broken`.
    #[derive(Debug, Default)]
    struct FakeProvider {
        running: AtomicUsize,
        peak: AtomicUsize,
        concurrency: usize,
    }

    #[async_trait]
    impl Provider for FakeProvider {
        fn address(&self) -> &str {
            "vcenter.fake"
        }

        fn concurrency(&self) -> usize {
            self.concurrency
        }

        async fn discover(&self) -> Result<Observation, ProviderError> {
            Err(ProviderError::Protocol("not in this test".to_owned()))
        }

        async fn apply(
            &self,
            action: &ProviderAction,
            progress: &dyn ProgressSink,
        ) -> Result<ActionOutcome, ProviderError> {
            let now = self.running.fetch_add(1, Ordering::SeqCst) + 1;
            self.peak.fetch_max(now, Ordering::SeqCst);
            progress.report(Progress {
                remote_id: Some("task-1".to_owned()),
                percent: Some(50),
                message: "halfway".to_owned(),
            });
            tokio::time::sleep(Duration::from_secs(1)).await;
            self.running.fetch_sub(1, Ordering::SeqCst);
            match action {
                ProviderAction::VmRemoveSnapshots { vm } if vm == "broken" => {
                    Err(ProviderError::Remote {
                        service: "vSphere".to_owned(),
                        code: "InvalidState".to_owned(),
                        message: "the VM is locked".to_owned(),
                        help: None,
                    })
                }
                _ => Ok(ActionOutcome::Applied {
                    remote_ids: vec!["task-1".to_owned()],
                }),
            }
        }
    }

    #[derive(Default)]
    struct Recorder(Mutex<Vec<ApplyEvent>>);

    impl ApplyObserver for Recorder {
        fn event(&self, event: ApplyEvent) {
            self.0.lock().unwrap().push(event);
        }
    }

    fn remove_snapshots(id: &str, vm: &str, depends_on: &[&str]) -> ApplyAction {
        ApplyAction {
            id: id.to_owned(),
            address: format!("reprotect.{vm}"),
            kind: "vcenter.vm.remove_snapshots".to_owned(),
            provider: "vcenter.fake".to_owned(),
            action: ProviderAction::VmRemoveSnapshots { vm: vm.to_owned() },
            depends_on: depends_on.iter().map(|d| (*d).to_owned()).collect(),
            unit: None,
        }
    }

    fn providers(provider: Arc<FakeProvider>) -> HashMap<String, Arc<dyn Provider>> {
        HashMap::from([("vcenter.fake".to_owned(), provider as Arc<dyn Provider>)])
    }

    #[tokio::test(start_paused = true)]
    async fn failures_are_reported_and_independent_actions_complete() {
        let provider = Arc::new(FakeProvider {
            concurrency: 10,
            ..Default::default()
        });
        let recorder = Arc::new(Recorder::default());
        let (_tx, stop) = watch::channel(StopLevel::Run);
        let actions = vec![
            remove_snapshots("a", "broken", &[]),
            remove_snapshots("b", "after-broken", &["a"]),
            remove_snapshots("c", "fine", &[]),
        ];
        let summary = apply(
            actions,
            &providers(provider),
            10,
            stop,
            recorder.clone() as Arc<dyn ApplyObserver>,
        )
        .await
        .unwrap();
        assert!(
            matches!(summary.outcomes["a"], ActionResult::Failed { ref message } if message.contains("the VM is locked"))
        );
        assert!(matches!(
            summary.outcomes["b"],
            ActionResult::Skipped { .. }
        ));
        assert!(matches!(
            summary.outcomes["c"],
            ActionResult::Applied { .. }
        ));
        let events = recorder.0.lock().unwrap();
        assert!(
            events
                .iter()
                .any(|e| matches!(e, ApplyEvent::Progress { id, .. } if id == "c"))
        );
        assert!(
            events
                .iter()
                .any(|e| matches!(e, ApplyEvent::Skipped { id, .. } if id == "b"))
        );
        assert!(
            events
                .iter()
                .any(|e| matches!(e, ApplyEvent::Errored { id, .. } if id == "a"))
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_providers_concurrency_hint_caps_its_actions() {
        let provider = Arc::new(FakeProvider {
            concurrency: 2,
            ..Default::default()
        });
        let (_tx, stop) = watch::channel(StopLevel::Run);
        let actions = (0..8)
            .map(|i| remove_snapshots(&format!("a{i}"), &format!("vm{i}"), &[]))
            .collect();
        let summary = apply(
            actions,
            &providers(Arc::clone(&provider)),
            10,
            stop,
            Arc::new(Recorder::default()),
        )
        .await
        .unwrap();
        assert!(summary.all_applied());
        assert_eq!(provider.peak.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn an_action_for_an_unconfigured_provider_is_refused() {
        let (_tx, stop) = watch::channel(StopLevel::Run);
        let mut action = remove_snapshots("a", "vm", &[]);
        action.provider = "vcenter.other".to_owned();
        let err = apply(
            vec![action],
            &HashMap::new(),
            1,
            stop,
            Arc::new(Recorder::default()),
        )
        .await
        .unwrap_err();
        assert!(err.to_string().contains("vcenter.other"), "{err}");
    }
}
