use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;

use super::*;

fn job(id: &str, depends_on: &[&str]) -> Job {
    Job {
        id: id.to_owned(),
        depends_on: depends_on.iter().map(|d| (*d).to_owned()).collect(),
        unit: None,
    }
}

fn unit_job(id: &str, unit: &str, depends_on: &[&str]) -> Job {
    Job {
        unit: Some(unit.to_owned()),
        ..job(id, depends_on)
    }
}

/// What a test run saw: when each job started and ended (paused tokio time, so
/// exact), and the peak number running at once.
#[derive(Default)]
struct Trace {
    started: BTreeMap<String, Duration>,
    ended: BTreeMap<String, Duration>,
    running: usize,
    peak: usize,
}

/// Runs jobs whose work sleeps `seconds(id)` and fails when `fails(id)`.
async fn run_traced(
    jobs: Vec<Job>,
    parallelism: usize,
    seconds: impl Fn(&str) -> u64,
    fails: impl Fn(&str) -> bool,
) -> (BTreeMap<String, JobOutcome>, Trace) {
    let (_stop_tx, stop) = watch::channel(StopLevel::Run);
    run_traced_with_stop(jobs, parallelism, seconds, fails, stop).await
}

async fn run_traced_with_stop(
    jobs: Vec<Job>,
    parallelism: usize,
    seconds: impl Fn(&str) -> u64,
    fails: impl Fn(&str) -> bool,
    stop: watch::Receiver<StopLevel>,
) -> (BTreeMap<String, JobOutcome>, Trace) {
    let origin = Instant::now();
    let trace = Arc::new(Mutex::new(Trace::default()));
    let work_trace = Arc::clone(&trace);
    let outcomes = run(
        jobs,
        parallelism,
        stop,
        move |id| {
            let duration = Duration::from_secs(seconds(id));
            let fail = fails(id);
            let id = id.to_owned();
            let trace = Arc::clone(&work_trace);
            {
                let mut t = trace.lock().unwrap();
                t.started.insert(id.clone(), origin.elapsed());
                t.running += 1;
                t.peak = t.peak.max(t.running);
            }
            Box::pin(async move {
                tokio::time::sleep(duration).await;
                let mut t = trace.lock().unwrap();
                t.running -= 1;
                t.ended.insert(id.clone(), origin.elapsed());
                if fail {
                    Err(format!("{id} broke"))
                } else {
                    Ok(())
                }
            })
        },
        |_| {},
    )
    .await
    .unwrap();
    let trace = std::mem::take(&mut *trace.lock().unwrap());
    (outcomes, trace)
}

#[tokio::test(start_paused = true)]
async fn independent_jobs_fill_every_slot_and_no_more() {
    let jobs = (0..100).map(|i| job(&format!("j{i:03}"), &[])).collect();
    let (outcomes, trace) = run_traced(jobs, 10, |_| 1, |_| false).await;
    assert!(outcomes.values().all(JobOutcome::is_success));
    assert_eq!(trace.peak, 10);
    // 100 one-second jobs, ten at a time: ten seconds, not a moment more.
    assert_eq!(trace.ended.values().max(), Some(&Duration::from_secs(10)));
}

#[tokio::test(start_paused = true)]
async fn a_job_starts_the_moment_its_dependencies_are_done() {
    let jobs = vec![
        job("fix", &[]),
        job("slow", &[]),
        job("reprotect", &["fix"]),
    ];
    let seconds = |id: &str| if id == "slow" { 10 } else { 2 };
    let (_, trace) = run_traced(jobs, 10, seconds, |_| false).await;
    assert_eq!(trace.started["reprotect"], Duration::from_secs(2));
}

#[tokio::test(start_paused = true)]
async fn a_failure_skips_its_dependents_and_spares_independent_branches() {
    let jobs = vec![
        job("fix-a", &[]),
        job("reprotect-a", &["fix-a"]),
        job("after-a", &["reprotect-a"]),
        job("reprotect-b", &[]),
    ];
    let (outcomes, _) = run_traced(jobs, 2, |_| 1, |id| id == "fix-a").await;
    assert_eq!(
        outcomes["fix-a"],
        JobOutcome::Failed {
            message: "fix-a broke".to_owned()
        }
    );
    assert!(matches!(
        outcomes["reprotect-a"],
        JobOutcome::Skipped { .. }
    ));
    assert!(matches!(outcomes["after-a"], JobOutcome::Skipped { .. }));
    assert_eq!(outcomes["reprotect-b"], JobOutcome::Succeeded);
}

