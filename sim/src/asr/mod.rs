//! An Azure Site Recovery vault behind Azure Resource Manager, on loopback: the vault
//! half of an estate served under the real ARM paths with api-version
//! [`API_VERSION`], in Microsoft's published shapes.
//!
//! Start it in process with [`AsrSimulator::start`]; the returned
//! [`RunningAsrSimulator`] gives the endpoint and bearer token a client needs and the
//! counters a test needs ("exactly one reprotect was accepted"). The `failback-sim`
//! binary wraps the same call. What it serves and how estate facts map onto the schema
//! is in `docs/simulator.md`.

mod admin;
pub mod clock;
pub mod consistency;
pub mod error;
mod faults;
mod item_shape;
mod jobs;
mod lro;
mod query;
mod reprotect;
mod routes;
mod server;
mod shapes;
pub mod world;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};

use chrono::{DateTime, Utc};

pub use faults::Fault;
use faults::FaultPlan;
use world::World;

use crate::estate::Estate;

/// The ARM api-version of Microsoft.RecoveryServices replication resources served.
pub const API_VERSION: &str = "2026-05-01";

/// The token the simulator expects unless [`SimOptions::token`] says otherwise.
pub const DEFAULT_TOKEN: &str = "failback-sim-token";

/// How to run the simulator.
#[derive(Clone)]
pub struct SimOptions {
    /// Items per page of every list (`nextLink` paging).
    pub page_size: usize,
    /// Overrides the estate's `behaviour.time_scale` when set.
    pub time_scale: Option<f64>,
    /// Where to listen; must be a loopback address. Port 0 picks a free port.
    pub listen: SocketAddr,
    /// The static bearer token requests must carry.
    pub token: String,
    /// Overrides the estate's `behaviour.faults.seed` when set.
    pub fault_seed: Option<u64>,
    /// The simulated time at start (default: now). Fixing it makes answers repeatable.
    pub epoch: Option<DateTime<Utc>>,
    /// `Retry-After` (seconds) of an injected 429.
    pub throttle_retry_after_s: u64,
    /// Where the simulated vCenter really listens (`127.0.0.1`): the configuration
    /// servers report it as the IP address of the first vCenter each one lists, as a
    /// real configuration server reports the address it discovered a vCenter at.
    pub vcenter_address: Option<String>,
}

impl std::fmt::Debug for SimOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The token stays out of Debug output.
        f.debug_struct("SimOptions")
            .field("page_size", &self.page_size)
            .field("time_scale", &self.time_scale)
            .field("listen", &self.listen)
            .field("token", &"<redacted>")
            .field("fault_seed", &self.fault_seed)
            .field("epoch", &self.epoch)
            .field("throttle_retry_after_s", &self.throttle_retry_after_s)
            .field("vcenter_address", &self.vcenter_address)
            .finish()
    }
}

impl Default for SimOptions {
    fn default() -> Self {
        SimOptions {
            page_size: 100,
            time_scale: None,
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            token: DEFAULT_TOKEN.to_owned(),
            fault_seed: None,
            epoch: None,
            throttle_retry_after_s: 1,
            vcenter_address: None,
        }
    }
}

/// Why the simulator could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("the simulator listens on loopback only, not {0}; use 127.0.0.1")]
    NotLoopback(SocketAddr),
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("the token must not be empty")]
    EmptyToken,
    #[error("estate: at `{}`: {}", .0.json_path, .0.message)]
    InconsistentEstate(consistency::EstateProblem),
}

/// One request as the simulator received it (before any fault).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Call {
    pub method: String,
    /// The path without the query.
    pub path: String,
}

/// State shared by every connection.
#[derive(Debug)]
pub(crate) struct Shared {
    world: Mutex<World>,
    token: String,
    endpoint: String,
    page_size: usize,
    faults: FaultPlan,
    throttle_retry_after_s: u64,
    calls: Mutex<Vec<Call>>,
}

impl Shared {
    fn lock_world(&self) -> MutexGuard<'_, World> {
        // A panic while holding the lock cannot leave the world half-changed in a way
        // that matters more than stopping the simulator would.
        self.world.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn record(&self, method: &str, path: &str) {
        let mut calls = self.calls.lock().unwrap_or_else(|p| p.into_inner());
        calls.push(Call {
            method: method.to_owned(),
            path: path.to_owned(),
        });
    }

