//! Every example planned end to end: both simulators serve the example's estate, the
//! real `failback` binary plans it (text, `--json`, `--markdown` with and without
//! `--out`), saves the plan and shows the saved file in the three renderings. The
//! renderings are pinned, `show` must say exactly what `plan` said (a saved plan
//! keeps no HCL text: its findings name file:line instead of a snippet, and that part
//! is pinned separately), the exit codes follow `--detailed-exitcode`, the JSON
//! matches docs/plan-json.schema.json, and no secret reaches any output or the
//! saved plan.
//!
//! One simulator world per example serves all of its commands: a vCenter start costs
//! about a second on a shared machine.

mod support {
    pub mod json_schema;
    pub mod normalise;
    pub mod sim;
}

use support::json_schema::validate;
use support::normalise::normalise;
use support::sim::{Run, SimWorld};

/// The saved plan's name inside the example's copy.
const PLAN_FILE: &str = "failback.plan";

fn schema() -> serde_json::Value {
    serde_json::from_str(include_str!("../../docs/plan-json.schema.json"))
        .expect("the schema is valid JSON")
}

/// What one example's commands printed, normalised.
struct Outputs {
    human: String,
    json: String,
    markdown: String,
    /// `show`'s text and Markdown, when they differ from `plan`'s (a saved plan has
    /// no configuration text, so its findings name file:line instead of a snippet).
    shown_human: Option<String>,
    shown_markdown: Option<String>,
}

/// Runs `args` and asserts its exit code.
fn run_expecting(world: &SimWorld, args: &[&str], code: i32) -> Run {
    let run = world.run(args);
    assert_eq!(
        run.code,
        Some(code),
        "failback {}: {}",
        args.join(" "),
        run.text()
    );
    run
}

fn assert_no_secret(world: &SimWorld, what: &str, text: &str) {
    for (name, value) in &world.vars {
        if name == "vsphere_password" || name == "asr_token" {
            assert!(!value.is_empty(), "{name} is set for the test");
            assert!(
                !text.contains(value.as_str()),
                "{what} shows the value of {name}:\n{text}"
            );
        }
    }
}

/// A rendering split into what never shows configuration text and what may (the
/// findings with their HCL snippets): `(rest, findings)`.
fn split_findings(text: &str) -> (String, String) {
    if let Some(start) = text.find("<details>") {
        // Markdown: the full plan inside <details> is the text rendering.
        let end = text[start..]
            .find("</details>")
            .map_or(text.len(), |end| start + end);
        let rest = format!("{}{}", &text[..start], &text[end..]);
        return (rest, text[start..end].to_owned());
    }
    match text.find("\nFindings:\n") {
        Some(start) => (text[..start].to_owned(), text[start..].to_owned()),
        None => (text.to_owned(), String::new()),
    }
}

/// The rule ids a rendering's findings name, in order.
fn finding_rules(findings: &str) -> Vec<&str> {
    findings
        .lines()
        .filter(|line| line.len() == 5 && line.starts_with("FB"))
        .collect()
}

