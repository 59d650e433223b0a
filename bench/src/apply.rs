//! The `apply` case: a thousand reprotects carried out by the real executor through the
//! real `asr` provider against the in-process ASR simulator, whose jobs are
//! time-scaled to a fraction of a second.
//!
//! What it answers: how close the executor comes to the best a scheduler could do with
//! that parallelism. `ideal_s` is the longer of the critical path (one job: the
//! reprotects do not depend on each other) and the total job time spread over the
//! parallelism; `sequential_s` is the total job time, what reprotecting one VM after
//! another in the portal or PowerShell costs; `efficiency = ideal_s / wall_s`.
//!
//! The provider polls jobs no more often than its `min_interval`; the real default (5 s)
//! is meant for jobs of minutes, so the case uses [`POLL_MIN`]..[`POLL_MAX`] and reports
//! them, since a polling pause is pure overhead on top of a job of 0.3 s.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use failback_engine::apply::executor::{self, ApplyAction, ApplyEvent, ApplyObserver};
use failback_engine::apply::scheduler::StopLevel;
use failback_engine::provider::{Provider, ProviderAction, ReprotectRequest};
use failback_provider_asr::{
    AsrProvider, AsrProviderConfig, PollSettings, RetryPolicy, StaticToken, VaultRef,
};
use failback_sim::asr::{AsrSimulator, SimOptions};
use miette::{IntoDiagnostic, WrapErr, miette};
use tokio::sync::watch;

use crate::estates::{self, EstateSpec};

/// Simulated seconds of one reprotect job.
const REPROTECT_JOB_S: f64 = 30.0;
/// Simulated seconds per real second: a job takes 0.3 s of real time.
const TIME_SCALE: f64 = 100.0;
/// The provider's polling bounds in this case.
const POLL_MIN: Duration = Duration::from_millis(10);
const POLL_MAX: Duration = Duration::from_millis(50);

/// Runs the case: `items` reprotects with at most `parallelism` at once.
pub fn run(items: usize, parallelism: usize) -> miette::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .into_diagnostic()?;
    runtime.block_on(run_async(items, parallelism))
}

/// Collects how long each action took as the executor saw it.
#[derive(Default)]
struct Timings {
    elapsed: Mutex<Vec<f64>>,
    errors: Mutex<Vec<String>>,
}

impl ApplyObserver for Timings {
    fn event(&self, event: ApplyEvent) {
        match event {
            ApplyEvent::Completed { elapsed_s, .. } => {
                if let Ok(mut elapsed) = self.elapsed.lock() {
                    elapsed.push(elapsed_s);
                }
            }
            ApplyEvent::Errored {
                address, message, ..
            } => {
                if let Ok(mut errors) = self.errors.lock() {
                    errors.push(format!("{address}: {message}"));
                }
            }
            _ => {}
        }
    }
}

