//! `failback plan`: load the configuration, discover through every provider in
//! parallel, run the rules, make the plan and render it (human, `--json` or
//! `--markdown`); optionally save it (`--out FILE`) for `apply`.
//!
//! The stages that belong to other parts (loading HCL into a `Config`, building the
//! providers a configuration names, reading the state) are reached through
//! [`PlanWiring`], so that the pipeline here is tested with hand-built inputs and the
//! real loaders are plugged in at one place: [`default_wiring`].

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use failback_engine::config::{Config, VariableInputs};
use failback_engine::observe::Observed;
use failback_engine::plan::target::Selection;
use failback_engine::plan::{self, Assessment, Plan, PlanMeta, PriorState};
use failback_engine::provider::{Provider, ProviderError};
use miette::miette;
use tokio::task::JoinSet;

use crate::command_error::{CommandError, Exit};
use crate::commands::GlobalArgs;
use crate::commands::config_args::ConfigArgs;
use crate::progress::{DiscoveryDisplay, DiscoveryProgress};
use crate::render::markdown::ApplyHint;
use crate::render::{self, Paint, Sources};
use crate::ui::Ui;

/// How long one provider's discovery may take before the plan gives up on it.
pub const DISCOVERY_TIMEOUT: Duration = Duration::from_secs(600);

/// Show what failback would do: discover vCenter and the ASR vault, check every
/// prerequisite (FB101–FB130) and print the ordered plan.
///
/// Exit codes as Terraform's: 0 success, 1 error (including any unacknowledged
/// error-level finding, unless --allow-errors). With --detailed-exitcode: 0 nothing
/// to do, 1 error, 2 changes or drift.
#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub config: ConfigArgs,
    /// Save the plan to FILE for `failback apply FILE` (JSON, without secrets).
    #[arg(long = "out", short = 'o', value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Print the plan as JSON (see docs/plan-json.md) instead of text.
    #[arg(long, conflicts_with = "markdown")]
    pub json: bool,
    /// Print the plan as a pull-request comment in Markdown.
    #[arg(long)]
    pub markdown: bool,
    /// Exit 0 when there is nothing to do, 2 when there are changes or drift, 1 on
    /// error.
    #[arg(long)]
    pub detailed_exitcode: bool,
    /// Exit 0 (and save the plan) even when error findings block apply.
    #[arg(long)]
    pub allow_errors: bool,
    /// Plan only these reprotects and what they need (repeatable): `reprotect.web01`,
    /// `reprotect.app` (every instance), `recovery_plan.erp` (its members) or
    /// `master_target.mt_linux` (the reprotects through it). For failing back in
    /// waves; the plan says that targeting was in effect.
    #[arg(long = "target", value_name = "ADDRESS")]
    pub targets: Vec<String>,
}

/// The reprotects `--target` selects, checked before anything is discovered.
pub fn select_targets(
    config: &Config,
    targets: &[String],
) -> Result<Option<Selection>, CommandError> {
    if targets.is_empty() {
        return Ok(None);
    }
    plan::target::select(config, targets)
        .map(Some)
        .map_err(|err| {
            CommandError::user(miette!(
                help = "a target is `reprotect.NAME`, `reprotect.NAME[\"KEY\"]`, \
                        `recovery_plan.NAME` or `master_target.NAME`",
                "--target: {err}"
            ))
        })
}

/// `plan` narrowed to what `--target` selected, when targets were given.
pub fn narrow_to_targets(plan: Plan, config: &Config, selection: Option<&Selection>) -> Plan {
    match selection {
        Some(selection) => plan::target::narrow(plan, config, selection),
        None => plan,
    }
}

/// The configuration as loaded: the typed model and the files' text (for the digest
/// and for snippets in diagnostics).
#[derive(Debug)]
pub struct LoadedConfiguration {
    pub config: Config,
    /// `(path relative to the configuration directory, text)`.
    pub files: Vec<(String, String)>,
    /// Warnings of loading, shown on stderr.
    pub warnings: Vec<miette::Report>,
}

/// The stages of `plan` that other parts of failback provide.
pub trait PlanWiring {
    /// Loads and evaluates the `*.hcl` files of `dir` with the given variables.
    fn load(
        &self,
        dir: &Path,
        inputs: &VariableInputs,
    ) -> Result<LoadedConfiguration, CommandError>;

    /// One provider per `vcenter` and `vault` block.
    fn providers(&self, config: &Config) -> Result<Vec<Box<dyn Provider>>, CommandError>;

