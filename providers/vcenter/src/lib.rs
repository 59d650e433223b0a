//! The `vcenter` provider: discovers and changes the on-premises VMware side through
//! the vSphere SOAP API (vim25).
//!
//! [`VcenterProvider`] implements the engine's `Provider` trait on top of
//! [`VcenterClient`], a small vim25 client on reqwest and quick-xml. Discovery reads the
//! whole inventory in a fixed number of round trips ([`discovery`]); the two actions
//! ([`actions`]) are idempotent and wait for their vSphere task. Trust is configured by
//! [`TlsOptions`]: system roots plus a CA file, a pinned thumbprint, or (explicitly)
//! none.

pub mod actions;
pub mod client;
pub mod discovery;
pub mod error;
pub mod provider;
pub mod settings;
pub mod soap;
pub mod tls;
pub mod xml;

pub use client::VcenterClient;
pub use error::VcenterError;
pub use provider::VcenterProvider;
pub use settings::{Thumbprint, Timeouts, TlsOptions, VcenterSettings};
