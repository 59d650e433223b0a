//! Every rule-breaking estate of `testdata/estates/rules/` planned for real: the
//! `examples/basic` configuration pointed at both simulators (the vCenter harness and
//! the ASR simulator), discovered through the real providers, judged by the rules.
//! Each estate must show its rule (as a finding, a planned fix, or a wait for the
//! agent), and the whole verdict is pinned so that a change in any rule is reviewed:
//! the findings and fixes, then the plan as text, as JSON (checked against
//! docs/plan-json.schema.json) and as Markdown, all three from one discovery.

mod support {
    pub mod json_schema;
    pub mod normalise;
}

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use failback_cli::commands::config_args::ConfigArgs;
use failback_cli::commands::plan::{Args as PlanArgs, run_plan};
use failback_cli::progress::DiscoveryProgress;
use failback_cli::render::markdown::ApplyHint;
use failback_cli::render::{self, Paint, Sources};
use failback_cli::wiring::RealWiring;
use failback_engine::rules::Status;
use failback_sim::asr::{AsrSimulator, SimOptions};
use failback_sim::estate::Estate;
use failback_sim::vcsim::Vcsim;
use support::json_schema::validate;
use support::normalise::normalise;

fn repository() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The variables that point `examples/basic` at the simulators, as `NAME=VALUE`.
fn simulator_variables(vcsim: &Vcsim, endpoint: &str, token: &str) -> Vec<String> {
    vec![
        format!("vcenter_url={}", vcsim.url),
        "vcenter_username=asr@vsphere.local".to_owned(),
        format!("vcenter_thumbprint={}", vcsim.thumbprint_sha256),
        "vsphere_password=s3cret".to_owned(),
        "vault_name=contoso-vault".to_owned(),
        format!("asr_endpoint={endpoint}"),
        format!("asr_token={token}"),
    ]
}

/// What one plan of a rule estate shows, normalised: the verdict (one line per
/// finding and per action a rule asked for, then the text plan) and the JSON and
/// Markdown renderings of the same plan.
struct Renderings {
    verdict: String,
    json: String,
    markdown: String,
}

/// Plans `examples/basic` against the estate of `rule`.
fn verdict(rule: &str) -> Renderings {
    verdict_for(
        rule,
        &repository().join(format!("testdata/estates/rules/{rule}.json")),
    )
}

fn verdict_for(rule: &str, estate_path: &Path) -> Renderings {
    let estate = Estate::load(estate_path).unwrap_or_else(|err| panic!("{err}"));
    let vcsim = Vcsim::start(estate_path).unwrap_or_else(|err| panic!("{rule}: {err}"));
    let runtime = tokio::runtime::Runtime::new().expect("a tokio runtime");
    let options = SimOptions {
        vcenter_address: Some("127.0.0.1".to_owned()),
        ..SimOptions::default()
    };
    let asr = runtime
        .block_on(AsrSimulator::start(estate, options))
        .unwrap_or_else(|err| panic!("{rule}: {err}"));

    let dir = tempfile::tempdir().expect("a temporary directory");
    let variables = simulator_variables(&vcsim, asr.endpoint(), asr.token());
    let mut text = std::fs::read_to_string(repository().join("examples/basic/main.hcl"))
        .expect("examples/basic/main.hcl is readable");
    // FB119 compares the vault's failback policy with the declared one a reprotect uses.
    text = text.replace(
        "reprotect \"web01\" {",
        "reprotect \"web01\" {\n  policy = failback_policy.expected",
    );
    text.push_str(
        "\nfailback_policy \"expected\" {\n  name = \"failback-policy\"\n  \
         rpo_threshold_minutes = 15\n}\n",
    );
    std::fs::write(dir.path().join("main.hcl"), &text).expect("write main.hcl");

    // One discovery through the whole `plan` pipeline; the plan it makes is rendered
    // the three ways a user reads it.
    let args = PlanArgs {
        config: ConfigArgs {
            vars: variables,
            var_files: Vec::new(),
        },
        out: None,
        json: false,
        markdown: false,
        detailed_exitcode: true,
        allow_errors: false,
        targets: Vec::new(),
    };
    let run = run_plan(
        &RealWiring,
        dir.path(),
        &args,
        Paint::new(false),
        DiscoveryProgress::Hidden,
    )
    .unwrap_or_else(|err| panic!("{rule}: plan failed: {:?}", err.reports));
    runtime.block_on(asr.shutdown());
    vcsim.stop();

    let plan = &run.plan;
    let mut out = String::new();
    for finding in &plan.findings {
        let status = match &finding.status {
            Status::Violated => "violated",
            Status::CouldNotCheck { .. } => "could not check",
        };
        let _ = writeln!(
            out,
            "{} {:?} {status} {}: {}",
            finding.rule, finding.severity, finding.address, finding.message
        );
    }
    for action in &plan.actions {
        if let Some(rule) = &action.rule {
            let reason = action
                .reason
                .strip_suffix(&format!(" ({rule})"))
                .unwrap_or(&action.reason);
            let _ = writeln!(
                out,
                "action {rule} {} {}: {reason}",
                action.kind, action.address
            );
        }
    }
    let _ = writeln!(
        out,
        "\n--- failback plan (exit {:?}) ---\n{}",
        run.exit, run.rendered
    );

    let json = render::json::render(plan);
    let rendered: serde_json::Value = serde_json::from_str(&json)
        .unwrap_or_else(|err| panic!("{rule}: plan --json is not JSON: {err}"));
    let errors = validate(&schema(), &rendered);
    assert!(errors.is_empty(), "{rule}: {errors:#?}");

    // What `plan --markdown` prints when run in the configuration's directory.
    let hint = ApplyHint::SaveFirst {
        plan_command: "failback plan --out failback.plan\nfailback apply failback.plan".to_owned(),
    };
    let sources = Sources::from_files([("main.hcl".to_owned(), text)]);
    let markdown = render::markdown::render(plan, &sources, &hint);

    let norm = |text: &str| normalise(text, Some(dir.path()));
    Renderings {
        verdict: norm(&out),
        json: norm(&json),
        markdown: norm(&markdown),
    }
}

