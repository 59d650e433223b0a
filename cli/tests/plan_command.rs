//! `failback plan` and `failback show` end to end over hand-built worlds: the
//! pipeline with fake providers (discovery in parallel, failures reported), exit
//! codes, saved plans without secrets, and `show` of a saved plan.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use failback_cli::command_error::{CommandError, Exit};
use failback_cli::commands::config_args::ConfigArgs;
use failback_cli::commands::plan::{
    self, Args, LoadedConfiguration, PlanWiring, discover, run_plan,
};
use failback_cli::commands::show;
use failback_cli::progress::DiscoveryProgress;
use failback_cli::render::Paint;
use failback_engine::config::{Config, VariableInputs};
use failback_engine::observe::{Observation, Observed};
use failback_engine::plan::worlds::{self, World};
use failback_engine::plan::{Assessment, PriorState};
use failback_engine::provider::{
    ActionOutcome, ProgressSink, Provider, ProviderAction, ProviderError,
};
use tokio::sync::Barrier;

/// Serves one vault inventory of a world; optionally waits at a barrier that only
/// opens when every provider is discovering at the same time.
#[derive(Debug)]
struct FakeVault {
    address: String,
    observation: Option<Observation>,
    barrier: Option<Arc<Barrier>>,
}

#[async_trait]
impl Provider for FakeVault {
    fn address(&self) -> &str {
        &self.address
    }

    async fn discover(&self) -> Result<Observation, ProviderError> {
        if let Some(barrier) = &self.barrier {
            barrier.wait().await;
        }
        self.observation
            .clone()
            .ok_or_else(|| ProviderError::Authentication("token refused (401)".to_owned()))
    }

    async fn apply(
        &self,
        action: &ProviderAction,
        _progress: &dyn ProgressSink,
    ) -> Result<ActionOutcome, ProviderError> {
        Err(ProviderError::Unsupported {
            provider: self.address.clone(),
            action: format!("{action:?}"),
        })
    }
}

struct WorldWiring {
    world: World,
    fail_discovery: bool,
}

impl PlanWiring for WorldWiring {
    fn load(
        &self,
        _dir: &Path,
        _inputs: &VariableInputs,
    ) -> Result<LoadedConfiguration, CommandError> {
        Ok(LoadedConfiguration {
            config: self.world.config.clone(),
            files: self.world.sources.clone(),
            warnings: Vec::new(),
        })
    }

    fn providers(&self, _config: &Config) -> Result<Vec<Box<dyn Provider>>, CommandError> {
        Ok(self
            .world
            .observed
            .vaults
            .iter()
            .map(|(address, inventory)| {
                Box::new(FakeVault {
                    address: address.clone(),
                    observation: (!self.fail_discovery)
                        .then(|| Observation::Vault(Box::new(inventory.clone()))),
                    barrier: None,
                }) as Box<dyn Provider>
            })
            .collect())
    }

    fn assess(&self, _config: &Config, _observed: &Observed) -> Assessment {
        self.world.assessment.clone()
    }

    fn prior_state(&self, _config: &Config, _dir: &Path) -> Result<PriorState, CommandError> {
        Ok(self.world.state.clone())
    }

    fn now(&self) -> DateTime<Utc> {
        worlds::fixed_time()
    }
}

fn messages(err: &CommandError) -> String {
    err.reports
        .iter()
        .map(|report| report.to_string())
        .collect::<Vec<_>>()
        .join("\n")
}

fn wiring(world: World) -> WorldWiring {
    WorldWiring {
        world,
        fail_discovery: false,
    }
}

fn args() -> Args {
    Args {
        config: ConfigArgs::default(),
        out: None,
        json: false,
        markdown: false,
        detailed_exitcode: false,
        allow_errors: false,
        targets: Vec::new(),
    }
}

fn run(wiring: &WorldWiring, dir: &Path, args: &Args) -> plan::PlanRun {
    match run_plan(
        wiring,
        dir,
        args,
        Paint::new(false),
        DiscoveryProgress::Hidden,
    ) {
        Ok(run) => run,
        Err(err) => panic!("plan failed: {:?}", err.reports),
    }
}

