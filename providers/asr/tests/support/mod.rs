//! Setup shared by the provider's integration tests: the realistic estate, the
//! simulator serving it, a provider with short timeouts and polls for a vault, and a
//! progress recorder. `fake_arm` is the scripted ARM server.

#![allow(dead_code)]

pub mod fake_arm;

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use failback_engine::provider::{Progress, ProgressSink};
use failback_provider_asr::{
    AsrProvider, AsrProviderConfig, PollSettings, RetryPolicy, StaticToken, VaultRef,
};
use failback_sim::asr::{AsrSimulator, RunningAsrSimulator, SimOptions};
use failback_sim::estate::Estate;

/// Collects the progress an action reports.
#[derive(Default)]
pub struct Recorder(pub Mutex<Vec<Progress>>);

impl ProgressSink for Recorder {
    fn report(&self, progress: Progress) {
        self.0.lock().unwrap().push(progress);
    }
}

impl Recorder {
    pub fn messages(&self) -> Vec<String> {
        self.0
            .lock()
            .unwrap()
            .iter()
            .map(|progress| progress.message.clone())
            .collect()
    }
}

/// `testdata/estates/asr-realistic.json`: two configuration servers, 50 items,
/// three recovery plans.
pub fn realistic_estate() -> Estate {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/estates/asr-realistic.json");
    Estate::load(&path).unwrap_or_else(|err| panic!("{}: {err}", path.display()))
}

/// The ASR simulator serving `estate`, 20 items per page (so that paging is used).
pub async fn simulator(estate: Estate) -> RunningAsrSimulator {
    let options = SimOptions {
        page_size: 20,
        ..SimOptions::default()
    };
    AsrSimulator::start(estate, options)
        .await
        .unwrap_or_else(|err| panic!("the ASR simulator did not start: {err}"))
}

/// The vault the simulator serves.
pub fn sim_vault(sim: &RunningAsrSimulator) -> VaultRef {
    VaultRef {
        subscription_id: sim.subscription_id.clone(),
        resource_group: sim.resource_group.clone(),
        name: sim.vault.clone(),
    }
}

/// How hard the test provider tries: milliseconds of backoff, not seconds.
pub fn retry(max_attempts: u32, max_delay: Duration) -> RetryPolicy {
    RetryPolicy {
        max_attempts,
        base_delay: Duration::from_millis(5),
        max_delay,
        request_timeout: Duration::from_secs(10),
        connect_timeout: Duration::from_secs(2),
    }
}

/// Polls of a few milliseconds, bounded by `job_timeout`.
pub fn polls(min_ms: u64, max_ms: u64, job_timeout: Duration) -> PollSettings {
    PollSettings {
        min_interval: Duration::from_millis(min_ms),
        max_interval: Duration::from_millis(max_ms),
        job_timeout,
        agent_initial_interval: Duration::from_millis(20),
    }
}

/// A provider `vault.dr` for `vault` at `endpoint`, with a static bearer token.
pub fn provider(
    vault: VaultRef,
    endpoint: url::Url,
    token: &str,
    retry: RetryPolicy,
    poll: PollSettings,
) -> AsrProvider {
    let mut config = AsrProviderConfig::new("vault.dr", vault, endpoint);
    config.retry = retry;
    config.poll = poll;
    AsrProvider::new(config, Arc::new(StaticToken::new(token)))
        .unwrap_or_else(|err| panic!("provider: {err}"))
}

/// A provider for the simulator's vault that presents `token`.
pub fn sim_provider_with_token(sim: &RunningAsrSimulator, token: &str) -> AsrProvider {
    let endpoint = url::Url::parse(sim.endpoint())
        .unwrap_or_else(|err| panic!("simulator endpoint {}: {err}", sim.endpoint()));
    provider(
        sim_vault(sim),
        endpoint,
        token,
        retry(8, Duration::from_millis(200)),
        polls(20, 100, Duration::from_secs(30)),
    )
}

/// A provider for the simulator's vault with the simulator's token.
pub fn sim_provider(sim: &RunningAsrSimulator) -> AsrProvider {
    sim_provider_with_token(sim, sim.token())
}
