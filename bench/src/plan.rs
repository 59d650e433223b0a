//! The `plan` case: `failback plan`'s whole pipeline over a generated estate of
//! thousands of protected VMs, served by the real simulators (the vcsim harness and the
//! ASR simulator) and reached through the real providers.
//!
//! The parent process generates the estate and the HCL, starts both simulators and
//! re-executes this binary with [`CHILD_FLAG`]; the child runs the pipeline the CLI
//! runs (load, discover, assess, plan, render human + JSON + Markdown), times each
//! stage and prints the case's line. The child is a fresh process so that its peak
//! RSS (VmHWM) is failback's alone: neither the simulators' memory nor an earlier,
//! smaller size's peak is counted.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use failback_cli::commands::plan::{LoadedConfiguration, PlanWiring};
use failback_cli::render::markdown::ApplyHint;
use failback_cli::render::{self, Paint, Sources};
use failback_cli::wiring::RealWiring;
use failback_engine::config::VariableInputs;
use failback_engine::observe::Observed;
use failback_engine::plan::{self, PlanMeta, PriorState};
use failback_engine::provider::Provider;
use failback_provider_asr::{AsrProvider, BearerToken, VaultBlock};
use failback_provider_vcenter::VcenterProvider;
use failback_sim::asr::{AsrSimulator, SimOptions};
use failback_sim::vcsim::Vcsim;
use miette::{IntoDiagnostic, WrapErr, miette};

use crate::estates::{self, EstateSpec};

/// The hidden flag that makes the binary run one measured plan: `--plan-child DIR`.
pub const CHILD_FLAG: &str = "--plan-child";

/// How long the child may take before the parent gives up on it.
const CHILD_TIMEOUT: Duration = Duration::from_secs(600);

/// Runs the case for each size, one child process per size.
pub fn run(sizes: &[usize]) -> miette::Result<()> {
    for &vms in sizes {
        run_size(vms)?;
    }
    Ok(())
}