#[test]
fn exit_codes_follow_terraform() {
    let dir = tempfile::tempdir().unwrap();
    let detailed = Args {
        detailed_exitcode: true,
        ..args()
    };
    let cases = [
        ("changes", worlds::all_new(), args(), Exit::Success),
        (
            "changes, detailed",
            worlds::all_new(),
            detailed.clone(),
            Exit::Changes,
        ),
        (
            "nothing to do, detailed",
            worlds::all_done(),
            detailed.clone(),
            Exit::Success,
        ),
        (
            "drift only, detailed",
            worlds::drift(),
            detailed.clone(),
            Exit::Changes,
        ),
        ("errors", worlds::errors_acknowledged(), args(), Exit::Error),
        (
            "errors, detailed",
            worlds::errors_acknowledged(),
            detailed.clone(),
            Exit::Error,
        ),
        (
            "errors allowed",
            worlds::errors_acknowledged(),
            Args {
                allow_errors: true,
                ..args()
            },
            Exit::Success,
        ),
        (
            "errors allowed, detailed",
            worlds::errors_acknowledged(),
            Args {
                allow_errors: true,
                ..detailed.clone()
            },
            Exit::Changes,
        ),
    ];
    for (name, world, args, expected) in cases {
        let outcome = run(&wiring(world), dir.path(), &args);
        assert_eq!(outcome.exit, expected, "{name}");
    }
}

#[test]
fn saved_plan_has_no_secret_and_shows_like_the_plan() {
    let dir = tempfile::tempdir().unwrap();
    let world = worlds::recovery_plan_unit();
    let args = Args {
        out: Some("reviewed.plan".into()),
        ..args()
    };
    let outcome = run(&wiring(world.clone()), dir.path(), &args);
    let saved = std::fs::read_to_string(dir.path().join("reviewed.plan")).unwrap();
    assert!(!saved.contains("s3cr3t"), "a secret reached the saved plan");
    assert!(saved.contains("(sensitive value)"));
    assert!(
        outcome
            .notes
            .iter()
            .any(|n| n.contains("failback -C ") && n.contains("apply reviewed.plan")),
        "{:?}",
        outcome.notes
    );

    // `show` renders the saved plan as `plan` did, except for HCL snippets.
    let show_args = show::Args {
        file: "reviewed.plan".into(),
        json: true,
        markdown: false,
    };
    let shown = show::show(dir.path(), &show_args, Paint::new(false)).unwrap();
    let planned = run_plan(
        &wiring(world),
        dir.path(),
        &Args {
            json: true,
            ..plan_args_without_out()
        },
        Paint::new(false),
        DiscoveryProgress::Hidden,
    )
    .unwrap();
    assert_eq!(shown, planned.rendered);
    let human = show::show(
        dir.path(),
        &show::Args {
            json: false,
            ..show_args.clone()
        },
        Paint::new(false),
    )
    .unwrap();
    assert!(
        human.starts_with("Plan: 3 to reprotect, 1 to fix, 0 unchanged"),
        "{human}"
    );
    let markdown = show::show(
        dir.path(),
        &show::Args {
            json: false,
            markdown: true,
            ..show_args
        },
        Paint::new(false),
    )
    .unwrap();
    assert!(
        markdown.contains(&format!(
            "failback -C {} apply reviewed.plan",
            dir.path().display()
        )),
        "{markdown}"
    );
}

fn plan_args_without_out() -> Args {
    args()
}

#[test]
fn blocked_plans_are_not_saved_unless_errors_are_allowed() {
    let dir = tempfile::tempdir().unwrap();
    let out = Args {
        out: Some("blocked.plan".into()),
        ..args()
    };
    let outcome = run(&wiring(worlds::errors_acknowledged()), dir.path(), &out);
    assert_eq!(outcome.exit, Exit::Error);
    assert!(!dir.path().join("blocked.plan").exists());
    assert!(
        outcome.notes[0].contains("not saved"),
        "{:?}",
        outcome.notes
    );

    let allowed = Args {
        allow_errors: true,
        ..out
    };
    run(&wiring(worlds::errors_acknowledged()), dir.path(), &allowed);
    assert!(dir.path().join("blocked.plan").exists());
}

#[test]
fn markdown_without_a_saved_plan_says_how_to_save_one() {
    let dir = tempfile::tempdir().unwrap();
    let outcome = run(
        &wiring(worlds::all_new()),
        dir.path(),
        &Args {
            markdown: true,
            ..args()
        },
    );
    assert!(
        outcome.rendered.contains("plan --out failback.plan"),
        "{}",
        outcome.rendered
    );
}

#[test]
fn a_failed_discovery_is_an_error_naming_the_provider() {
    let dir = tempfile::tempdir().unwrap();
    let failing = WorldWiring {
        world: worlds::all_new(),
        fail_discovery: true,
    };
    let Err(err) = run_plan(
        &failing,
        dir.path(),
        &args(),
        Paint::new(false),
        DiscoveryProgress::Hidden,
    ) else {
        panic!("discovery failure must fail the plan");
    };
    let text = messages(&err);
    assert!(text.contains("discovery through vault.dr failed"), "{text}");
    assert!(text.contains("401"), "{text}");
}

