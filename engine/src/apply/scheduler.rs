//! The apply scheduler: starts each job as soon as its dependencies are done, with at
//! most `parallelism` running at once.
//!
//! Jobs that share a unit (the members of one recovery plan, reprotected as one
//! replication group) start together, each in a slot of its own: a unit waits until
//! there are slots for all its members rather than leaving one behind (a unit larger
//! than the parallelism starts as many as fit and the rest as slots free up). A failed
//! job fails its dependents, which are skipped, and lets independent branches finish.
//! Stopping comes in two levels: `Drain` starts nothing new and waits for the running
//! jobs; `Abort` abandons them.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::future::Future;
use std::pin::Pin;

use petgraph::algo::toposort;
use petgraph::graph::DiGraph;
use serde::{Deserialize, Serialize};
use tokio::sync::watch;
use tokio::task::JoinSet;

/// One unit of work to schedule, known by id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Job {
    pub id: String,
    pub depends_on: Vec<String>,
    /// Jobs with the same unit start together.
    pub unit: Option<String>,
}

/// How a job ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum JobOutcome {
    Succeeded,
    Failed {
        message: String,
    },
    /// Not started because something it needs failed or was skipped.
    Skipped {
        reason: String,
    },
    /// Not started because the run was stopped.
    NotStarted,
    /// Running when the run was aborted; its remote operation may still be going on.
    Aborted,
}

impl JobOutcome {
    pub fn is_success(&self) -> bool {
        matches!(self, JobOutcome::Succeeded)
    }
}

/// How far a run should go on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum StopLevel {
    Run,
    /// Start nothing new; wait for the running jobs (the first Ctrl-C).
    Drain,
    /// Abandon the running jobs too (the second Ctrl-C).
    Abort,
}

/// What the scheduler tells its caller while it runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SchedulerEvent {
    Started { id: String },
    Finished { id: String, outcome: JobOutcome },
}

/// Why jobs could not be scheduled at all.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SchedulerError {
    #[error("job {0:?} is listed twice")]
    DuplicateJob(String),
    #[error("job {job:?} depends on {missing:?}, which is not a job of this run")]
    UnknownDependency { job: String, missing: String },
    #[error("jobs depend on each other in a cycle through {0:?}")]
    Cycle(String),
    #[error("job {job:?} depends on {other:?} of the same unit {unit:?}; a unit starts together")]
    DependencyInsideUnit {
        job: String,
        other: String,
        unit: String,
    },
}

/// A job's work: resolves to `Err(message)` when the job failed.
pub type JobFuture = Pin<Box<dyn Future<Output = Result<(), String>> + Send>>;

/// Runs `jobs` to the end (or until stopped) and returns every job's outcome.
///
/// `execute` is called once per started job, on the caller's task; the future it
/// returns runs on its own tokio task. `on_event` sees every start and finish in order.
pub async fn run<E, F>(
    jobs: Vec<Job>,
    parallelism: usize,
    mut stop: watch::Receiver<StopLevel>,
    mut execute: E,
    mut on_event: F,
) -> Result<BTreeMap<String, JobOutcome>, SchedulerError>
where
    E: FnMut(&str) -> JobFuture,
    F: FnMut(SchedulerEvent),
{
    let mut run = Run::new(jobs, parallelism.max(1))?;
    let mut running: JoinSet<(String, Result<(), String>)> = JoinSet::new();
    let mut task_ids: HashMap<tokio::task::Id, String> = HashMap::new();

    loop {
        let level = *stop.borrow();
        if level == StopLevel::Run {
            for id in run.next_to_start(running.len()) {
                on_event(SchedulerEvent::Started { id: id.clone() });
                let work = execute(&id);
                let job_id = id.clone();
                let handle = running.spawn(async move { (job_id, work.await) });
                task_ids.insert(handle.id(), id);
            }
        }
        if running.is_empty() {
            break;
        }
        tokio::select! {
            joined = running.join_next_with_id() => {
                let Some(joined) = joined else { break };
                let (id, result) = match joined {
                    Ok((task_id, (id, result))) => {
                        task_ids.remove(&task_id);
                        (id, result)
                    }
                    Err(join_error) => {
                        // A panicking job fails alone; the run goes on.
                        let id = task_ids.remove(&join_error.id()).unwrap_or_default();
                        (id, Err(format!("the job panicked: {join_error}")))
                    }
                };
                let outcome = match result {
                    Ok(()) => JobOutcome::Succeeded,
                    Err(message) => JobOutcome::Failed { message },
                };
                for event in run.finish(&id, outcome) {
                    on_event(event);
                }
            }
            changed = stop.changed() => {
                if changed.is_err() {
                    // The sender is gone: nobody can stop us any more; keep running.
                    stop = watch::channel(level).1;
                    continue;
                }
                if *stop.borrow() == StopLevel::Abort {
                    running.abort_all();
                    for (_, id) in task_ids.drain() {
                        run.outcomes.insert(id.clone(), JobOutcome::Aborted);
                        on_event(SchedulerEvent::Finished { id, outcome: JobOutcome::Aborted });
                    }
                    while running.join_next().await.is_some() {}
                    break;
                }
            }
        }
    }

    for job in &run.order {
        run.outcomes
            .entry(job.clone())
            .or_insert(JobOutcome::NotStarted);
    }
    Ok(run.outcomes)
}