/// Plans `example` three ways, saves it, shows it three ways; returns the
/// renderings after checking show's against plan's.
fn plan_and_show(example: &str) -> Outputs {
    let world = SimWorld::start(example, |_| {});
    let dir = world.dir.path().to_path_buf();
    let norm = |text: &str| normalise(text, Some(&dir));

    let human = run_expecting(&world, &["plan", "--detailed-exitcode"], 2);
    let json = run_expecting(&world, &["plan", "--json", "--detailed-exitcode"], 2);
    // Without --detailed-exitcode a plan with changes succeeds.
    let markdown = run_expecting(&world, &["plan", "--markdown", "--out", PLAN_FILE], 0);
    for (what, run) in [
        ("plan", &human),
        ("plan --json", &json),
        ("plan --markdown --out", &markdown),
    ] {
        assert_no_secret(&world, &format!("{what} stdout"), &run.stdout);
        assert_no_secret(&world, &format!("{what} stderr"), &run.stderr);
    }
    assert!(
        markdown
            .stderr
            .contains(&format!("Saved the plan to {PLAN_FILE}")),
        "{}",
        markdown.text()
    );
    let saved = std::fs::read_to_string(dir.join(PLAN_FILE)).expect("the saved plan");
    assert_no_secret(&world, "the saved plan", &saved);
    // The secrets are in the saved configuration, redacted (not merely left out).
    assert!(saved.contains("(sensitive value)"), "{saved}");

    // Unsaved, the comment says how to save what was reviewed instead of how to
    // apply the saved file; the rest is the same.
    let unsaved = run_expecting(&world, &["plan", "--markdown", "--detailed-exitcode"], 2);
    assert_no_secret(&world, "plan --markdown", &unsaved.stdout);
    let unsaved = norm(&unsaved.stdout);
    let (body, footer) = unsaved
        .split_once(":arrow_forward:")
        .expect("a plan with changes tells how to apply it");
    assert_eq!(
        footer,
        " To **apply** what was reviewed, save the plan and apply that file:\n\n```sh\n\
         failback -C DIR plan --out failback.plan\nfailback -C DIR apply failback.plan\n```\n"
    );
    assert_eq!(
        markdown
            .stdout
            .split_once(":arrow_forward:")
            .map(|(body, _)| norm(body)),
        Some(body.to_owned()),
        "{example}: plan --markdown with and without --out differ before the footer"
    );

    let rendered: serde_json::Value =
        serde_json::from_str(&json.stdout).expect("plan --json prints JSON");
    let errors = validate(&schema(), &rendered);
    assert!(errors.is_empty(), "{example}: {errors:#?}");

    let mut outputs = Outputs {
        human: norm(&human.stdout),
        json: norm(&json.stdout),
        markdown: norm(&markdown.stdout),
        shown_human: None,
        shown_markdown: None,
    };
    for (args, planned) in [
        (vec!["show", PLAN_FILE], &outputs.human),
        (vec!["show", "--json", PLAN_FILE], &outputs.json),
        (vec!["show", "--markdown", PLAN_FILE], &outputs.markdown),
    ] {
        let shown = run_expecting(&world, &args, 0);
        assert_no_secret(&world, &args.join(" "), &shown.stdout);
        assert_no_secret(&world, &args.join(" "), &shown.stderr);
        let shown = norm(&shown.stdout);
        if &shown == planned {
            continue;
        }
        let what = format!("{example}: `failback {}`", args.join(" "));
        assert!(args[1] != "--json", "{what} differs from plan --json");
        let (shown_rest, shown_findings) = split_findings(&shown);
        let (planned_rest, planned_findings) = split_findings(planned);
        assert_eq!(
            shown_rest, planned_rest,
            "{what} differs from what plan printed"
        );
        assert_eq!(
            finding_rules(&shown_findings),
            finding_rules(&planned_findings),
            "{what} shows other findings than plan"
        );
        if args[1] == "--markdown" {
            outputs.shown_markdown = Some(shown);
        } else {
            outputs.shown_human = Some(shown);
        }
    }
    outputs
}

fn pin(example: &str) {
    let outputs = plan_and_show(example);
    let name = example.replace('-', "_");
    insta::assert_snapshot!(format!("{name}__human"), outputs.human);
    insta::assert_snapshot!(format!("{name}__json"), outputs.json);
    insta::assert_snapshot!(format!("{name}__markdown"), outputs.markdown);
    if let Some(shown) = outputs.shown_human {
        insta::assert_snapshot!(format!("{name}__show_human"), shown);
    }
    if let Some(shown) = outputs.shown_markdown {
        insta::assert_snapshot!(format!("{name}__show_markdown"), shown);
    }
}

#[test]
fn basic() {
    pin("basic");
}

#[test]
fn recovery_plan() {
    pin("recovery-plan");
}

#[test]
fn for_each() {
    pin("for-each");
}

#[test]
fn findings_are_split_from_text_and_markdown_renderings() {
    let text = "Plan: 1\n\n  + a\n\nFindings:\n\nFB128\n\n  ☞ x\n";
    let (rest, findings) = split_findings(text);
    assert_eq!(rest, "Plan: 1\n\n  + a\n");
    assert_eq!(finding_rules(&findings), ["FB128"]);

    let markdown = "## head\n<details>\nFindings:\n\nFB103\n</details>\n\nfooter\n";
    let (rest, findings) = split_findings(markdown);
    assert_eq!(rest, "## head\n</details>\n\nfooter\n");
    assert_eq!(finding_rules(&findings), ["FB103"]);

    assert_eq!(
        split_findings("Plan: 0\n"),
        ("Plan: 0\n".to_owned(), String::new())
    );
}