#[tokio::test(start_paused = true)]
async fn a_unit_waits_for_slots_for_all_members_and_starts_together() {
    let jobs = vec![
        job("long", &[]),
        job("short", &[]),
        unit_job("erp-db", "erp", &[]),
        unit_job("erp-app", "erp", &[]),
        unit_job("erp-web", "erp", &[]),
    ];
    let seconds = |id: &str| match id {
        "long" => 10,
        "short" => 3,
        _ => 1,
    };
    let (outcomes, trace) = run_traced(jobs, 4, seconds, |_| false).await;
    assert!(outcomes.values().all(JobOutcome::is_success));
    // With 4 slots and two jobs running, the three members wait for `short`.
    for member in ["erp-db", "erp-app", "erp-web"] {
        assert_eq!(trace.started[member], Duration::from_secs(3), "{member}");
    }
}

#[tokio::test(start_paused = true)]
async fn a_unit_larger_than_the_parallelism_starts_as_much_as_fits() {
    let jobs = (0..5)
        .map(|i| unit_job(&format!("m{i}"), "big", &[]))
        .collect();
    let (outcomes, trace) = run_traced(jobs, 3, |_| 1, |_| false).await;
    assert!(outcomes.values().all(JobOutcome::is_success));
    assert_eq!(trace.peak, 3);
    let at_zero = trace.started.values().filter(|t| t.is_zero()).count();
    assert_eq!(at_zero, 3);
}

#[tokio::test(start_paused = true)]
async fn a_unit_whose_member_cannot_run_is_skipped_whole() {
    let jobs = vec![
        job("fix-db", &[]),
        unit_job("erp-db", "erp", &["fix-db"]),
        unit_job("erp-app", "erp", &[]),
    ];
    let (outcomes, trace) = run_traced(jobs, 4, |_| 1, |id| id == "fix-db").await;
    assert!(matches!(outcomes["erp-db"], JobOutcome::Skipped { .. }));
    assert!(matches!(outcomes["erp-app"], JobOutcome::Skipped { .. }));
    assert!(!trace.started.contains_key("erp-app"));
}

#[tokio::test(start_paused = true)]
async fn draining_lets_running_jobs_finish_and_starts_nothing_new() {
    let (stop_tx, stop) = watch::channel(StopLevel::Run);
    let jobs = vec![job("a", &[]), job("b", &["a"])];
    let handle = tokio::spawn(run_traced_with_stop(jobs, 1, |_| 5, |_| false, stop));
    tokio::time::sleep(Duration::from_secs(1)).await;
    stop_tx.send(StopLevel::Drain).unwrap();
    let (outcomes, _) = handle.await.unwrap();
    assert_eq!(outcomes["a"], JobOutcome::Succeeded);
    assert_eq!(outcomes["b"], JobOutcome::NotStarted);
}

#[tokio::test(start_paused = true)]
async fn aborting_abandons_running_jobs() {
    let (stop_tx, stop) = watch::channel(StopLevel::Run);
    let jobs = vec![job("a", &[]), job("b", &[])];
    let handle = tokio::spawn(run_traced_with_stop(jobs, 1, |_| 50, |_| false, stop));
    tokio::time::sleep(Duration::from_secs(1)).await;
    stop_tx.send(StopLevel::Abort).unwrap();
    let (outcomes, trace) = handle.await.unwrap();
    assert_eq!(outcomes["a"], JobOutcome::Aborted);
    assert_eq!(outcomes["b"], JobOutcome::NotStarted);
    assert!(trace.ended.is_empty());
}

#[tokio::test]
async fn malformed_job_lists_are_refused() {
    let cases = [
        (vec![job("a", &["b"]), job("b", &["a"])], "cycle"),
        (vec![job("a", &["ghost"])], "ghost"),
        (vec![job("a", &[]), job("a", &[])], "twice"),
        (
            vec![unit_job("a", "u", &[]), unit_job("b", "u", &["a"])],
            "same unit",
        ),
    ];
    for (jobs, expected) in cases {
        let (_tx, stop) = watch::channel(StopLevel::Run);
        let err = run(jobs, 2, stop, |_| Box::pin(async { Ok(()) }), |_| {})
            .await
            .unwrap_err();
        assert!(err.to_string().contains(expected), "{err}");
    }
}
