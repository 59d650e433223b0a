//! Every rule-breaking estate of `testdata/estates/rules/` planned for real: the
//! `examples/basic` configuration pointed at both simulators (the vCenter harness and
//! the ASR simulator), discovered through the real providers, judged by the rules.
//! Each estate must show its rule (as a finding, a planned fix, or a wait for the
//! agent), and the whole verdict is pinned so that a change in any rule is reviewed.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::Utc;
use failback_cli::commands::config_args::ConfigArgs;
use failback_cli::commands::plan::{Args as PlanArgs, discover, run_plan};
use failback_cli::render::Paint;
use failback_cli::wiring::{RealWiring, providers};
use failback_engine::config::{self, VariableInputs};
use failback_engine::rules::{self, Status};
use failback_sim::asr::{AsrSimulator, SimOptions};
use failback_sim::estate::Estate;
use failback_sim::vcsim::Vcsim;

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

/// Plans `examples/basic` against the estate of `rule` and returns the verdict, one line
/// per finding and fix.
fn verdict(rule: &str) -> String {
    verdict_for(
        rule,
        &repository().join(format!("testdata/estates/rules/{rule}.json")),
    )
}

fn verdict_for(rule: &str, estate_path: &Path) -> String {
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
    let inputs = VariableInputs {
        vars: variables.clone(),
        ..VariableInputs::default()
    };
    let config_text = text.clone();
    let loaded = config::load_sources(dir.path(), vec![(PathBuf::from("main.hcl"), text)], &inputs);
    assert!(
        !loaded.diagnostics.has_errors(),
        "{rule}: {:?}",
        loaded.diagnostics.to_reports()
    );
    let config = loaded.config;
    let providers = providers(&config).unwrap_or_else(|_| panic!("{rule}: providers"));
    let started = Utc::now();
    let mut observed = discover(providers, Duration::from_secs(120))
        .unwrap_or_else(|err| panic!("{rule}: discovery failed: {:?}", err.reports));
    observed.observed_at = Some(started);

    let (findings, fixes) = rules::assess(&config, &observed);
    let mut out = String::new();
    for finding in &findings {
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
    for fix in &fixes {
        let _ = writeln!(out, "fix {} {}: {}", fix.rule, fix.address, fix.reason);
    }

    // The same world through the whole `plan` pipeline, as the user reads it.
    let written = dir.path().join("main.hcl");
    std::fs::write(&written, &config_text).expect("write main.hcl");
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
    };
    let run = run_plan(&RealWiring, dir.path(), &args, Paint::new(false))
        .unwrap_or_else(|err| panic!("{rule}: plan failed: {:?}", err.reports));
    let _ = writeln!(
        out,
        "\n--- failback plan (exit {:?}) ---\n{}",
        run.exit, run.rendered
    );
    runtime.block_on(asr.shutdown());
    out
}

macro_rules! rule_cases {
    ($($name:ident => $rule:literal),* $(,)?) => {$(
        #[test]
        fn $name() {
            let verdict = verdict($rule);
            assert!(
                verdict.lines().any(|line| line.contains($rule)),
                "{} shows no {}:\n{verdict}",
                $rule,
                $rule
            );
            insta::with_settings!({filters => vec![
                (r"127\.0\.0\.1:\d+", "127.0.0.1:PORT"),
                (r"([0-9A-F]{2}:){31}[0-9A-F]{2}", "THUMBPRINT"),
                (r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z", "TIMESTAMP"),
            ]}, {
                insta::assert_snapshot!($rule, verdict);
            });
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

/// The unbroken estate plans without a single finding or fix: one reprotect to do.
#[test]
fn the_basic_estate_breaks_no_rule() {
    let verdict = verdict_for("basic", &repository().join("examples/basic/estate.json"));
    let (findings, plan) = verdict
        .split_once("\n--- failback plan")
        .expect("the verdict has a plan");
    assert_eq!(findings, "");
    assert!(plan.contains("(exit Changes)"), "{plan}");
    assert!(
        plan.contains("Plan: 1 to reprotect, 0 to fix, 0 unchanged; 0 errors, 0 warnings"),
        "{plan}"
    );
}
