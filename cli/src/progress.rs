//! What the terminal shows while discovery runs, which against a large vCenter takes
//! long enough to look like a hang: a spinner per provider on stderr, then one line
//! each with what was found and how long it took. Shown only when stderr is a
//! terminal, so piped output, logs of scheduled runs and tests stay as they were.

use std::collections::HashMap;
use std::io::IsTerminal;
use std::time::Duration;

use failback_engine::observe::Observation;
use failback_engine::rules::wording::counted;

/// Whether discovery shows its progress.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DiscoveryProgress {
    /// Spinners on stderr.
    Spinners,
    /// Nothing.
    Hidden,
}

impl DiscoveryProgress {
    /// Spinners when stderr is a terminal.
    pub fn for_stderr() -> DiscoveryProgress {
        if std::io::stderr().is_terminal() {
            DiscoveryProgress::Spinners
        } else {
            DiscoveryProgress::Hidden
        }
    }
}

/// The spinners of one discovery, by provider address.
pub(crate) struct DiscoveryDisplay {
    multi: Option<indicatif::MultiProgress>,
    spinners: HashMap<String, indicatif::ProgressBar>,
}

impl DiscoveryDisplay {
    pub fn start(progress: DiscoveryProgress, addresses: &[String]) -> DiscoveryDisplay {
        if progress == DiscoveryProgress::Hidden {
            return DiscoveryDisplay {
                multi: None,
                spinners: HashMap::new(),
            };
        }
        let multi =
            indicatif::MultiProgress::with_draw_target(indicatif::ProgressDrawTarget::stderr());
        let style = indicatif::ProgressStyle::with_template("{spinner} {prefix}: {msg} {elapsed}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner());
        let spinners = addresses
            .iter()
            .map(|address| {
                let spinner = multi.add(
                    indicatif::ProgressBar::new_spinner()
                        .with_style(style.clone())
                        .with_prefix(address.clone())
                        .with_message("discovering"),
                );
                spinner.enable_steady_tick(Duration::from_millis(120));
                (address.clone(), spinner)
            })
            .collect();
        DiscoveryDisplay {
            multi: Some(multi),
            spinners,
        }
    }

    /// The provider at `address` finished: what it found, or that it failed.
    pub fn finished(&mut self, address: &str, found: Option<&Observation>, took: Duration) {
        let Some(spinner) = self.spinners.remove(address) else {
            return;
        };
        let line = match found {
            Some(observation) => format!(
                "{address}: {} in {:.1} s",
                describe(observation),
                took.as_secs_f64()
            ),
            None => format!(
                "{address}: discovery failed after {:.1} s",
                took.as_secs_f64()
            ),
        };
        spinner.finish_and_clear();
        if let Some(multi) = &self.multi {
            multi.remove(&spinner);
            let _ = multi.println(line);
        }
    }
}

impl Drop for DiscoveryDisplay {
    fn drop(&mut self) {
        // A discovery cut short (timeout, Ctrl-C) leaves no spinner behind.
        for spinner in self.spinners.values() {
            spinner.finish_and_clear();
        }
    }
}

/// `5000 VMs, 8 hosts, 16 datastores`: what a discovery found, in the words of the
/// tool it came from.
pub fn describe(observation: &Observation) -> String {
    match observation {
        Observation::Vcenter(inventory) => format!(
            "{}, {}, {}",
            counted(inventory.vms.len(), "VM"),
            counted(inventory.hosts.len(), "host"),
            counted(inventory.datastores.len(), "datastore")
        ),
        Observation::Vault(inventory) => format!(
            "{}, {}, {}",
            counted(inventory.protected_items.len(), "protected item"),
            counted(inventory.fabrics.len(), "configuration server"),
            counted(inventory.recovery_plans.len(), "recovery plan")
        ),
    }
}

#[cfg(test)]
mod tests {
    use failback_engine::observe::VaultInventory;

    use super::*;

    #[test]
    fn a_discovery_is_described_by_what_it_found() {
        let vcenter = Observation::Vcenter(Box::default());
        assert_eq!(describe(&vcenter), "0 VMs, 0 hosts, 0 datastores");
        let mut vault = VaultInventory::default();
        vault.protected_items.push(Default::default());
        assert_eq!(
            describe(&Observation::Vault(Box::new(vault))),
            "1 protected item, 0 configuration servers, 0 recovery plans"
        );
    }

    #[test]
    fn hidden_progress_draws_nothing_and_ignores_finishes() {
        let mut display =
            DiscoveryDisplay::start(DiscoveryProgress::Hidden, &["vcenter.onprem".to_owned()]);
        assert!(display.multi.is_none() && display.spinners.is_empty());
        display.finished("vcenter.onprem", None, Duration::from_secs(1));
    }
}
