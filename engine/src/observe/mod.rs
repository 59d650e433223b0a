//! The observed state: what discovery saw in vCenter and in the ASR vault, as plain
//! serde data.
//!
//! Providers fill it; rules and the diff read it; plans record its digest so that a
//! saved plan can be refused when the world moved. No I/O and no provider code live
//! here, so a recorded observation can be replayed in tests.

pub mod vault;
pub mod vcenter;

use std::collections::BTreeMap;
use std::io::Write as _;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::digest::Sha256Writer;

pub use vault::VaultInventory;
pub use vcenter::VcenterInventory;

/// What one provider discovered.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Observation {
    Vcenter(Box<VcenterInventory>),
    Vault(Box<VaultInventory>),
}

/// One snapshot of the world, keyed by the address of the configuration block that
/// named each endpoint (`vcenter.onprem`, `vault.dr`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Observed {
    /// When discovery started.
    pub observed_at: Option<DateTime<Utc>>,
    pub vcenters: BTreeMap<String, VcenterInventory>,
    pub vaults: BTreeMap<String, VaultInventory>,
}

impl Observed {
    /// Adds one provider's observation under the address of its block.
    pub fn insert(&mut self, address: impl Into<String>, observation: Observation) {
        match observation {
            Observation::Vcenter(inventory) => {
                self.vcenters.insert(address.into(), *inventory);
            }
            Observation::Vault(inventory) => {
                self.vaults.insert(address.into(), *inventory);
            }
        }
    }

    /// A SHA-256 over the canonical JSON of everything observed except the time of
    /// observation: two discoveries of an unchanged world have the same digest.
    pub fn digest(&self) -> String {
        // The JSON is streamed into the hasher through a buffer rather than built in
        // memory first: at thousands of VMs it is megabytes, allocated only to be
        // hashed. BTreeMaps and Vecs serialise in a stable order; serde_json of these
        // types cannot fail (no non-string map keys), so the bytes hashed are exactly
        // `to_vec(vcenters) ++ "\0" ++ to_vec(vaults)`.
        let mut sink = std::io::BufWriter::with_capacity(DIGEST_BUFFER, Sha256Writer::new());
        let _ = serde_json::to_writer(&mut sink, &self.vcenters);
        let _ = sink.write_all(b"\0");
        let _ = serde_json::to_writer(&mut sink, &self.vaults);
        // `into_parts` hands back what is still buffered instead of flushing it.
        let (mut hasher, buffered) = sink.into_parts();
        hasher.update(&buffered.unwrap_or_default());
        hasher.finish()
    }
}

/// How much serialised JSON is handed to SHA-256 at once by [`Observed::digest`].
const DIGEST_BUFFER: usize = 64 * 1024;