fn run_size(vms: usize) -> miette::Result<()> {
    let generated = estates::generate(&EstateSpec::with_vms(vms));
    let vcsim = Vcsim::start_estate(&generated.estate)
        .into_diagnostic()
        .wrap_err("cannot start the vCenter simulator")?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .into_diagnostic()?;
    let asr = runtime
        .block_on(AsrSimulator::start(
            generated.estate.clone(),
            SimOptions::default(),
        ))
        .into_diagnostic()
        .wrap_err("cannot start the ASR simulator")?;
    let dir = tempfile::tempdir().into_diagnostic()?;
    let endpoints = estates::Endpoints {
        vcenter_url: vcsim.url.clone(),
        vcenter_ca_file: vcsim.ca_file.clone(),
        vault_endpoint: asr.endpoint().to_owned(),
        vault_token: asr.token().to_owned(),
    };
    for (name, text) in estates::config_files(&generated, &endpoints) {
        std::fs::write(dir.path().join(name), text).into_diagnostic()?;
    }
    drop(generated);

    let exe = std::env::current_exe().into_diagnostic()?;
    let mut child = Command::new(exe)
        .arg(CHILD_FLAG)
        .arg(dir.path())
        .spawn()
        .into_diagnostic()
        .wrap_err("cannot start the measured child process")?;
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().into_diagnostic()? {
            break status;
        }
        if started.elapsed() > CHILD_TIMEOUT {
            // Best effort: the child is ours and is about to be reported as failed.
            let _ = child.kill();
            let _ = child.wait();
            return Err(miette!(
                "the plan of {vms} VMs took longer than {CHILD_TIMEOUT:?}"
            ));
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    runtime.block_on(asr.shutdown());
    vcsim.stop();
    if !status.success() {
        return Err(miette!("the plan of {vms} VMs failed ({status})"));
    }
    Ok(())
}

/// Seconds each stage took.
#[derive(Debug, Default, Clone, Copy)]
struct Stages {
    load: f64,
    discover: f64,
    rules: f64,
    diff: f64,
    render: f64,
}

/// The measured child: plans the configuration in `dir` and prints the case's line.
pub fn child(dir: &Path) -> miette::Result<()> {
    let wiring = RealWiring;
    let total = Instant::now();
    let cpu_at_start = process_cpu_seconds();
    let mut stages = Stages::default();

    let clock = Instant::now();
    let LoadedConfiguration { config, files, .. } = wiring
        .load(dir, &VariableInputs::default())
        .map_err(|err| miette!("loading the generated configuration failed: {err:?}"))?;
    stages.load = clock.elapsed().as_secs_f64();

    let clock = Instant::now();
    let vcenter_block = config
        .vcenters
        .first()
        .ok_or_else(|| miette!("the generated configuration has no vcenter block"))?;
    let vcenter = VcenterProvider::from_config(vcenter_block)
        .into_diagnostic()?
        .with_privilege_checks_on(config.master_target_vms_in(&vcenter_block.address));
    let vault_block = config
        .vaults
        .first()
        .ok_or_else(|| miette!("the generated configuration has no vault block"))?;
    // As the CLI's wiring builds it, with nothing taken from this process's environment.
    let vault = AsrProvider::connect(
        VaultBlock {
            address: vault_block.address.to_string(),
            subscription_id: Some(vault_block.subscription_id.clone()),
            resource_group: vault_block.resource_group.clone(),
            name: vault_block.vault_name.clone(),
            endpoint: vault_block.endpoint.clone(),
            static_token: vault_block
                .access_token
                .as_ref()
                .map(|token| BearerToken::new(token.expose().clone())),
        },
        |_| None,
    )
    .into_diagnostic()?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .into_diagnostic()?;
    // Both at once, as the CLI does; each one's finishing time tells which one bounds
    // the stage.
    let discovery_started = Instant::now();
    let ((vcenter_seen, vcenter_s), (vault_seen, vault_s)) = runtime.block_on(async {
        tokio::join!(
            async {
                let seen = vcenter.discover().await;
                (seen, discovery_started.elapsed().as_secs_f64())
            },
            async {
                let seen = vault.discover().await;
                (seen, discovery_started.elapsed().as_secs_f64())
            }
        )
    });
    let mut observed = Observed::default();
    observed.insert(
        vcenter.address(),
        vcenter_seen.map_err(|err| miette!("vCenter discovery failed: {err}"))?,
    );
    observed.insert(
        vault.address(),
        vault_seen.map_err(|err| miette!("vault discovery failed: {err}"))?,
    );
    let now = wiring.now();
    observed.observed_at = Some(now);
    stages.discover = clock.elapsed().as_secs_f64();

    let cpu_after_discovery = process_cpu_seconds();
    let clock = Instant::now();
    let assessment = wiring.assess(&config, &observed);
    stages.rules = clock.elapsed().as_secs_f64();

    let clock = Instant::now();
    let meta = PlanMeta {
        tool_version: env!("CARGO_PKG_VERSION").to_owned(),
        created_at: now,
        config_digest: plan::config_digest(&files, &BTreeMap::new()),
    };
    let findings = assessment.findings.len();
    let mut by_rule: BTreeMap<&str, (usize, &str)> = BTreeMap::new();
    for finding in &assessment.findings {
        by_rule
            .entry(finding.rule.as_str())
            .or_insert((0, finding.message.as_str()))
            .0 += 1;
    }
    // On stderr, so the case's line stays one line: what the planted violations gave.
    eprintln!("plan of {} reprotects, findings:", config.reprotects.len());
    for (rule, (count, first)) in &by_rule {
        eprintln!("  {rule} x{count} (first: {first})");
    }
    let planned = plan::make_plan(&config, observed, &PriorState::default(), assessment, meta);
    stages.diff = clock.elapsed().as_secs_f64();

    let clock = Instant::now();
    let sources = Sources::from_files(files);
    let human = render::human::render(&planned, &sources, Paint::new(false));
    let json = render::json::render(&planned);
    let markdown = render::markdown::render(
        &planned,
        &sources,
        &ApplyHint::SaveFirst {
            plan_command: "failback plan --out failback.plan".to_owned(),
        },
    );
    stages.render = clock.elapsed().as_secs_f64();
    let wall = total.elapsed().as_secs_f64();
    let cpu_at_end = process_cpu_seconds();
    // CPU seconds of every thread of this process, to read beside the wall times on a
    // machine shared with other work, where wall time also measures waiting for a core.
    let cpu_between = |from: Option<f64>| {
        from.zip(cpu_at_end).map_or_else(
            || "unknown".to_owned(),
            |(from, to)| format!("{:.2}", to - from),
        )
    };
    let cpu_s = cpu_between(cpu_at_start);
    let non_discovery_cpu_s = cpu_between(cpu_after_discovery);

    let rss_mb = peak_rss_kib()
        .map(|kib| format!("{:.1}", kib as f64 / 1024.0))
        .unwrap_or_else(|| "unknown".to_owned());
    let non_discovery = (stages.rules + stages.diff + stages.render) / wall;
    println!(
        "bench plan vms={} wall_s={wall:.3} rss_mb={rss_mb} vcenter_round_trips={} \
         arm_round_trips={} non_discovery_share={non_discovery:.3} load_s={:.3} \
         discover_s={:.3} vcenter_done_s={vcenter_s:.3} vault_done_s={vault_s:.3} rules_s={:.3} diff_s={:.3} render_s={:.3} findings={findings} \
         actions={} human_kb={} json_kb={} markdown_kb={} cpu_s={cpu_s} \
         non_discovery_cpu_s={non_discovery_cpu_s}",
        config.reprotects.len(),
        vcenter.client().round_trips(),
        vault.client().request_count(),
        stages.load,
        stages.discover,
        stages.rules,
        stages.diff,
        stages.render,
        planned.actions.len(),
        human.len() / 1024,
        json.len() / 1024,
        markdown.len() / 1024,
    );
    Ok(())
}

/// CPU time (user + system) of this process so far, all threads, finished ones
/// included, in seconds; `None` off Linux. `/proc/self/stat` counts in clock ticks of
/// 1/100 s (`USER_HZ`, 100 on every Linux architecture failback runs on).
fn process_cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    parse_cpu_ticks(&stat).map(|ticks| ticks as f64 / 100.0)
}