    /// The rules' findings and fixes.
    fn assess(&self, config: &Config, observed: &Observed) -> Assessment;

    /// The lineage and serial of the current state.
    fn prior_state(&self, config: &Config, dir: &Path) -> Result<PriorState, CommandError>;

    /// The time of the run (fixed in tests).
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// The wiring of the `failback` binary.
pub fn default_wiring() -> Box<dyn PlanWiring> {
    Box::new(crate::wiring::RealWiring)
}

/// Which rendering goes to stdout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Human,
    Json,
    Markdown,
}

impl Format {
    pub fn from_flags(json: bool, markdown: bool) -> Format {
        match (json, markdown) {
            (true, _) => Format::Json,
            (false, true) => Format::Markdown,
            (false, false) => Format::Human,
        }
    }
}

/// What one `plan` run produced, before anything is written to the terminal.
#[derive(Debug)]
pub struct PlanRun {
    pub plan: Plan,
    /// The rendering for stdout.
    pub rendered: String,
    /// Lines for stderr (where the plan was saved, why it was not).
    pub notes: Vec<String>,
    /// Warnings of loading the configuration, for stderr.
    pub warnings: Vec<miette::Report>,
    pub exit: Exit,
}

/// `failback plan`.
pub fn cmd_plan(ui: &mut Ui, global: &GlobalArgs, args: &Args) -> Result<Exit, CommandError> {
    let wiring = default_wiring();
    let run = run_plan(
        wiring.as_ref(),
        &global.chdir,
        args,
        Paint::new(ui.color()),
        ui.discovery_progress(),
    )?;
    for warning in &run.warnings {
        ui.report_diagnostic(warning);
    }
    ui.write_data(&run.rendered);
    for note in &run.notes {
        ui.status(note);
    }
    Ok(run.exit)
}

/// The whole pipeline, without terminal I/O.
pub fn run_plan(
    wiring: &dyn PlanWiring,
    dir: &Path,
    args: &Args,
    paint: Paint,
    progress: DiscoveryProgress,
) -> Result<PlanRun, CommandError> {
    let inputs = args.config.inputs();
    let variables = digest_inputs(dir, &inputs)?;
    let loaded = wiring.load(dir, &inputs)?;
    let selected = select_targets(&loaded.config, &args.targets)?;
    let providers = wiring.providers(&loaded.config)?;
    let started = wiring.now();
    let mut observed = discover(providers, DISCOVERY_TIMEOUT, progress)?;
    observed.observed_at = Some(started);
    let assessment = wiring.assess(&loaded.config, &observed);
    let state = wiring.prior_state(&loaded.config, dir)?;
    let meta = PlanMeta {
        tool_version: env!("CARGO_PKG_VERSION").to_owned(),
        created_at: started,
        config_digest: plan::config_digest(&loaded.files, &variables),
    };
    let plan = plan::make_plan(&loaded.config, observed, &state, assessment, meta);
    let plan = narrow_to_targets(plan, &loaded.config, selected.as_ref());

    let blocked = plan.summary().is_blocked();
    let mut notes = Vec::new();
    let mut saved = None;
    if let Some(out) = &args.out {
        if blocked && !args.allow_errors {
            notes.push(format!(
                "The plan was not saved to {}: errors block it (see above; --allow-errors saves it anyway).",
                out.display()
            ));
        } else {
            save_plan(&plan, &dir.join(out))?;
            notes.push(format!(
                "Saved the plan to {}. To apply exactly this plan, run: {}",
                out.display(),
                apply_command(dir, out)
            ));
            saved = Some(out.clone());
        }
    }

    let sources = Sources::from_files(loaded.files);
    let warnings = loaded.warnings;
    let rendered = match Format::from_flags(args.json, args.markdown) {
        Format::Human => render::human::render(&plan, &sources, paint),
        Format::Json => render::json::render(&plan),
        Format::Markdown => {
            let hint = match &saved {
                Some(out) => ApplyHint::Command(apply_command(dir, out)),
                None => ApplyHint::SaveFirst {
                    plan_command: format!(
                        "{}\n{}",
                        plan_command(dir, "failback.plan", &plan.targets),
                        apply_command(dir, Path::new("failback.plan"))
                    ),
                },
            };
            render::markdown::render(&plan, &sources, &hint)
        }
    };
    let exit = if blocked && !args.allow_errors {
        Exit::Error
    } else if args.detailed_exitcode && plan.has_changes_or_drift() {
        Exit::Changes
    } else {
        Exit::Success
    };
    Ok(PlanRun {
        plan,
        rendered,
        notes,
        warnings,
        exit,
    })
}