/// The bookkeeping of one run, apart from the async machinery so it can be reasoned
/// about (and tested) on its own.
struct Run {
    parallelism: usize,
    /// Jobs in the caller's order.
    order: Vec<String>,
    units: HashMap<String, Vec<String>>,
    unit_of: HashMap<String, String>,
    dependents: HashMap<String, Vec<String>>,
    waiting_on: HashMap<String, usize>,
    /// Groups whose dependencies are all done, in the order they became ready.
    ready: VecDeque<Vec<String>>,
    queued: HashSet<String>,
    outcomes: BTreeMap<String, JobOutcome>,
}

impl Run {
    fn new(jobs: Vec<Job>, parallelism: usize) -> Result<Run, SchedulerError> {
        let mut graph = DiGraph::<String, ()>::new();
        let mut index = HashMap::new();
        for job in &jobs {
            if index.contains_key(&job.id) {
                return Err(SchedulerError::DuplicateJob(job.id.clone()));
            }
            index.insert(job.id.clone(), graph.add_node(job.id.clone()));
        }
        let mut unit_of = HashMap::new();
        let mut units: HashMap<String, Vec<String>> = HashMap::new();
        for job in &jobs {
            if let Some(unit) = &job.unit {
                unit_of.insert(job.id.clone(), unit.clone());
                units.entry(unit.clone()).or_default().push(job.id.clone());
            }
        }
        let mut dependents: HashMap<String, Vec<String>> = HashMap::new();
        let mut waiting_on = HashMap::new();
        for job in &jobs {
            let mut distinct: Vec<&String> = job.depends_on.iter().collect();
            distinct.sort();
            distinct.dedup();
            for dependency in &distinct {
                let Some(&from) = index.get(*dependency) else {
                    return Err(SchedulerError::UnknownDependency {
                        job: job.id.clone(),
                        missing: (*dependency).clone(),
                    });
                };
                if let (Some(unit), Some(other_unit)) =
                    (job.unit.as_ref(), unit_of.get(*dependency))
                    && unit == other_unit
                {
                    return Err(SchedulerError::DependencyInsideUnit {
                        job: job.id.clone(),
                        other: (*dependency).clone(),
                        unit: unit.clone(),
                    });
                }
                graph.add_edge(from, index[&job.id], ());
                dependents
                    .entry((*dependency).clone())
                    .or_default()
                    .push(job.id.clone());
            }
            waiting_on.insert(job.id.clone(), distinct.len());
        }
        toposort(&graph, None)
            .map_err(|cycle| SchedulerError::Cycle(graph[cycle.node_id()].clone()))?;
        // Ready jobs start in the order the caller gave them.
        let order = jobs.into_iter().map(|job| job.id).collect::<Vec<_>>();
        let mut run = Run {
            parallelism,
            order,
            units,
            unit_of,
            dependents,
            waiting_on,
            ready: VecDeque::new(),
            queued: HashSet::new(),
            outcomes: BTreeMap::new(),
        };
        for id in run.order.clone() {
            if run.waiting_on[&id] == 0 {
                run.enqueue_if_ready(&id);
            }
        }
        Ok(run)
    }

