//! The `vcenter_discovery` case: failback's discovery of generated estates (100, 1,000
//! and 5,000 VMs) against the vcsim harness, beside govmomi's batched discovery
//! (`failback-vcsim-anchor`, `view.Manager` + `Retrieve`) against the same server.
//!
//! Prints `bench vcenter_discovery vms=N round_trips=R wall_s=S rss_mb=M anchor_wall_s=A
//! ratio=X` per size; `ratio` is failback's wall time over govmomi's (goal: ≤ 1.2 at
//! 5,000 VMs).

use std::time::Instant;

use failback_engine::config::model::Sensitive;
use failback_provider_vcenter::{TlsOptions, VcenterProvider, VcenterSettings};
use failback_sim::estate::Estate;
use failback_sim::vcsim::Vcsim;
use serde_json::json;

/// The estate sizes measured.
pub const SIZES: &[usize] = &[100, 1_000, 5_000];

const USER: &str = "administrator@vsphere.local";
const PASSWORD: &str = "VMware1!";

/// A generated estate: 50 VMs per host, 10 datastores (4 of them in an SDRS pod),
/// every fifth VM with snapshots, a mix of controller types.
pub fn estate(vms: usize) -> Result<Estate, String> {
    let hosts = vms.div_ceil(50).max(2);
    let host_name = |i: usize| format!("esx{i:03}.bench.local");
    let datastores: Vec<_> = (0..10)
        .map(|i| {
            json!({
                "name": format!("ds-{i:02}"),
                "type": if i == 9 { "NFS" } else { "VMFS" },
                "capacity_gb": 16384, "free_gb": 8192,
                "storage_pod": if i < 4 { Some("DSC-Bench") } else { None },
                "mounts": (0..hosts).map(|h| json!({"host": host_name(h), "access_mode": "readWrite"})).collect::<Vec<_>>(),
            })
        })
        .collect();
    let scsi = ["lsilogic", "lsilogic-sas", "pvscsi"];
    let vm_list: Vec<_> = (0..vms)
        .map(|i| {
            let ds = format!("ds-{:02}", i % 10);
            json!({
                "name": format!("vm-{i:05}"),
                "guest_id": if i % 2 == 0 { "rhel8_64Guest" } else { "windows2019srv_64Guest" },
                "host": host_name(i % hosts),
                "datastore": ds,
                "power_state": "poweredOn",
                "scsi": scsi[i % 3],
                "disks": [{"size_gb": 60, "datastore": ds}, {"size_gb": 100, "datastore": ds}],
                "extra_config": if i % 2 == 0 { json!({"disk.EnableUUID": "TRUE"}) } else { json!({}) },
                "snapshots": if i % 5 == 0 { json!(["nightly", "pre-patch"]) } else { json!([]) },
            })
        })
        .collect();
    let document = json!({
        "vcenter": {
            "datacenter": "DC-Bench",
            "users": [{"name": USER, "password": PASSWORD,
                       "privileges": ["System.View", "System.Read", "Datastore.Browse",
                                      "VirtualMachine.Config.AdvancedConfig", "VirtualMachine.State.RemoveSnapshot"]}],
            "hosts": (0..hosts).map(|h| json!({"name": host_name(h), "cluster": "Cluster-Bench"})).collect::<Vec<_>>(),
            "storage_pods": [{"name": "DSC-Bench", "sdrs_enabled": true}],
            "datastores": datastores,
            "vms": vm_list,
        },
        "vault": {"subscription_id": "00000000-0000-0000-0000-000000000000", "resource_group": "rg-bench", "name": "bench-vault"},
    });
    Estate::from_json(&document.to_string()).map_err(|(path, message)| {
        format!("the generated bench estate is invalid at {path}: {message}")
    })
}

/// Peak resident memory of this process, MB (`VmHWM`).
pub fn peak_rss_mb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find(|line| line.starts_with("VmHWM:"))
                .and_then(|line| line.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .map(|kb| kb / 1024.0)
        .unwrap_or(0.0)
}

/// One measured discovery.
#[derive(Debug, Clone, Copy)]
struct Measured {
    vms: usize,
    round_trips: u64,
    wall_s: f64,
}