fn chdir_flag(dir: &Path) -> String {
    if dir == Path::new(".") || dir.as_os_str().is_empty() {
        String::new()
    } else {
        format!(" -C {}", shell_word(&dir.display().to_string()))
    }
}

/// The command that applies the plan saved at `out` (relative to `dir`), as the user
/// types it: with `-C DIR` when they ran failback with one.
pub(crate) fn apply_command(dir: &Path, out: &Path) -> String {
    format!(
        "failback{} apply {}",
        chdir_flag(dir),
        shell_word(&out.display().to_string())
    )
}

/// The `plan --out` command that makes this plan again, targets included.
fn plan_command(dir: &Path, out: &str, targets: &[String]) -> String {
    let targets: String = targets
        .iter()
        .map(|target| format!(" --target {}", shell_word(target)))
        .collect();
    format!("failback{} plan{targets} --out {out}", chdir_flag(dir))
}

/// Quotes a word for a POSIX shell when it needs it.
fn shell_word(word: &str) -> String {
    let plain = !word.is_empty()
        && word
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./=:@,+".contains(c));
    if plain {
        word.to_owned()
    } else {
        format!("'{}'", word.replace('\'', "'\\''"))
    }
}

/// The variable inputs as they enter the configuration digest: every `-var` (a later
/// one wins, as in loading), every `-var-file` by path with its contents, and every
/// `FAILBACK_VAR_*` variable. A `-var` without `=` is refused here, before anything
/// runs.
pub fn digest_inputs(
    dir: &Path,
    inputs: &VariableInputs,
) -> Result<BTreeMap<String, String>, CommandError> {
    let mut variables = BTreeMap::new();
    for (name, value) in &inputs.env {
        variables.insert(format!("env:{name}"), value.clone());
    }
    for file in &inputs.var_files {
        // An unreadable file is reported by the loader with its diagnostics.
        let contents = std::fs::read_to_string(dir.join(file)).unwrap_or_default();
        variables.insert(format!("var-file:{}", file.display()), contents);
    }
    for var in &inputs.vars {
        let Some((name, value)) = var.split_once('=') else {
            return Err(CommandError::user(miette!(
                help = "write --var NAME=VALUE, e.g. --var datastore=ds-vmfs-01",
                "--var {var:?} has no `=`"
            )));
        };
        let name = name.trim();
        if name.is_empty() {
            return Err(CommandError::user(miette!(
                help = "write --var NAME=VALUE",
                "--var {var:?} names no variable"
            )));
        }
        variables.insert(format!("var:{name}"), value.to_owned());
    }
    Ok(variables)
}

/// Discovers through every provider at once, each bounded by `timeout`; every
/// failure is reported, naming its provider.
pub fn discover(
    providers: Vec<Box<dyn Provider>>,
    timeout: Duration,
    progress: DiscoveryProgress,
) -> Result<Observed, CommandError> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|err| CommandError::user(miette!("cannot start the async runtime: {err}")))?;
    let addresses: Vec<String> = providers.iter().map(|p| p.address().to_owned()).collect();
    let mut display = DiscoveryDisplay::start(progress, &addresses);
    runtime.block_on(async move {
        let mut tasks = JoinSet::new();
        for provider in providers {
            tasks.spawn(async move {
                let address = provider.address().to_owned();
                let started = Instant::now();
                let result = match tokio::time::timeout(timeout, provider.discover()).await {
                    Ok(result) => result,
                    Err(_) => Err(ProviderError::Transport(format!(
                        "discovery took longer than {} s",
                        timeout.as_secs()
                    ))),
                };
                (address, result, started.elapsed())
            });
        }
        let mut observed = Observed::default();
        let mut failures = Vec::new();
        while let Some(joined) = tasks.join_next().await {
            match joined {
                Ok((address, Ok(observation), took)) => {
                    display.finished(&address, Some(&observation), took);
                    observed.insert(address, observation);
                }
                Ok((address, Err(err), took)) => {
                    display.finished(&address, None, took);
                    failures.push((address, err.to_string()));
                }
                Err(err) => failures.push(("(provider task)".to_owned(), err.to_string())),
            }
        }
        drop(display);
        if failures.is_empty() {
            return Ok(observed);
        }
        failures.sort();
        Err(CommandError::many(
            failures
                .into_iter()
                .map(|(address, message)| {
                    miette!(
                        help = "check the endpoint, the credentials and the network from this \
                                machine; nothing was planned",
                        "discovery through {address} failed: {message}"
                    )
                })
                .collect(),
        ))
    })
}

