//! `ConfigArgs`: the options of every command that loads the configuration
//! (`-var`, `-var-file`), and [`load_config`], which loads it as those commands do.

use std::ffi::OsString;
use std::path::PathBuf;

use clap::Args;
use failback_engine::config::{self, Diagnostics, Loaded, VariableInputs};

use crate::commands::GlobalArgs;

/// Variable values for the configuration.
#[derive(Debug, Clone, Default, Args)]
pub struct ConfigArgs {
    /// Set a variable: `-var NAME=VALUE` (repeatable; a later one wins). Values of
    /// list, map and object variables are HCL: `-var 'vms={ web01 = { os = "linux" } }'`.
    #[arg(long = "var", value_name = "NAME=VALUE")]
    pub vars: Vec<String>,
    /// Read variable values from an HCL file of `name = value` lines (repeatable; a
    /// later file wins; `-var` wins over every file; `FAILBACK_VAR_<name>` environment
    /// variables lose to both).
    #[arg(long = "var-file", value_name = "FILE")]
    pub var_files: Vec<PathBuf>,
}

impl ConfigArgs {
    /// The variable inputs, `FAILBACK_VAR_*` environment variables included.
    pub fn inputs(&self) -> VariableInputs {
        VariableInputs {
            vars: self.vars.clone(),
            var_files: self.var_files.clone(),
            env: Vec::new(),
        }
        .with_process_env()
    }
}

/// Loads the configuration of `-C DIR` with the variables of `args`: the config (as
/// far as it evaluated) and every diagnostic.
pub fn load_config(global: &GlobalArgs, args: &ConfigArgs) -> Loaded {
    config::load_report(&global.chdir, &args.inputs())
}

/// Loads the configuration, failing with every diagnostic when it has errors.
pub fn load_valid_config(
    global: &GlobalArgs,
    args: &ConfigArgs,
) -> Result<(config::Config, Diagnostics), Diagnostics> {
    let loaded = load_config(global, args);
    if loaded.diagnostics.has_errors() {
        Err(loaded.diagnostics)
    } else {
        Ok((loaded.config, loaded.diagnostics))
    }
}

/// Accepts Terraform's single-dash spelling (`-var`, `-var-file`) by rewriting it to
/// the `--var` / `--var-file` that clap parses, so that Terraform habits work.
pub fn terraform_style_args(args: impl IntoIterator<Item = OsString>) -> Vec<OsString> {
    let mut rewritten = Vec::new();
    let mut after_separator = false;
    for arg in args {
        if after_separator {
            rewritten.push(arg);
            continue;
        }
        let converted = match arg.to_str() {
            Some("--") => {
                after_separator = true;
                None
            }
            Some(text) => ["-var", "-var-file"].iter().find_map(|flag| {
                if text == *flag {
                    Some(OsString::from(format!("-{flag}")))
                } else {
                    text.strip_prefix(&format!("{flag}="))
                        .map(|value| OsString::from(format!("-{flag}={value}")))
                }
            }),
            None => None,
        };
        rewritten.push(converted.unwrap_or(arg));
    }
    rewritten
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rewrite(args: &[&str]) -> Vec<String> {
        terraform_style_args(args.iter().map(OsString::from))
            .into_iter()
            .map(|a| a.into_string().unwrap())
            .collect()
    }

    #[test]
    fn single_dash_var_flags_become_long_flags() {
        assert_eq!(
            rewrite(&[
                "failback",
                "validate",
                "-var",
                "a=b",
                "-var-file=x.hcl",
                "--var",
                "c=d"
            ]),
            [
                "failback",
                "validate",
                "--var",
                "a=b",
                "--var-file=x.hcl",
                "--var",
                "c=d"
            ]
        );
        assert_eq!(
            rewrite(&["failback", "--", "-var"]),
            ["failback", "--", "-var"]
        );
        assert_eq!(rewrite(&["failback", "-v"]), ["failback", "-v"]);
    }
}
