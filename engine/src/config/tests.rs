//! Loader tests on small in-memory configurations: what evaluates to what, which
//! values stay sensitive, and which problems are reported where.

use std::path::{Path, PathBuf};

use super::*;

const TOPOLOGY: &str = r#"
vcenter "onprem" {
  url      = "https://vcsa.lab.local/sdk"
  password = "topsecret"
}

vault "dr" {
  subscription_id = "sub"
  resource_group  = "rg"
  name            = "rsv"
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
"#;

fn load_text(text: &str, inputs: &VariableInputs) -> Loaded {
    load_sources(
        Path::new("."),
        vec![
            (PathBuf::from("topology.hcl"), TOPOLOGY.to_owned()),
            (PathBuf::from("main.hcl"), text.to_owned()),
        ],
        inputs,
    )
}

fn load_ok(text: &str) -> Config {
    let loaded = load_text(text, &VariableInputs::default());
    assert!(
        !loaded.diagnostics.has_errors(),
        "{}",
        loaded.diagnostics.render_plain(100)
    );
    loaded.config
}

fn codes(text: &str, inputs: &VariableInputs) -> Vec<String> {
    load_text(text, inputs)
        .diagnostics
        .items
        .iter()
        .map(|d| d.code.clone())
        .collect()
}

#[test]
fn defaults_and_references_are_resolved() {
    let config = load_ok(
        r#"
reprotect "web01" {
  protected_item   = "web01-item"
  process_server   = process_server.azure
  master_target    = master_target.mt_windows
  datastore        = "vmfs-gold-01"
  retention_volume = master_target.mt_windows.retention_volume
}
"#,
    );
    let reprotect = &config.reprotects[0];
    assert_eq!(reprotect.address.to_string(), "reprotect.web01");
    assert_eq!(
        reprotect.master_target.target.to_string(),
        "master_target.mt_windows"
    );
    // The Windows default, seen through a reference.
    assert_eq!(reprotect.retention_volume.as_deref(), Some("R:"));
    let mt = config
        .master_target(&Address::new("master_target", "mt_linux"))
        .unwrap();
    assert_eq!(mt.retention_volume, "/mnt/retention");
    assert_eq!(mt.server_name, "mt-lnx-01");
    assert_eq!(config.settings.parallelism, 10);
    // Spans point into the right file.
    assert_eq!(reprotect.declared.span.file, PathBuf::from("main.hcl"));
    assert_eq!(reprotect.declared.span.line, 2);
    assert_eq!(reprotect.declared.span_of("datastore").line, 6);
    assert_eq!(reprotect.declared.depends_on.len(), 3);
}

#[test]
fn for_each_over_a_set_and_a_map() {
    let config = load_ok(
        r#"
variable "vms" {
  type = map(object({ os = string }))
  default = {
    db01  = { os = "windows" }
    web01 = { os = "linux" }
  }
}

locals {
  names = toset_free(["b", "a", "b"])
}

reprotect "vm" {
  for_each       = var.vms
  protected_item = format("%s-%03d", upper(each.key), length(each.key))
  process_server = process_server.azure
  master_target  = each.value.os == "windows" ? master_target.mt_windows : master_target.mt_linux
  datastore      = "ds"
}

reprotect "set" {
  for_each       = ["b", "a", "b"]
  protected_item = "${each.value}-item"
  process_server = process_server.azure
  master_target  = master_target.mt_linux
  datastore      = "ds"
}
"#
        .replace("toset_free(", "concat(")
        .as_str(),
    );
    let addresses: Vec<String> = config
        .reprotects
        .iter()
        .map(|r| r.address.to_string())
        .collect();
    assert_eq!(
        addresses,
        [
            "reprotect.set[\"a\"]",
            "reprotect.set[\"b\"]",
            "reprotect.vm[\"db01\"]",
            "reprotect.vm[\"web01\"]",
        ]
    );
    let db = config
        .reprotect(&Address::new("reprotect", "vm").with_key("db01"))
        .unwrap();
    assert_eq!(db.protected_item, "DB01-004");
    assert_eq!(db.master_target.target.name, "mt_windows");
}

#[test]
fn variables_take_inputs_in_terraform_precedence() {
    let text = r#"
variable "n" {
  type    = number
  default = 1
}

failback {
  parallelism = var.n
}
"#;
    let with = |inputs: VariableInputs| load_text(text, &inputs).config.settings.parallelism;
    assert_eq!(with(VariableInputs::default()), 1);
    let env = VariableInputs {
        env: vec![("n".into(), "2".into())],
        ..Default::default()
    };
    assert_eq!(with(env.clone()), 2);
    let flag = VariableInputs {
        vars: vec!["n=3".into(), "n=4".into()],
        ..env
    };
    assert_eq!(with(flag), 4);
}

#[test]
fn sensitive_values_stay_sensitive_through_locals_and_functions() {
    let text = r#"
variable "token" {
  default   = "hunter2"
  sensitive = true
}

locals {
  derived = upper("${var.token}-x")
}

vault "other" {
  subscription_id = "s"
  resource_group  = "rg"
  name            = "v"
  access_token    = local.derived
}

output "shown" {
  value     = local.derived
  sensitive = true
}

output "leak" {
  value = local.derived
}

output "password_attr" {
  value = vcenter.onprem.password
}
"#;
    let loaded = load_text(text, &VariableInputs::default());
    let codes: Vec<&str> = loaded
        .diagnostics
        .items
        .iter()
        .map(|d| d.code.as_str())
        .collect();
    assert_eq!(
        codes,
        ["config::sensitive_output", "config::sensitive_output"]
    );
    let rendered = format!(
        "{}{:?}{}",
        loaded.diagnostics.render_plain(100),
        loaded.config,
        serde_json::to_string(&loaded.config).unwrap()
    );
    assert!(!rendered.contains("hunter2"), "{rendered}");
    assert!(!rendered.contains("HUNTER2"), "{rendered}");
    assert!(!rendered.contains("topsecret"), "{rendered}");
    let vault = loaded
        .config
        .vault(&Address::new("vault", "other"))
        .unwrap();
    assert_eq!(
        vault.access_token.as_ref().map(|t| t.expose().as_str()),
        Some("HUNTER2-X")
    );
    let shown = loaded
        .config
        .outputs
        .iter()
        .find(|o| o.address.name == "shown")
        .unwrap();
    assert_eq!(shown.value, None);
}

#[test]
fn all_errors_are_reported_not_only_the_first() {
    let found = codes(
        r#"
reprotect "a" {
  protected_item = uper("x")
  process_server = process_server.azur
  master_target  = master_target.mt_linux
  colour         = "blue"
}

master_target "bad" {
  configuration_server = configuration_server.cs01
  vm                   = "x"
  os                   = "solaris"
}
"#,
        &VariableInputs::default(),
    );
    assert_eq!(
        found,
        [
            "config::unknown_function",
            "config::undeclared",
            "config::unknown_attribute",
            "config::invalid_value",
        ]
    );
}

#[test]
fn a_cycle_through_blocks_names_every_member() {
    let loaded = load_text(
        r#"
locals {
  item = reprotect.a.protected_item
}

reprotect "a" {
  protected_item = local.item
  process_server = process_server.azure
  master_target  = master_target.mt_linux
  datastore      = "ds"
}
"#,
        &VariableInputs::default(),
    );
    let messages: Vec<&str> = loaded
        .diagnostics
        .items
        .iter()
        .map(|d| d.message.as_str())
        .collect();
    assert_eq!(
        messages,
        ["dependency cycle: local.item → reprotect.a → local.item"]
    );
}

#[test]
fn file_reads_relative_to_the_configuration_directory() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("item.txt"), "web01-item").unwrap();
    std::fs::write(dir.path().join("topology.hcl"), TOPOLOGY).unwrap();
    std::fs::write(
        dir.path().join("main.hcl"),
        r#"
reprotect "web01" {
  protected_item = file("item.txt")
  process_server = process_server.azure
  master_target  = master_target.mt_linux
  datastore      = env("FAILBACK_TEST_NEVER_SET_DS", "vmfs-gold-01")
}
"#,
    )
    .unwrap();
    let config = load(dir.path(), &VariableInputs::default()).unwrap();
    assert_eq!(config.reprotects[0].protected_item, "web01-item");
    assert_eq!(
        config.reprotects[0].datastore.as_deref(),
        Some("vmfs-gold-01")
    );
}

