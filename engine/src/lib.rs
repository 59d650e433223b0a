//! failback's engine: everything between the HCL files and the providers.
//!
//! The data flow is `config` → `graph`, providers → `observe`, then `rules` and
//! `plan` (pure functions of configuration, observed state and prior state), then
//! `apply`, which drives providers through the [`provider::Provider`] trait and
//! records outcomes in `state`. Only discovery and apply talk to the outside world;
//! the engine never names a concrete provider.

pub mod apply;
pub mod config;
pub mod digest;
pub mod format;
pub mod graph;
pub mod observe;
pub mod plan;
pub mod provider;
pub mod resolve;
pub mod rules;
pub mod state;