    fn calls_snapshot(&self) -> Vec<Call> {
        self.calls.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

/// The ASR simulator.
pub struct AsrSimulator;

impl AsrSimulator {
    /// Starts serving `estate`'s vault on loopback; returns once it accepts connections.
    pub async fn start(
        estate: Estate,
        options: SimOptions,
    ) -> Result<RunningAsrSimulator, StartError> {
        if !options.listen.ip().is_loopback() {
            return Err(StartError::NotLoopback(options.listen));
        }
        if options.token.is_empty() {
            return Err(StartError::EmptyToken);
        }
        consistency::check_vault(&estate.vault).map_err(StartError::InconsistentEstate)?;
        let listener = tokio::net::TcpListener::bind(options.listen)
            .await
            .map_err(|source| StartError::Bind {
                addr: options.listen,
                source,
            })?;
        let local = listener.local_addr().map_err(|source| StartError::Bind {
            addr: options.listen,
            source,
        })?;
        let endpoint = format!("http://{local}");
        let scale = options
            .time_scale
            .unwrap_or(estate.vault.behaviour.time_scale);
        let epoch = options.epoch.unwrap_or_else(|| {
            let now = Utc::now();
            now - chrono::TimeDelta::nanoseconds(i64::from(now.timestamp_subsec_nanos()))
        });
        let faults = FaultPlan::new(estate.vault.behaviour.faults.clone(), options.fault_seed);
        let mut world = World::new(estate, clock::Clock::new(epoch, scale));
        world.vcenter_address = options.vcenter_address.clone();
        let ids = world.ids.clone();
        let shared = Arc::new(Shared {
            world: Mutex::new(world),
            token: options.token.clone(),
            endpoint: endpoint.clone(),
            page_size: options.page_size.max(1),
            faults,
            throttle_retry_after_s: options.throttle_retry_after_s,
            calls: Mutex::new(Vec::new()),
        });
        let server = server::Server::spawn(listener, shared.clone());
        Ok(RunningAsrSimulator {
            endpoint,
            token: options.token,
            subscription_id: ids.subscription_id,
            resource_group: ids.resource_group,
            vault: ids.vault,
            shared,
            server: Some(server),
        })
    }
}

/// A running simulator. Dropping it stops serving; [`shutdown`](Self::shutdown) does so
/// gracefully (in-flight answers are finished).
pub struct RunningAsrSimulator {
    endpoint: String,
    token: String,
    pub subscription_id: String,
    pub resource_group: String,
    pub vault: String,
    shared: Arc<Shared>,
    server: Option<server::Server>,
}

impl std::fmt::Debug for RunningAsrSimulator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The token stays out of Debug output.
        f.debug_struct("RunningAsrSimulator")
            .field("endpoint", &self.endpoint)
            .field("subscription_id", &self.subscription_id)
            .field("resource_group", &self.resource_group)
            .field("vault", &self.vault)
            .finish_non_exhaustive()
    }
}

impl RunningAsrSimulator {
    /// `http://127.0.0.1:PORT`, to use where a client would use `https://management.azure.com`.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// The static bearer token requests must carry.
    pub fn token(&self) -> &str {
        &self.token
    }

    /// The vault's ARM id (`/Subscriptions/…/vaults/{vault}`).
    pub fn vault_id(&self) -> String {
        self.shared.lock_world().ids.vault_id.clone()
    }

    /// The full URL of a vault sub-path (`replicationFabrics/cs01`, may carry its own
    /// query), with the api-version added.
    pub fn vault_url(&self, sub_path: &str) -> String {
        let separator = if sub_path.contains('?') { '&' } else { '?' };
        format!(
            "{}{}/{}{separator}api-version={API_VERSION}",
            self.endpoint,
            self.vault_id(),
            sub_path.trim_start_matches('/')
        )
    }

    /// Every ARM request received so far (faulted ones included), in order.
    pub fn all_calls(&self) -> Vec<Call> {
        self.shared.calls_snapshot()
    }

    /// How many requests matched `pattern`: `"METHOD /path"` where `*` matches any run
    /// of characters, compared case-insensitively (`"POST */reProtect"`).
    pub fn calls(&self, pattern: &str) -> usize {
        self.shared
            .calls_snapshot()
            .iter()
            .filter(|c| glob_match(pattern, &format!("{} {}", c.method, c.path)))
            .count()
    }

    /// Reprotect POSTs received for an item (accepted or refused).
    pub fn reprotect_requests(&self, item: &str) -> u64 {
        let world = self.shared.lock_world();
        lookup(&world.reprotect_requests, item)
    }

    /// Reprotect POSTs that started a job for an item: more than one means a client
    /// reprotected twice.
    pub fn reprotect_accepted(&self, item: &str) -> u64 {
        let world = self.shared.lock_world();
        lookup(&world.reprotect_accepted, item)
    }

    /// An item's protection state now.
    pub fn protection_state(&self, item: &str) -> Option<String> {
        let mut world = self.shared.lock_world();
        world.settle();
        let index = world.item_index(item)?;
        Some(world.items[index].protection_state.clone())
    }

    /// Moves simulated time forward at once: jobs finish, heartbeats age, agents
    /// register, without a test having to sleep.
    pub fn advance_clock(&self, sim_seconds: f64) {
        let mut world = self.shared.lock_world();
        world.clock.advance(sim_seconds);
        world.settle();
    }

    /// Stops accepting connections, finishes in-flight answers (bounded), and returns.
    pub async fn shutdown(mut self) {
        if let Some(server) = self.server.take() {
            server.shutdown().await;
        }
    }
}

fn lookup(map: &std::collections::BTreeMap<String, u64>, item: &str) -> u64 {
    map.iter()
        .filter(|(k, _)| k.eq_ignore_ascii_case(item))
        .map(|(_, v)| *v)
        .sum()
}

/// `*` matches any run of characters; case-insensitive.
fn glob_match(pattern: &str, text: &str) -> bool {
    let pattern = pattern.to_ascii_lowercase();
    let text = text.to_ascii_lowercase();
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == text;
    }
    let mut rest = text.as_str();
    for (i, part) in parts.iter().enumerate() {
        if i == 0 {
            match rest.strip_prefix(part) {
                Some(r) => rest = r,
                None => return false,
            }
        } else if i == parts.len() - 1 {
            return rest.ends_with(part);
        } else {
            match rest.find(part) {
                Some(at) => rest = &rest[at + part.len()..],
                None => return false,
            }
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_output_hides_the_token() {
        let options = SimOptions {
            token: "very-secret".to_owned(),
            ..SimOptions::default()
        };
        let shown = format!("{options:?}");
        assert!(!shown.contains("very-secret"), "{shown}");
        assert!(shown.contains("<redacted>"));
    }

    #[test]
    fn glob_matches_like_a_shell() {
        assert!(glob_match("POST */reProtect", "POST /a/b/reprotect"));
        assert!(glob_match("GET *", "GET /x"));
        assert!(!glob_match("GET *", "POST /x"));
        assert!(glob_match("* /a*c", "GET /abc"));
        assert!(!glob_match("GET /a", "GET /ab"));
        assert!(glob_match("GET /a", "get /A"));
    }
}