/// Runs the case for every size and prints one line per size.
pub fn run(sizes: &[usize]) -> Result<(), String> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|err| format!("tokio runtime: {err}"))?;
    let anchor = failback_sim::vcsim::anchor()
        .map_err(|err| format!("cannot build the govmomi anchor: {err}"))?;
    for &size in sizes {
        let sim = Vcsim::start_estate(&estate(size)?)
            .map_err(|err| format!("harness for {size} VMs: {err}"))?;
        // Alternate and keep the best of two runs each, so neither side pays alone for a
        // cold server (Go's heap growing, vcsim's first walk of the inventory).
        let mut ours: Option<Measured> = None;
        let mut theirs: Option<f64> = None;
        for _ in 0..2 {
            let measured = runtime.block_on(discover_once(&sim))?;
            if measured.vms != size {
                return Err(format!(
                    "failback discovered {} VMs, the estate has {size}",
                    measured.vms
                ));
            }
            ours = Some(match ours {
                Some(best) if best.wall_s <= measured.wall_s => best,
                _ => measured,
            });
            let anchor_wall = run_anchor(&anchor, &sim, size)?;
            theirs = Some(theirs.map_or(anchor_wall, |best: f64| best.min(anchor_wall)));
        }
        let (Some(ours), Some(anchor_wall)) = (ours, theirs) else {
            return Err("no measurement".into());
        };
        println!(
            "bench vcenter_discovery vms={} round_trips={} wall_s={:.3} rss_mb={:.1} anchor_wall_s={:.3} ratio={:.2}",
            ours.vms,
            ours.round_trips,
            ours.wall_s,
            peak_rss_mb(),
            anchor_wall,
            ours.wall_s / anchor_wall.max(1e-9),
        );
        drop(sim);
    }
    Ok(())
}

async fn discover_once(sim: &Vcsim) -> Result<Measured, String> {
    let mut settings = VcenterSettings::new(&sim.url, USER, Sensitive::new(PASSWORD.to_string()))
        .map_err(|err| err.to_string())?;
    settings.tls = TlsOptions {
        ca_file: Some(sim.ca_file.clone()),
        ..TlsOptions::default()
    };
    let provider =
        VcenterProvider::new("vcenter.bench", settings).map_err(|err| err.to_string())?;
    let started = Instant::now();
    let inventory = provider
        .inventory()
        .await
        .map_err(|err| format!("failback discovery: {err}"))?;
    let wall_s = started.elapsed().as_secs_f64();
    Ok(Measured {
        vms: inventory.vms.len(),
        round_trips: provider.client().round_trips(),
        wall_s,
    })
}

/// Runs `failback-vcsim-anchor` against the harness and returns its wall time.
fn run_anchor(anchor: &std::path::Path, sim: &Vcsim, size: usize) -> Result<f64, String> {
    let output = std::process::Command::new(anchor)
        .arg("-url")
        .arg(&sim.url)
        .arg("-user")
        .arg(USER)
        .arg("-ca-file")
        .arg(&sim.ca_file)
        .env("VSPHERE_PASSWORD", PASSWORD)
        .output()
        .map_err(|err| format!("cannot run {}: {err}", anchor.display()))?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() {
        return Err(format!(
            "the anchor failed ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        ));
    }
    let line = stdout
        .lines()
        .find(|line| line.starts_with("anchor "))
        .ok_or_else(|| format!("the anchor printed no result line: {stdout}"))?;
    let field = |name: &str| {
        line.split_whitespace()
            .find_map(|pair| pair.strip_prefix(name)?.strip_prefix('='))
            .map(str::to_string)
    };
    let vms: usize = field("vms").and_then(|v| v.parse().ok()).unwrap_or(0);
    if vms != size {
        return Err(format!(
            "the anchor discovered {vms} VMs, the estate has {size}"
        ));
    }
    field("wall_s")
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| format!("the anchor's line has no wall_s: {line}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_estates_are_valid_and_sized() {
        let estate = estate(120).unwrap();
        assert_eq!(estate.vcenter.vms.len(), 120);
        assert_eq!(estate.vcenter.hosts.len(), 3);
        assert_eq!(estate.vcenter.datastores.len(), 10);
        assert!(estate.vcenter.vms.iter().all(|vm| vm.disks.len() == 2));
    }

    #[test]
    fn peak_rss_is_read() {
        assert!(peak_rss_mb() > 0.0);
    }
}