#[test]
fn var_files_warn_about_unknown_names_and_set_known_ones() {
    let dir = tempfile::tempdir().unwrap();
    let var_file = dir.path().join("values.hcl");
    std::fs::write(&var_file, "n = 7\nm = 1\n").unwrap();
    let loaded = load_text(
        "variable \"n\" {\n  type = number\n}\n\nfailback {\n  parallelism = var.n\n}\n",
        &VariableInputs {
            var_files: vec![var_file],
            ..Default::default()
        },
    );
    assert!(!loaded.diagnostics.has_errors(), "{}", loaded.diagnostics);
    assert_eq!(loaded.config.settings.parallelism, 7);
    let warning = &loaded.diagnostics.items[0];
    assert_eq!(warning.code, "config::unknown_variable");
    assert_eq!(warning.span.as_ref().map(|s| s.line), Some(2));
}

#[test]
fn acknowledgements_are_decoded_and_checked() {
    let config = load_ok(
        r#"
reprotect "a" {
  protected_item = "a"
  process_server = process_server.azure
  master_target  = master_target.mt_linux
  datastore      = "ds"

  acknowledge "FB128" {
    reason = "powered off by the runbook"
  }
}
"#,
    );
    let acks = config.acknowledgements(&Address::new("reprotect", "a"));
    assert_eq!(acks.len(), 1);
    assert_eq!(acks[0].rule, "FB128");
    let found = codes(
        r#"
reprotect "a" {
  protected_item = "a"
  process_server = process_server.azure
  master_target  = master_target.mt_linux

  acknowledge "FB118" {
    reason = " "
  }
  acknowledge "FB118" {
    reason = "twice"
  }
}
"#,
        &VariableInputs::default(),
    );
    assert_eq!(found, ["config::empty_reason", "config::duplicate"]);
}

#[test]
fn error_labels_sit_on_the_failing_subexpression() {
    let loaded = load_text(
        r#"
locals {
  sizes = { a = 1 }
  label = "size-${upper(local.sizes["b"])}"
}
"#,
        &VariableInputs::default(),
    );
    let diagnostic = &loaded.diagnostics.items[0];
    assert_eq!(diagnostic.code, "config::no_such_key");
    let span = diagnostic.span.as_ref().unwrap();
    // hcl-rs names the expression around the failing one: the call, not the
    // whole template.
    assert_eq!((span.line, span.column, span.end - span.start), (4, 19, 23));
}