/// utime + stime from the text of `/proc/<pid>/stat`: fields 14 and 15, counted after
/// the command name, which is in parentheses and may hold spaces.
fn parse_cpu_ticks(stat: &str) -> Option<u64> {
    let after_name = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(utime + stime)
}

/// The process's peak resident set (VmHWM), in KiB; `None` off Linux.
pub fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    parse_vm_hwm(&status)
}

fn parse_vm_hwm(status: &str) -> Option<u64> {
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vm_hwm_is_read_from_proc_status() {
        let status = "Name:\tx\nVmPeak:\t  2000 kB\nVmHWM:\t    1234 kB\nVmRSS:\t 1000 kB\n";
        assert_eq!(parse_vm_hwm(status), Some(1234));
        assert_eq!(parse_vm_hwm("Name:\tx\n"), None);
    }

    #[test]
    fn cpu_ticks_are_read_after_the_command_name() {
        let stat = "4242 (failback bench) R 1 4242 4242 0 -1 4194304 500 0 0 0 \
                    123 45 0 0 20 0 3 0 100 1000000 2000 18446744073709551615";
        assert_eq!(parse_cpu_ticks(stat), Some(168));
        assert_eq!(parse_cpu_ticks("4242 (x) R 1"), None);
        assert!(process_cpu_seconds().is_none_or(|seconds| seconds >= 0.0));
    }

    #[test]
    fn this_process_has_a_peak() {
        if cfg!(target_os = "linux") {
            assert!(peak_rss_kib().is_some_and(|kib| kib > 0));
        }
    }
}
