//! `bench validate`: load and validate a generated configuration whose `reprotect`
//! block has a `for_each` over a map of 10,000 VMs built from a variable. Goal: under
//! 1 s in `--release` on a 2-core machine.
//!
//! The VMs are a list turned into a map by a `for` expression (Terraform's usual
//! idiom), not one map literal: hcl-edit's parser checks each new object key against
//! all earlier ones, so a 10,000-key object literal alone takes seconds to parse.

use std::fmt::Write as _;
use std::time::Instant;

use failback_engine::config::{self, VariableInputs};
use failback_engine::rules;

const INSTANCES: usize = 10_000;

/// The configuration: the topology once, the VMs as a variable map.
fn generate(instances: usize) -> (String, String) {
    let main = r#"
failback {
  parallelism = 10
}

vcenter "onprem" {
  url = "https://vcsa.lab.local/sdk"
}

vault "dr" {
  subscription_id = "00000000-0000-0000-0000-000000000001"
  resource_group  = "rg-dr"
  name            = "rsv-dr-weu"
}

configuration_server "cs01" {
  vault   = vault.dr
  fabric  = "cs01"
  vcenter = vcenter.onprem
}

process_server "azure" {
  configuration_server = configuration_server.cs01
  name                 = "ps-azure-01"
  location             = "azure"
}

master_target "mt_linux" {
  configuration_server = configuration_server.cs01
  vm                   = "mt-lnx-01"
  os                   = "linux"
}

master_target "mt_windows" {
  configuration_server = configuration_server.cs01
  vm                   = "mt-win-01"
  os                   = "windows"
}

reprotect "app" {
  for_each = { for vm in var.vms : vm.name => vm }

  protected_item   = "${each.key}-item"
  vm               = each.key
  process_server   = process_server.azure
  master_target    = each.value.os == "windows" ? master_target.mt_windows : master_target.mt_linux
  datastore        = each.value.datastore
  retention_volume = upper(each.value.os) == "WINDOWS" ? "R:" : "/mnt/retention"
}
"#
    .to_owned();
    let mut variables = String::from(
        "variable \"vms\" {\n  type = list(object({ name = string, os = string, datastore = string }))\n  default = [\n",
    );
    for i in 0..instances {
        let os = if i % 4 == 0 { "windows" } else { "linux" };
        let datastore = if i % 2 == 0 {
            "vmfs-gold-01"
        } else {
            "vmfs-silver-01"
        };
        let _ = writeln!(
            variables,
            "    {{ name = \"vm{i:05}\", os = \"{os}\", datastore = \"{datastore}\" }},"
        );
    }
    variables.push_str("  ]\n}\n");
    (main, variables)
}

pub fn run() -> Result<String, String> {
    let dir =
        tempfile::tempdir().map_err(|e| format!("cannot create a temporary directory: {e}"))?;
    let (main, variables) = generate(INSTANCES);
    std::fs::write(dir.path().join("main.hcl"), main).map_err(|e| e.to_string())?;
    std::fs::write(dir.path().join("variables.hcl"), variables).map_err(|e| e.to_string())?;

    let start = Instant::now();
    let cpu_start = thread_cpu_seconds();
    let config = config::load(dir.path(), &VariableInputs::default())
        .map_err(|diagnostics| format!("the generated configuration is invalid:\n{diagnostics}"))?;
    let findings = rules::check_config(&config);
    let wall = start.elapsed().as_secs_f64();
    let cpu = thread_cpu_seconds()
        .zip(cpu_start)
        .map(|(end, start)| end - start);

    if config.reprotects.len() != INSTANCES {
        return Err(format!(
            "expected {INSTANCES} reprotects, loaded {}",
            config.reprotects.len()
        ));
    }
    if !findings.is_empty() {
        return Err(format!("expected no findings, got {}", findings.len()));
    }
    let mut line = format!("bench validate instances={INSTANCES} wall_s={wall:.3}");
    if let Some(cpu) = cpu {
        let _ = write!(line, " cpu_s={cpu:.3}");
    }
    Ok(line)
}

/// CPU time of this thread so far (Linux), to read alongside the wall time on a
/// machine shared with other work, where wall time mostly measures waiting.
fn thread_cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    let nanos: f64 = stat.split_whitespace().next()?.parse().ok()?;
    Some(nanos / 1e9)
}
