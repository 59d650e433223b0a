//! `failback fmt` end to end: exit codes 0, 1 and 3, in-place rewriting, `--diff`.

use std::fs;
use std::path::Path;
use std::process::{Command, Output};

const UNFORMATTED: &str = "vcenter \"onprem\" {\nurl=\"https://vcsa.example.local/sdk\"\n    insecure = true\n}\nvault \"dr\" {\n  subscription_id = \"00000000-0000-0000-0000-000000000000\"\n  resource_group = \"rg-dr\"\n}\n";

const FORMATTED: &str = "vcenter \"onprem\" {\n  url      = \"https://vcsa.example.local/sdk\"\n  insecure = true\n}\n\nvault \"dr\" {\n  subscription_id = \"00000000-0000-0000-0000-000000000000\"\n  resource_group  = \"rg-dr\"\n}\n";

fn failback(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_failback"))
        .arg("-C")
        .arg(dir)
        .args(["--color", "never"])
        .args(args)
        .env_remove("FAILBACK_LOG")
        .output()
        .unwrap_or_else(|err| panic!("cannot run failback: {err}"))
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn dir_with(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap_or_else(|err| panic!("tempdir: {err}"));
    for (name, content) in files {
        let path = dir.path().join(name);
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent).unwrap_or_else(|err| panic!("mkdir: {err}"));
        }
        fs::write(path, content).unwrap_or_else(|err| panic!("write: {err}"));
    }
    dir
}

fn read(dir: &Path, name: &str) -> String {
    fs::read_to_string(dir.join(name)).unwrap_or_else(|err| panic!("read {name}: {err}"))
}

#[test]
fn formatted_files_exit_0_and_stay_untouched() {
    let dir = dir_with(&[("main.hcl", FORMATTED)]);
    for args in [
        &["fmt"][..],
        &["fmt", "--check"],
        &["fmt", "--check", "--diff"],
    ] {
        let output = failback(dir.path(), args);
        assert_eq!(
            output.status.code(),
            Some(0),
            "{args:?}: {}",
            stderr(&output)
        );
        assert_eq!(stdout(&output), "");
    }
    assert_eq!(read(dir.path(), "main.hcl"), FORMATTED);
}

#[test]
fn check_exits_3_lists_the_files_and_writes_nothing() {
    let dir = dir_with(&[
        ("main.hcl", UNFORMATTED),
        ("ok.hcl", FORMATTED),
        ("notes.txt", "x  \n"),
    ]);
    let output = failback(dir.path(), &["fmt", "--check"]);
    assert_eq!(output.status.code(), Some(3), "{}", stderr(&output));
    assert_eq!(stdout(&output), "main.hcl\n");
    assert!(stderr(&output).contains("1 file needs formatting"));
    assert_eq!(read(dir.path(), "main.hcl"), UNFORMATTED);
}

#[test]
fn fmt_rewrites_in_place_then_check_passes() {
    let dir = dir_with(&[("main.hcl", UNFORMATTED), ("ok.hcl", FORMATTED)]);
    let output = failback(dir.path(), &["fmt"]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert_eq!(stdout(&output), "main.hcl\n");
    assert_eq!(read(dir.path(), "main.hcl"), FORMATTED);
    // Nothing but the two files: the temporary file was renamed, not left behind.
    assert_eq!(fs::read_dir(dir.path()).map(|d| d.count()).unwrap_or(0), 2);
    let again = failback(dir.path(), &["fmt", "--check"]);
    assert_eq!(again.status.code(), Some(0));
}

#[cfg(unix)]
#[test]
fn rewriting_keeps_the_file_mode() {
    use std::os::unix::fs::PermissionsExt;
    let dir = dir_with(&[("main.hcl", UNFORMATTED)]);
    let path = dir.path().join("main.hcl");
    fs::set_permissions(&path, fs::Permissions::from_mode(0o640)).unwrap_or_else(|e| panic!("{e}"));
    let output = failback(dir.path(), &["fmt"]);
    assert_eq!(output.status.code(), Some(0));
    let mode = fs::metadata(&path)
        .map(|m| m.permissions().mode() & 0o777)
        .unwrap_or(0);
    assert_eq!(mode, 0o640);
}

#[test]
fn diff_prints_a_unified_diff() {
    let dir = dir_with(&[("main.hcl", UNFORMATTED)]);
    let output = failback(dir.path(), &["fmt", "--check", "--diff"]);
    assert_eq!(output.status.code(), Some(3));
    insta::assert_snapshot!(stdout(&output));
    assert_eq!(read(dir.path(), "main.hcl"), UNFORMATTED);
}

#[test]
fn a_file_that_does_not_parse_exits_1_with_its_position_and_is_left_alone() {
    let broken = "vault \"dr\" {\n  resource_group = \n}\n";
    let dir = dir_with(&[("broken.hcl", broken), ("main.hcl", UNFORMATTED)]);
    let output = failback(dir.path(), &["fmt"]);
    assert_eq!(output.status.code(), Some(1));
    let err = stderr(&output);
    assert!(err.contains("broken.hcl:2:"), "{err}");
    assert!(err.contains("invalid HCL"), "{err}");
    assert!(err.contains("left unchanged"), "{err}");
    insta::assert_snapshot!(err);
    assert_eq!(read(dir.path(), "broken.hcl"), broken);
    // The other files are still formatted.
    assert_eq!(read(dir.path(), "main.hcl"), FORMATTED);
}

#[test]
fn named_files_and_recursion() {
    let dir = dir_with(&[
        ("a.hcl", UNFORMATTED),
        ("b.hcl", UNFORMATTED),
        ("modules/c.hcl", UNFORMATTED),
    ]);
    let output = failback(dir.path(), &["fmt", "--check", "b.hcl"]);
    assert_eq!(output.status.code(), Some(3));
    assert_eq!(stdout(&output), "b.hcl\n");

    let output = failback(dir.path(), &["fmt", "--check"]);
    assert_eq!(stdout(&output), "a.hcl\nb.hcl\n");

    let output = failback(dir.path(), &["fmt", "--check", "--recursive"]);
    assert_eq!(stdout(&output), "a.hcl\nb.hcl\nmodules/c.hcl\n");

    let output = failback(dir.path(), &["fmt", "missing.hcl"]);
    assert_eq!(output.status.code(), Some(1));
    assert!(stderr(&output).contains("cannot read missing.hcl"));
}