fn schema() -> serde_json::Value {
    serde_json::from_str(include_str!("../../docs/plan-json.schema.json"))
        .expect("the schema is valid JSON")
}

macro_rules! rule_cases {
    ($($name:ident => $rule:literal),* $(,)?) => {$(
        #[test]
        fn $name() {
            let renderings = verdict($rule);
            let verdict = &renderings.verdict;
            assert!(
                verdict.lines().any(|line| line.contains($rule)),
                "{} shows no {}:\n{verdict}",
                $rule,
                $rule
            );
            assert!(renderings.json.contains($rule), "the JSON plan shows no {}", $rule);
            assert!(
                renderings.markdown.contains($rule),
                "the Markdown plan shows no {}",
                $rule
            );
            insta::assert_snapshot!($rule, verdict);
            insta::assert_snapshot!(concat!($rule, "_json"), renderings.json);
            insta::assert_snapshot!(concat!($rule, "_markdown"), renderings.markdown);
        }
    )*};
}

rule_cases! {
    fb101 => "FB101", fb102 => "FB102", fb104 => "FB104", fb105 => "FB105",
    fb107 => "FB107", fb108 => "FB108", fb109 => "FB109", fb111 => "FB111",
    fb112 => "FB112", fb113 => "FB113", fb114 => "FB114", fb115 => "FB115",
    fb116 => "FB116", fb117 => "FB117", fb119 => "FB119", fb122 => "FB122",
    fb124 => "FB124", fb125 => "FB125", fb127 => "FB127", fb128 => "FB128",
    fb129 => "FB129", fb130 => "FB130",
}

/// A permission set on the master target VM overrides the role the discovery user
/// holds from the root: FB101 reads the privilege on the VM itself, so the planned
/// disk.EnableUUID fix is an error before apply, not a NoPermission fault during it.
#[test]
fn fb101_on_the_master_target_vm() {
    let renderings = verdict_for(
        "FB101-vm",
        &repository().join("testdata/estates/rules/FB101-vm.json"),
    );
    let verdict = &renderings.verdict;
    assert!(
        verdict
            .lines()
            .any(|line| line.starts_with("FB101 Error violated")),
        "{verdict}"
    );
    assert!(
        verdict.contains("denied: VirtualMachine.Config.AdvancedConfig on mt-lnx-01"),
        "{verdict}"
    );
    assert!(verdict.contains("(exit Error)"), "{verdict}");
    insta::assert_snapshot!("FB101-vm", verdict);
}

/// The unbroken estate plans without a single finding or fix: one reprotect to do.
#[test]
fn the_basic_estate_breaks_no_rule() {
    let renderings = verdict_for("basic", &repository().join("examples/basic/estate.json"));
    let (findings, plan) = renderings
        .verdict
        .split_once("\n--- failback plan")
        .expect("the verdict has a plan");
    assert_eq!(findings, "");
    assert!(plan.contains("(exit Changes)"), "{plan}");
    assert!(
        plan.contains("Plan: 1 to reprotect, 0 to fix, 0 unchanged; 0 errors, 0 warnings"),
        "{plan}"
    );
}