/// Writes the plan as JSON next to its final name, then renames it into place, so a
/// crash never leaves half a plan.
pub fn save_plan(plan: &Plan, path: &Path) -> Result<(), CommandError> {
    let text = serde_json::to_string_pretty(plan)
        .map_err(|err| CommandError::user(miette!("cannot serialise the plan: {err}")))?;
    let parent = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let cannot = |err: &dyn std::fmt::Display| {
        CommandError::user(miette!(
            help = "check that the directory exists and is writable",
            "cannot save the plan to {}: {err}",
            path.display()
        ))
    };
    let mut file = tempfile::NamedTempFile::new_in(&parent).map_err(|err| cannot(&err))?;
    std::io::Write::write_all(&mut file, text.as_bytes()).map_err(|err| cannot(&err))?;
    std::io::Write::write_all(&mut file, b"\n").map_err(|err| cannot(&err))?;
    file.as_file().sync_all().map_err(|err| cannot(&err))?;
    file.persist(path).map_err(|err| cannot(&err.error))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inputs(vars: &[&str]) -> VariableInputs {
        VariableInputs {
            vars: vars.iter().map(|v| (*v).to_owned()).collect(),
            var_files: Vec::new(),
            env: vec![("region".to_owned(), "west".to_owned())],
        }
    }

    #[test]
    fn variables_need_a_name_and_an_equals_sign() {
        let dir = Path::new(".");
        let ok = digest_inputs(dir, &inputs(&["a=1", "b==2", "a=3"])).unwrap();
        assert_eq!(ok["var:a"], "3");
        assert_eq!(ok["var:b"], "=2");
        assert_eq!(ok["env:region"], "west");
        assert!(digest_inputs(dir, &inputs(&["a"])).is_err());
        assert!(digest_inputs(dir, &inputs(&["=1"])).is_err());
    }

    #[test]
    fn the_binary_loads_an_example_with_its_files_for_the_digest() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/basic");
        let loaded = match crate::wiring::RealWiring.load(&dir, &VariableInputs::default()) {
            Ok(loaded) => loaded,
            Err(err) => panic!("{:?}", err.reports),
        };
        assert!(!loaded.config.reprotects.is_empty());
        assert!(loaded.files.iter().any(|(path, _)| path.ends_with(".hcl")));
    }

    #[test]
    fn the_binary_builds_one_provider_per_vcenter_and_vault_block_without_connecting() {
        let mut config = failback_engine::plan::worlds::all_new().config;
        // Loopback only: building a provider must not reach out, but never risk it.
        config.vcenters[0].url = Some("https://127.0.0.1:9/sdk".to_owned());
        config.vaults[0].endpoint = Some("http://127.0.0.1:9".to_owned());
        let providers = match crate::wiring::RealWiring.providers(&config) {
            Ok(providers) => providers,
            Err(err) => panic!("{:?}", err.reports),
        };
        let addresses: Vec<&str> = providers.iter().map(|p| p.address()).collect();
        assert_eq!(addresses, ["vcenter.onprem", "vault.dr"]);
    }

    #[test]
    fn a_block_a_provider_refuses_is_reported_by_its_address() {
        let mut config = failback_engine::plan::worlds::all_new().config;
        config.vaults[0].endpoint = Some("http://127.0.0.1:9".to_owned());
        config.vaults[0].vault_name = "bad/name".to_owned();
        let Err(err) = crate::wiring::RealWiring.providers(&config) else {
            panic!("a vault name with a slash must be refused");
        };
        let text: Vec<String> = err.reports.iter().map(|r| r.to_string()).collect();
        assert!(text.iter().any(|t| t.starts_with("vault.dr: ")), "{text:?}");
    }

    #[test]
    fn without_a_state_file_the_plan_starts_from_serial_zero() {
        let dir = tempfile::tempdir().unwrap();
        let state = crate::wiring::RealWiring
            .prior_state(&Config::default(), dir.path())
            .unwrap_or_else(|err| panic!("{:?}", err.reports));
        assert_eq!(state, PriorState::default());
    }

    #[test]
    fn commands_quote_what_the_shell_would_split() {
        assert_eq!(
            apply_command(Path::new("."), Path::new("failback.plan")),
            "failback apply failback.plan"
        );
        assert_eq!(
            apply_command(Path::new("my dir"), Path::new("it's.plan")),
            "failback -C 'my dir' apply 'it'\\''s.plan'"
        );
    }
}
