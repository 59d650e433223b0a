//! Runs the real `failback` binary on the examples: each validates, `graph` prints
//! its dependencies, and variables arrive from `-var`, `-var-file` and the
//! environment in Terraform's precedence.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the cli crate sits in the workspace")
        .to_path_buf()
}

fn example(name: &str) -> PathBuf {
    workspace_root().join("examples").join(name)
}

fn failback(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_failback"));
    command
        .args(args)
        .env("NO_COLOR", "1")
        .env_remove("FAILBACK_LOG");
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("FAILBACK_VAR_") {
            command.env_remove(key);
        }
    }
    command.envs(env.iter().copied());
    command.output().expect("the failback binary runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn every_example_validates() {
    for name in ["basic", "recovery-plan", "for-each"] {
        let dir = example(name);
        let output = failback(&["validate", "-C", dir.to_str().unwrap()], &[]);
        assert_eq!(
            output.status.code(),
            Some(0),
            "{name}: {}",
            text(&output.stderr)
        );
        assert!(text(&output.stderr).contains("Success! The configuration is valid."));
    }
}

#[test]
fn json_report_of_a_valid_example() {
    let dir = example("basic");
    let output = failback(&["validate", "--json", "-C", dir.to_str().unwrap()], &[]);
    assert_eq!(output.status.code(), Some(0));
    insta::assert_snapshot!(text(&output.stdout), @r#"
    {
      "diagnostics": [],
      "valid": true
    }
    "#);
}

#[test]
fn graph_of_the_recovery_plan_example() {
    let dir = example("recovery-plan");
    let output = failback(&["graph", "-C", dir.to_str().unwrap()], &[]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    insta::assert_snapshot!("graph_recovery_plan_dot", text(&output.stdout));
}

#[test]
fn graph_json_lists_every_for_each_instance() {
    let dir = example("for-each");
    let output = failback(
        &["graph", "--format", "json", "-C", dir.to_str().unwrap()],
        &[],
    );
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    let graph: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let nodes = graph["nodes"].as_array().unwrap();
    let instances = nodes
        .iter()
        .filter(|n| n.as_str().is_some_and(|n| n.starts_with("reprotect.app[")))
        .count();
    assert_eq!(instances, 30);
    let edges = graph["edges"].as_array().unwrap();
    assert!(
        edges
            .iter()
            .any(|e| e["from"] == "master_target.mt_windows"
                && e["to"] == "reprotect.app[\"app05\"]")
    );
    assert!(edges.iter().any(|e| e["from"] == "master_target.mt_linux"
        && e["to"] == "reprotect.app[\"app01\"]"));
}

#[test]
fn graph_refuses_an_invalid_configuration() {
    let dir = workspace_root().join("testdata/config/invalid/dependency_cycle");
    let output = failback(&["graph", "-C", dir.to_str().unwrap()], &[]);
    assert_eq!(output.status.code(), Some(1));
    assert!(text(&output.stderr).contains("dependency cycle"));
}

/// A configuration whose validation shows which source a variable came from.
fn precedence_config() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("main.hcl"),
        r#"
variable "datastore" {
  type    = string
  default = "from-default"

  validation {
    condition     = var.datastore == "expected"
    error_message = "datastore is ${var.datastore}"
  }
}
"#,
    )
    .unwrap();
    dir
}

fn message_of(output: &Output) -> String {
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    report["diagnostics"][0]["message"]
        .as_str()
        .unwrap_or("")
        .to_owned()
}

#[test]
fn variables_follow_terraform_precedence() {
    let dir = precedence_config();
    let path = dir.path().to_str().unwrap();
    let var_file = dir.path().join("values.hclvars");
    std::fs::write(&var_file, "datastore = \"from-file\"\n").unwrap();
    let var_file = var_file.to_str().unwrap();
    let env = [("FAILBACK_VAR_datastore", "from-env")];

    let default = failback(&["validate", "--json", "-C", path], &[]);
    assert_eq!(message_of(&default), "datastore is from-default");
    let from_env = failback(&["validate", "--json", "-C", path], &env);
    assert_eq!(message_of(&from_env), "datastore is from-env");
    let from_file = failback(
        &["validate", "--json", "-C", path, "-var-file", var_file],
        &env,
    );
    assert_eq!(message_of(&from_file), "datastore is from-file");
    let from_flag = failback(
        &[
            "validate",
            "--json",
            "-C",
            path,
            "-var-file",
            var_file,
            "-var",
            "datastore=from-flag",
        ],
        &env,
    );
    assert_eq!(message_of(&from_flag), "datastore is from-flag");
    let later_flag_wins = failback(
        &[
            "validate",
            "-C",
            path,
            "-var",
            "datastore=x",
            "--var=datastore=expected",
        ],
        &env,
    );
    assert_eq!(
        later_flag_wins.status.code(),
        Some(0),
        "{}",
        text(&later_flag_wins.stderr)
    );
}

#[test]
fn an_unknown_variable_on_the_command_line_is_an_error() {
    let dir = example("basic");
    let output = failback(
        &[
            "validate",
            "-C",
            dir.to_str().unwrap(),
            "-var",
            "vsphere_pasword=x",
        ],
        &[],
    );
    assert_eq!(output.status.code(), Some(1));
    let stderr = text(&output.stderr);
    assert!(
        stderr.contains("no variable \"vsphere_pasword\" is declared"),
        "{stderr}"
    );
    assert!(
        stderr.contains("did you mean `vsphere_password`?"),
        "{stderr}"
    );
}

#[test]
fn a_map_variable_can_be_given_on_the_command_line() {
    let dir = example("for-each");
    let output = failback(
        &[
            "graph",
            "--format",
            "json",
            "-C",
            dir.to_str().unwrap(),
            "-var",
            r#"vms={ db01 = { os = "linux", datastore = "vmfs-gold-01" } }"#,
        ],
        &[],
    );
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    let graph: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let reprotects: Vec<&str> = graph["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|n| n.as_str())
        .filter(|n| n.starts_with("reprotect."))
        .collect();
    assert_eq!(reprotects, ["reprotect.app[\"db01\"]"]);
}

#[test]
fn secrets_never_reach_the_output() {
    let dir = example("basic");
    let output = failback(
        &[
            "validate",
            "--json",
            "-C",
            dir.to_str().unwrap(),
            "-var",
            "vsphere_password=hunter2",
        ],
        &[],
    );
    assert_eq!(output.status.code(), Some(0));
    let broken = tempfile::tempdir().unwrap();
    std::fs::write(
        broken.path().join("main.hcl"),
        "variable \"token\" {\n  sensitive = true\n}\n\nlocals {\n  shown = var.token + 1\n}\n\noutput \"t\" {\n  value = local.shown\n}\n",
    )
    .unwrap();
    let output = failback(
        &[
            "validate",
            "-C",
            broken.path().to_str().unwrap(),
            "-var",
            "token=hunter2",
        ],
        &[],
    );
    assert_eq!(output.status.code(), Some(1));
    let all = format!("{}{}", text(&output.stdout), text(&output.stderr));
    assert!(!all.contains("hunter2"), "{all}");
    assert!(all.contains("details hidden"), "{all}");
}

#[test]
fn missing_directory_is_a_clear_error() {
    let output = failback(&["validate", "-C", "/nonexistent/failback-config"], &[]);
    assert_eq!(output.status.code(), Some(1));
    assert!(text(&output.stderr).contains("cannot read the configuration directory"));
}