#[test]
fn providers_discover_at_the_same_time() {
    // Each provider waits at a barrier for all three: run one after another, the
    // first would wait until the timeout and discovery would fail.
    let barrier = Arc::new(Barrier::new(3));
    let world = worlds::all_new();
    let inventory = world.observed.vaults["vault.dr"].clone();
    let providers: Vec<Box<dyn Provider>> = ["vault.a", "vault.b", "vault.c"]
        .into_iter()
        .map(|address| {
            Box::new(FakeVault {
                address: address.to_owned(),
                observation: Some(Observation::Vault(Box::new(inventory.clone()))),
                barrier: Some(barrier.clone()),
            }) as Box<dyn Provider>
        })
        .collect();
    let observed = match discover(
        providers,
        Duration::from_secs(10),
        DiscoveryProgress::Hidden,
    ) {
        Ok(observed) => observed,
        Err(err) => panic!("{:?}", err.reports),
    };
    assert_eq!(
        observed.vaults.keys().collect::<Vec<_>>(),
        ["vault.a", "vault.b", "vault.c"]
    );
}

#[test]
fn discovery_that_hangs_times_out() {
    let barrier = Arc::new(Barrier::new(2)); // never opens: one provider only
    let providers: Vec<Box<dyn Provider>> = vec![Box::new(FakeVault {
        address: "vault.stuck".to_owned(),
        observation: None,
        barrier: Some(barrier),
    })];
    let Err(err) = discover(
        providers,
        Duration::from_millis(50),
        DiscoveryProgress::Hidden,
    ) else {
        panic!("a hanging discovery must time out");
    };
    assert!(messages(&err).contains("longer than"));
}

#[test]
fn show_refuses_what_is_not_a_plan_it_can_read() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        ("missing.plan", None, "cannot read the plan"),
        ("garbage.plan", Some("not json"), "is not a failback plan"),
        (
            "rendering.json",
            Some("{\"resource_changes\": []}"),
            "has no format_version",
        ),
        (
            "future.plan",
            Some("{\"format_version\": \"2.0\"}"),
            "is a plan of format 2.0",
        ),
        (
            "broken.plan",
            Some("{\"format_version\": \"1.0\", \"actions\": 3}"),
            "is not a valid plan",
        ),
    ];
    for (file, contents, expected) in cases {
        if let Some(contents) = contents {
            std::fs::write(dir.path().join(file), contents).unwrap();
        }
        let args = show::Args {
            file: file.into(),
            json: false,
            markdown: false,
        };
        let Err(err) = show::show(dir.path(), &args, Paint::new(false)) else {
            panic!("{file} must be refused");
        };
        let text = messages(&err);
        assert!(text.contains(expected), "{file}: {text}");
    }
}

#[test]
fn bad_variables_are_refused_before_anything_runs() {
    let dir = tempfile::tempdir().unwrap();
    let bad = Args {
        config: ConfigArgs {
            vars: vec!["no-equals".to_owned()],
            var_files: Vec::new(),
        },
        ..args()
    };
    assert!(
        run_plan(
            &wiring(worlds::all_new()),
            dir.path(),
            &bad,
            Paint::new(false),
            DiscoveryProgress::Hidden
        )
        .is_err()
    );
}

#[test]
fn a_targeted_plan_says_so_and_its_markdown_repeats_the_targets() {
    let dir = tempfile::tempdir().unwrap();
    let wiring = wiring(worlds::recovery_plan_unit());
    let targets = vec![r#"reprotect.intranet"#.to_owned()];
    let human = run(
        &wiring,
        dir.path(),
        &Args {
            targets: targets.clone(),
            ..args()
        },
    );
    assert_eq!(human.plan.targets, targets);
    assert!(
        human.rendered.contains(
            "Targeting is in effect (--target reprotect.intranet): only the reprotects they \
             select and what those need were planned"
        ),
        "{}",
        human.rendered
    );
    assert!(!human.rendered.contains("erp_"), "{}", human.rendered);

    let markdown = run(
        &wiring,
        dir.path(),
        &Args {
            markdown: true,
            targets,
            ..args()
        },
    );
    assert!(
        markdown
            .rendered
            .contains("> [!WARNING]\n> Targeting is in effect"),
        "{}",
        markdown.rendered
    );
    assert!(
        markdown
            .rendered
            .contains("plan --target reprotect.intranet --out failback.plan"),
        "{}",
        markdown.rendered
    );
}
