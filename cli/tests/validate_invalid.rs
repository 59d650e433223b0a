//! Runs `failback validate` on every broken configuration under
//! `testdata/config/invalid/<case>/` and pins what users read. Adding a case is adding
//! a folder (and accepting its new snapshot).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the cli crate sits in the workspace")
        .to_path_buf()
}

fn failback(dir: &Path, extra: &[&str]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_failback"));
    command
        .args(["validate", "--color", "never", "-C"])
        .arg(dir)
        .args(extra)
        .env("NO_COLOR", "1")
        .env_remove("FAILBACK_LOG");
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("FAILBACK_VAR_") {
            command.env_remove(key);
        }
    }
    command.output().expect("the failback binary runs")
}

fn cases() -> Vec<PathBuf> {
    let dir = workspace_root().join("testdata/config/invalid");
    let mut cases: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("testdata/config/invalid exists")
        .map(|entry| entry.expect("readable entry").path())
        .filter(|path| path.is_dir())
        .collect();
    cases.sort();
    cases
}

#[test]
fn there_are_enough_cases() {
    assert!(cases().len() >= 25, "only {} cases", cases().len());
}

#[test]
fn every_invalid_case_fails_with_its_pinned_diagnostics() {
    let mut settings = insta::Settings::clone_current();
    settings.set_prepend_module_to_snapshot(false);
    settings.set_snapshot_path("snapshots/invalid");
    let _guard = settings.bind_to_scope();
    for case in cases() {
        let name = case
            .file_name()
            .and_then(|n| n.to_str())
            .expect("case names are UTF-8")
            .to_owned();
        let output = failback(&case, &[]);
        let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
        assert_eq!(output.status.code(), Some(1), "case {name}:\n{stderr}");
        assert!(
            !stderr.contains("panicked"),
            "case {name} panicked:\n{stderr}"
        );
        insta::assert_snapshot!(name.as_str(), stderr);
    }
}

#[test]
fn every_invalid_case_reports_json_with_positions() {
    for case in cases() {
        let output = failback(&case, &["--json"]);
        assert_eq!(output.status.code(), Some(1), "{}", case.display());
        let report: serde_json::Value =
            serde_json::from_slice(&output.stdout).expect("--json prints JSON");
        assert_eq!(report["valid"], false);
        let diagnostics = report["diagnostics"].as_array().expect("a list");
        assert!(!diagnostics.is_empty(), "{}", case.display());
        for diagnostic in diagnostics {
            assert!(diagnostic["code"].is_string());
            assert!(diagnostic["message"].is_string());
            assert!(
                diagnostic["line"].as_u64().is_some_and(|l| l > 0),
                "{diagnostic}"
            );
            assert!(
                diagnostic["column"].as_u64().is_some_and(|c| c > 0),
                "{diagnostic}"
            );
            let file = diagnostic["file"].as_str().expect("a file");
            assert!(case.join(file).is_file(), "{file} in {}", case.display());
        }
    }
}