    /// Queues the job (or its whole unit, once every member is free to go).
    fn enqueue_if_ready(&mut self, id: &str) {
        if self.queued.contains(id) || self.outcomes.contains_key(id) {
            return;
        }
        let group = match self.unit_of.get(id) {
            Some(unit) => {
                let members = self.units[unit].clone();
                if members.iter().any(|member| self.waiting_on[member] > 0) {
                    return;
                }
                members
            }
            None => vec![id.to_owned()],
        };
        for member in &group {
            self.queued.insert(member.clone());
        }
        self.ready.push_back(group);
    }

    /// The jobs to start now, given how many are running.
    fn next_to_start(&mut self, running: usize) -> Vec<String> {
        let mut free = self.parallelism.saturating_sub(running);
        let mut started = Vec::new();
        while free > 0 {
            let Some(group) = self.ready.front_mut() else {
                break;
            };
            // A unit goes together when it fits; one larger than the parallelism
            // starts only on an idle scheduler, as much of it as fits.
            let oversized = group.len() > self.parallelism;
            if group.len() > free && !(oversized && running + started.len() == 0) {
                break;
            }
            let take = group.len().min(free);
            let rest = group.split_off(take);
            let now = std::mem::replace(group, rest);
            if group.is_empty() {
                self.ready.pop_front();
            } else {
                // The remainder of an oversized unit is started job by job.
                let remainder = std::mem::take(group);
                self.ready.pop_front();
                for (offset, id) in remainder.into_iter().enumerate() {
                    self.ready.insert(offset, vec![id]);
                }
            }
            free -= now.len();
            started.extend(now);
        }
        started
    }

    /// Records a finished job and releases (or skips) what waited on it.
    fn finish(&mut self, id: &str, outcome: JobOutcome) -> Vec<SchedulerEvent> {
        let succeeded = outcome.is_success();
        self.outcomes.insert(id.to_owned(), outcome.clone());
        let mut events = vec![SchedulerEvent::Finished {
            id: id.to_owned(),
            outcome,
        }];
        let dependents = self.dependents.get(id).cloned().unwrap_or_default();
        if succeeded {
            for dependent in dependents {
                if let Some(count) = self.waiting_on.get_mut(&dependent) {
                    *count = count.saturating_sub(1);
                    if *count == 0 {
                        self.enqueue_if_ready(&dependent);
                    }
                }
            }
        } else {
            let reason = format!("{id} did not succeed");
            for dependent in dependents {
                self.skip(&dependent, &reason, &mut events);
            }
        }
        events
    }

    /// Skips a job that can no longer run, with its dependents and, because a unit
    /// goes as a whole, the members of its unit that have not started.
    fn skip(&mut self, id: &str, reason: &str, events: &mut Vec<SchedulerEvent>) {
        if self.outcomes.contains_key(id) || self.queued.contains(id) {
            return;
        }
        let outcome = JobOutcome::Skipped {
            reason: reason.to_owned(),
        };
        self.outcomes.insert(id.to_owned(), outcome.clone());
        events.push(SchedulerEvent::Finished {
            id: id.to_owned(),
            outcome,
        });
        let own_reason = format!("{id} was skipped");
        if let Some(unit) = self.unit_of.get(id).cloned() {
            let unit_reason = format!("{id} of the same unit {unit} cannot run");
            for member in self.units[&unit].clone() {
                self.skip(&member, &unit_reason, events);
            }
        }
        for dependent in self.dependents.get(id).cloned().unwrap_or_default() {
            self.skip(&dependent, &own_reason, events);
        }
    }
}

#[cfg(test)]
mod tests;