async fn run_async(items: usize, parallelism: usize) -> miette::Result<()> {
    let spec = EstateSpec {
        vms: items,
        configuration_servers: 4,
        reprotect_job_s: REPROTECT_JOB_S,
        time_scale: TIME_SCALE,
        violations: false,
        recovery_plans: false,
    };
    let generated = estates::generate(&spec);
    let sim = AsrSimulator::start(generated.estate.clone(), SimOptions::default())
        .await
        .into_diagnostic()
        .wrap_err("cannot start the ASR simulator")?;
    let mut config = AsrProviderConfig::new(
        "vault.dr",
        VaultRef {
            subscription_id: sim.subscription_id.clone(),
            resource_group: sim.resource_group.clone(),
            name: sim.vault.clone(),
        },
        url::Url::parse(sim.endpoint()).into_diagnostic()?,
    );
    config.retry = RetryPolicy {
        max_attempts: 8,
        base_delay: Duration::from_millis(5),
        max_delay: Duration::from_millis(200),
        ..RetryPolicy::default()
    };
    config.poll = PollSettings {
        min_interval: POLL_MIN,
        max_interval: POLL_MAX,
        job_timeout: Duration::from_secs(120),
        agent_initial_interval: POLL_MIN,
    };
    // The vault's own limit would otherwise cap the run below `parallelism`.
    config.concurrency = parallelism;
    let provider =
        AsrProvider::new(config, Arc::new(StaticToken::new(sim.token()))).into_diagnostic()?;

    // Setup, not measured: the ids a plan would carry, from one discovery.
    let inventory = provider
        .inventory()
        .await
        .into_diagnostic()
        .wrap_err("discovering the generated vault")?;
    let policy_id = inventory
        .policies
        .iter()
        .find(|policy| policy.instance_type == "InMage")
        .map(|policy| policy.id.clone())
        .ok_or_else(|| miette!("the generated vault has no InMage policy"))?;
    let mut actions = Vec::with_capacity(items);
    for group in &generated.groups {
        let fabric = inventory
            .fabric(&group.fabric)
            .ok_or_else(|| miette!("fabric {} was not discovered", group.fabric))?;
        let master_target = fabric
            .master_targets
            .iter()
            .find(|target| target.name == group.master_target_vm)
            .ok_or_else(|| miette!("master target {} not discovered", group.master_target_vm))?;
        let process_server = fabric
            .process_servers
            .first()
            .ok_or_else(|| miette!("fabric {} has no process server", group.fabric))?;
        for vm in &group.vms {
            let item_name = estates::item_name(vm);
            let item = inventory
                .protected_item(&item_name)
                .ok_or_else(|| miette!("protected item {item_name} not discovered"))?;
            actions.push(ApplyAction {
                id: format!("reprotect.{}[{vm:?}]", group.label),
                address: format!("reprotect.{}[{vm:?}]", group.label),
                kind: "asr.protected_item.reprotect".to_owned(),
                provider: "vault.dr".to_owned(),
                action: ProviderAction::Reprotect(ReprotectRequest {
                    protected_item_id: item.id.clone(),
                    master_target_id: master_target.id.clone(),
                    process_server_id: process_server.id.clone(),
                    retention_drive: group.retention_volume.clone(),
                    datastore_name: group.datastore.clone(),
                    run_as_account_id: None,
                    policy_id: policy_id.clone(),
                }),
                depends_on: Vec::new(),
                unit: None,
            });
        }
    }
    let requests_before = provider.client().request_count();
    let provider = Arc::new(provider);
    let mut providers: HashMap<String, Arc<dyn Provider>> = HashMap::new();
    providers.insert("vault.dr".to_owned(), provider.clone());
    let (_stop_sender, stop) = watch::channel(StopLevel::Run);
    let timings = Arc::new(Timings::default());

    let started = Instant::now();
    let summary = executor::apply(actions, &providers, parallelism, stop, timings.clone())
        .await
        .into_diagnostic()?;
    let wall = started.elapsed().as_secs_f64();
    let requests = provider.client().request_count() - requests_before;
    sim.shutdown().await;

    if let Ok(errors) = timings.errors.lock()
        && let Some(first) = errors.first()
    {
        return Err(miette!(
            "{} reprotects failed; the first: {first}",
            errors.len()
        ));
    }
    if !summary.all_applied() {
        return Err(miette!("not every reprotect was applied"));
    }
    let job_s = REPROTECT_JOB_S / TIME_SCALE;
    let figures = Figures::new(items, parallelism, job_s, wall);
    let mean_action = timings
        .elapsed
        .lock()
        .map(|elapsed| elapsed.iter().sum::<f64>() / elapsed.len().max(1) as f64)
        .unwrap_or(f64::NAN);
    println!(
        "bench apply items={items} parallelism={parallelism} wall_s={:.3} ideal_s={:.3} \
         sequential_s={:.3} efficiency={:.3} job_s={job_s:.3} mean_action_s={mean_action:.3} \
         arm_requests={requests} poll_min_ms={} poll_max_ms={}",
        figures.wall_s,
        figures.ideal_s,
        figures.sequential_s,
        figures.efficiency,
        POLL_MIN.as_millis(),
        POLL_MAX.as_millis(),
    );
    Ok(())
}

/// The case's figures from the run's shape and its wall time.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Figures {
    wall_s: f64,
    ideal_s: f64,
    sequential_s: f64,
    efficiency: f64,
}

impl Figures {
    /// `items` independent jobs of `job_s` each: the critical path is one job.
    fn new(items: usize, parallelism: usize, job_s: f64, wall_s: f64) -> Figures {
        let sequential_s = items as f64 * job_s;
        let critical_path_s = if items == 0 { 0.0 } else { job_s };
        let ideal_s = critical_path_s.max(sequential_s / parallelism.max(1) as f64);
        Figures {
            wall_s,
            ideal_s,
            sequential_s,
            efficiency: if wall_s > 0.0 { ideal_s / wall_s } else { 0.0 },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ideal_is_the_longer_of_critical_path_and_spread_work() {
        let spread = Figures::new(1000, 50, 0.3, 7.5);
        assert!((spread.sequential_s - 300.0).abs() < 1e-9);
        assert!((spread.ideal_s - 6.0).abs() < 1e-9);
        assert!((spread.efficiency - 0.8).abs() < 1e-9);
        // More parallelism than jobs: one job is the floor.
        let narrow = Figures::new(10, 50, 0.3, 0.3);
        assert!((narrow.ideal_s - 0.3).abs() < 1e-9);
        assert!((narrow.efficiency - 1.0).abs() < 1e-9);
    }

    #[test]
    fn a_small_run_completes_against_the_simulator() {
        // Twenty reprotects at once: proves the wiring, not the speed.
        run(20, 20).unwrap_or_else(|err| panic!("{err:?}"));
    }
}
