//! Evaluated attribute values to the typed structs of [`super::model`]: type checks,
//! enum values, references to other blocks, defaults, secrets.
//!
//! Every problem is pushed as a diagnostic on the attribute's value span; decoding
//! goes on to report the block's other problems before giving up on it.

use std::collections::BTreeMap;
use std::path::PathBuf;

use hcl::Value;

use super::diagnostic::{Diagnostic, Diagnostics};
use super::eval::ADDRESS_KEY;
use super::model::*;
use super::schema::BlockSpec;
use super::variables::describe_value;

/// One evaluated attribute.
#[derive(Debug, Clone)]
pub(super) struct Evaluated {
    /// `None` when evaluation failed (already reported).
    pub value: Option<Value>,
    pub sensitive: bool,
    pub span: Span,
    pub attr_span: Span,
    /// For a list literal, the span of each element.
    pub element_spans: Vec<Span>,
}

/// A decoded object block.
pub(super) enum Decoded {
    Vcenter(Vcenter),
    Vault(Vault),
    ConfigurationServer(ConfigurationServer),
    ProcessServer(ProcessServer),
    MasterTarget(MasterTarget),
    FailbackPolicy(FailbackPolicy),
    Reprotect(Reprotect),
    RecoveryPlan(RecoveryPlan),
}

impl Decoded {
    /// Values that other blocks see for attributes left unset.
    pub fn defaults(&self) -> Vec<(&'static str, Value)> {
        match self {
            Decoded::Vcenter(v) => vec![("insecure", Value::Bool(v.insecure))],
            Decoded::MasterTarget(mt) => vec![
                ("name", Value::from(mt.server_name.clone())),
                ("retention_volume", Value::from(mt.retention_volume.clone())),
                ("datastores", Value::from(mt.datastores.clone())),
                (
                    "ensure_disk_enable_uuid",
                    Value::Bool(mt.ensure_disk_enable_uuid),
                ),
                ("remove_snapshots", Value::Bool(mt.remove_snapshots)),
            ],
            Decoded::FailbackPolicy(p) => vec![
                ("name", Value::from(p.policy_name.clone())),
                (
                    "rpo_threshold_minutes",
                    Value::from(p.rpo_threshold_minutes),
                ),
                (
                    "recovery_point_retention_hours",
                    Value::from(p.recovery_point_retention_hours),
                ),
                (
                    "app_consistent_frequency_minutes",
                    Value::from(p.app_consistent_frequency_minutes),
                ),
            ],
            Decoded::Reprotect(r) => vec![("remove_snapshots", Value::Bool(r.remove_snapshots))],
            _ => Vec::new(),
        }
    }
}

/// Typed access to a block's evaluated attributes, collecting problems.
pub(super) struct Fields<'v, 'd> {
    spec: &'static BlockSpec,
    values: &'v BTreeMap<String, Evaluated>,
    diagnostics: &'d mut Diagnostics,
    /// Something required is missing or wrong: the block cannot be used.
    pub failed: bool,
    header: Span,
}

impl<'v, 'd> Fields<'v, 'd> {
    pub fn new(
        spec: &'static BlockSpec,
        values: &'v mut BTreeMap<String, Evaluated>,
        diagnostics: &'d mut Diagnostics,
        header: Span,
    ) -> Self {
        Fields {
            spec,
            values,
            diagnostics,
            failed: false,
            header,
        }
    }

    /// The value of an attribute; `None` when unset, null, or failed. A failed or
    /// absent required attribute was reported already and fails the block.
    fn get(&mut self, name: &str) -> Option<(&'v Value, &'v Evaluated)> {
        let values = self.values;
        let required = self.spec.attr(name).is_some_and(|a| a.required);
        match values.get(name) {
            None => {
                if required {
                    self.failed = true;
                }
                None
            }
            Some(e) => match &e.value {
                None => {
                    self.failed = true;
                    None
                }
                Some(Value::Null) => {
                    if required {
                        self.error(
                            Diagnostic::error(
                                "config::missing_attribute",
                                format!("`{name}` is required and cannot be null"),
                            )
                            .at(e.span.clone(), "null")
                            .help(format!("give `{name}` a value")),
                        );
                    }
                    None
                }
                Some(value) => Some((value, e)),
            },
        }
    }

    fn error(&mut self, diagnostic: Diagnostic) {
        self.diagnostics.push(diagnostic);
        self.failed = true;
    }

    fn wrong_type(&mut self, name: &str, expected: &str, value: &Value, e: &Evaluated) {
        let help = match (expected, value) {
            (e, Value::String(_)) if e.starts_with("a reference") => {
                "write the reference without quotes, e.g. `master_target.NAME`".to_owned()
            }
            _ => format!("give `{name}` {expected}"),
        };
        self.error(
            Diagnostic::error(
                "config::wrong_type",
                format!("`{name}` must be {expected}, got {}", describe_value(value)),
            )
            .at(e.span.clone(), format!("expected {expected}"))
            .help(help),
        );
    }

    /// A plain string, which must not carry a secret (it would be printed).
    pub fn string(&mut self, name: &str) -> Option<String> {
        let (value, e) = self.get(name)?;
        if e.sensitive && !self.spec.attr(name).is_some_and(|a| a.sensitive) {
            self.error(
                Diagnostic::error(
                    "config::sensitive_value",
                    format!("`{name}` would show a sensitive value"),
                )
                .at(e.span.clone(), "derived from a sensitive value")
                .help(format!(
                    "`{name}` is printed in plans and state; do not derive it from a sensitive variable"
                )),
            );
            return None;
        }
        match value {
            Value::String(s) => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            Value::Bool(b) => Some(b.to_string()),
            other => {
                self.wrong_type(name, "a string", other, e);
                None
            }
        }
    }

    pub fn required_string(&mut self, name: &str) -> String {
        let value = self.string(name);
        if value.is_none() {
            self.failed = true;
        }
        value.unwrap_or_default()
    }

    pub fn secret(&mut self, name: &str) -> Option<Sensitive<String>> {
        let (value, e) = self.get(name)?;
        match value {
            Value::String(s) => Some(Sensitive::new(s.clone())),
            other => {
                // Only the type is named: the value is a secret.
                self.wrong_type(name, "a string", other, e);
                None
            }
        }
    }

    pub fn boolean(&mut self, name: &str, default: bool) -> bool {
        let Some((value, e)) = self.get(name) else {
            return default;
        };
        match value {
            Value::Bool(b) => *b,
            Value::String(s) if s == "true" || s == "false" => s == "true",
            other => {
                self.wrong_type(name, "a bool (true or false)", other, e);
                default
            }
        }
    }

    pub fn count(&mut self, name: &str, default: u32) -> u32 {
        let Some((value, e)) = self.get(name) else {
            return default;
        };
        let parsed = match value {
            Value::Number(n) => n.as_u64(),
            Value::String(s) => s.trim().parse::<u64>().ok(),
            _ => None,
        };
        match parsed.and_then(|n| u32::try_from(n).ok()) {
            Some(n) => n,
            None => {
                self.wrong_type(name, "a whole number of at least 0", value, e);
                default
            }
        }
    }

    pub fn enumeration<T: Copy>(&mut self, name: &str, choices: &[(&str, T)]) -> Option<T> {
        let (value, e) = self.get(name)?;
        let names: Vec<&str> = choices.iter().map(|(n, _)| *n).collect();
        let Value::String(text) = value else {
            self.wrong_type(name, &format!("one of {}", names.join(", ")), value, e);
            return None;
        };
        if let Some((_, found)) = choices.iter().find(|(n, _)| *n == text) {
            return Some(*found);
        }
        let shown = if e.sensitive {
            "(sensitive value)".to_owned()
        } else {
            format!("{text:?}")
        };
        let help = match choices.iter().find(|(n, _)| n.eq_ignore_ascii_case(text)) {
            Some((close, _)) => format!("values are lower case: `{name} = \"{close}\"`"),
            None => format!("`{name}` must be one of: {}", names.join(", ")),
        };
        self.error(
            Diagnostic::error(
                "config::invalid_value",
                format!("{shown} is not a valid `{name}`"),
            )
            .at(
                e.span.clone(),
                format!("expected one of {}", names.join(", ")),
            )
            .help(help),
        );
        None
    }

    pub fn strings(&mut self, name: &str) -> Vec<String> {
        let Some((value, e)) = self.get(name) else {
            return Vec::new();
        };
        let Value::Array(items) = value else {
            self.wrong_type(name, "a list of strings", value, e);
            return Vec::new();
        };
        let mut out = Vec::with_capacity(items.len());
        for item in items {
            match item {
                Value::String(s) => out.push(s.clone()),
                other => {
                    self.wrong_type(name, "a list of strings", other, e);
                    return Vec::new();
                }
            }
        }
        out
    }

    fn as_reference(
        &mut self,
        name: &str,
        kind: &str,
        value: &Value,
        span: &Span,
        e: &Evaluated,
    ) -> Option<Reference> {
        let expected = format!("a reference to a `{kind}` block");
        let Value::Object(object) = value else {
            self.wrong_type(name, &expected, value, e);
            return None;
        };
        let Some(Value::String(text)) = object.get(ADDRESS_KEY) else {
            let all_instances = !object.is_empty()
                && object
                    .values()
                    .all(|v| v.as_object().is_some_and(|o| o.contains_key(ADDRESS_KEY)));
            if all_instances {
                self.error(
                    Diagnostic::error(
                        "config::instance_required",
                        format!("`{name}` refers to all instances of a `for_each` block"),
                    )
                    .at(span.clone(), "a block with for_each")
                    .help(format!(
                        "pick one instance: `{kind}.NAME[\"KEY\"]` (or `[each.key]`)"
                    )),
                );
            } else {
                self.wrong_type(name, &expected, value, e);
            }
            return None;
        };
        let address = Address::try_from(text.clone()).ok()?;
        if address.kind != kind {
            self.error(
                Diagnostic::error(
                    "config::wrong_reference_kind",
                    format!("`{name}` must refer to a `{kind}` block, not to `{address}`"),
                )
                .at(span.clone(), format!("a {}", address.kind))
                .help(format!("refer to a `{kind}` block: `{kind}.NAME`")),
            );
            return None;
        }
        Some(Reference {
            target: address,
            span: span.clone(),
        })
    }

    pub fn reference(&mut self, name: &str, kind: &str) -> Option<Reference> {
        let (value, e) = self.get(name)?;
        self.as_reference(name, kind, value, &e.span, e)
    }

    pub fn required_reference(&mut self, name: &str, kind: &str) -> Reference {
        match self.reference(name, kind) {
            Some(reference) => reference,
            None => {
                self.failed = true;
                Reference {
                    target: Address::new(kind, ""),
                    span: self.header.clone(),
                }
            }
        }
    }

    pub fn references(&mut self, name: &str, kind: &str) -> Vec<Reference> {
        let Some((value, e)) = self.get(name) else {
            return Vec::new();
        };
        let Value::Array(items) = value else {
            self.wrong_type(
                name,
                &format!("a list of references to `{kind}` blocks"),
                value,
                e,
            );
            return Vec::new();
        };
        let mut out: Vec<Reference> = Vec::with_capacity(items.len());
        for (i, item) in items.iter().enumerate() {
            let span = if e.element_spans.len() == items.len() {
                e.element_spans[i].clone()
            } else {
                e.span.clone()
            };
            if let Some(reference) = self.as_reference(name, kind, item, &span, e) {
                if let Some(first) = out.iter().find(|r| r.target == reference.target) {
                    let first = first.span.clone();
                    self.error(
                        Diagnostic::error(
                            "config::duplicate",
                            format!(
                                "`{}` is listed more than once in `{name}`",
                                reference.target
                            ),
                        )
                        .at(span, "listed again")
                        .related(first, "first listed here")
                        .help("list each member once"),
                    );
                    continue;
                }
                out.push(reference);
            }
        }
        out
    }
}

pub(super) type StateSource = (String, BTreeMap<String, Evaluated>, Span);

pub(super) fn settings(
    spec: &'static BlockSpec,
    values: &mut BTreeMap<String, Evaluated>,
    state: Option<StateSource>,
    declared: Declared,
    diagnostics: &mut Diagnostics,
) -> Option<Settings> {
    let header = declared.span.clone();
    let defaults = Settings::default();
    let mut f = Fields::new(spec, values, diagnostics, header);
    let parallelism = f.count("parallelism", defaults.parallelism);
    if parallelism == 0
        && let Some(e) = f.values.get("parallelism")
    {
        let span = e.span.clone();
        f.error(
            Diagnostic::error("config::invalid_value", "`parallelism` must be at least 1")
                .at(span, "zero")
                .help("apply runs this many actions at once; the default is 10"),
        );
    }
    let connectivity = f.enumeration(
        "connectivity",
        &[
            ("vpn", Connectivity::Vpn),
            ("expressroute", Connectivity::ExpressRoute),
        ],
    );
    let agent_wait_timeout_minutes = f.count(
        "agent_wait_timeout_minutes",
        defaults.agent_wait_timeout_minutes,
    );
    let mut failed = f.failed;
    let state = match state {
        None => defaults.state,
        Some((backend, mut state_values, state_header)) => {
            let mut s = Fields::new(
                &super::schema::STATE,
                &mut state_values,
                diagnostics,
                state_header,
            );
            let backend = if backend == "azurerm" {
                StateBackend::Azurerm {
                    storage_account_name: s.required_string("storage_account_name"),
                    container_name: s.required_string("container_name"),
                    key: s.required_string("key"),
                    endpoint: s.string("endpoint"),
                    access_key: s.secret("access_key"),
                }
            } else {
                StateBackend::Local {
                    path: s
                        .string("path")
                        .map(PathBuf::from)
                        .unwrap_or_else(|| PathBuf::from("failback.state.json")),
                }
            };
            failed |= s.failed;
            backend
        }
    };
    if failed {
        return None;
    }
    Some(Settings {
        declared: Some(declared),
        state,
        parallelism,
        connectivity,
        agent_wait_timeout_minutes,
    })
}

pub(super) type AckSource = (String, Option<Evaluated>, Span);

fn acknowledgements(
    acks: Vec<AckSource>,
    diagnostics: &mut Diagnostics,
) -> (Vec<Acknowledgement>, bool) {
    let mut out = Vec::new();
    let mut failed = false;
    for (rule, reason, span) in acks {
        let Some(reason) = reason else {
            // Missing `reason` was reported when the block was checked.
            failed = true;
            continue;
        };
        match &reason.value {
            Some(Value::String(text)) if !text.trim().is_empty() => out.push(Acknowledgement {
                rule,
                reason: text.clone(),
                span,
            }),
            Some(_) => {
                diagnostics.push(
                    Diagnostic::error(
                        "config::empty_reason",
                        format!("the acknowledgement of {rule} needs a reason"),
                    )
                    .at(reason.span.clone(), "no reason given")
                    .help("say why the rule does not apply here: reviewers read it in every plan"),
                );
                failed = true;
            }
            None => failed = true,
        }
    }
    (out, failed)
}

/// Decodes an object block (or one `for_each` instance of it).
pub(super) fn object(
    spec: &'static BlockSpec,
    address: Address,
    declared: Declared,
    values: &mut BTreeMap<String, Evaluated>,
    acks: Vec<AckSource>,
    diagnostics: &mut Diagnostics,
) -> Option<Decoded> {
    let header = declared.span.clone();
    let (acknowledgements, acks_failed) = acknowledgements(acks, diagnostics);
    let mut f = Fields::new(spec, values, diagnostics, header);
    let label = address.name.clone();
    let decoded = match spec.kind {
        "vcenter" => Decoded::Vcenter(Vcenter {
            url: f.string("url"),
            username: f.string("username"),
            password: f.secret("password"),
            thumbprint: f.string("thumbprint"),
            ca_file: f.string("ca_file").map(PathBuf::from),
            insecure: f.boolean("insecure", false),
            address,
            declared,
        }),
        "vault" => Decoded::Vault(Vault {
            subscription_id: f.required_string("subscription_id"),
            resource_group: f.required_string("resource_group"),
            vault_name: f.required_string("name"),
            endpoint: f.string("endpoint"),
            access_token: f.secret("access_token"),
            address,
            declared,
        }),
        "configuration_server" => Decoded::ConfigurationServer(ConfigurationServer {
            vault: f.required_reference("vault", "vault"),
            fabric: f.required_string("fabric"),
            vcenter: f.required_reference("vcenter", "vcenter"),
            acknowledgements,
            address,
            declared,
        }),
        "process_server" => Decoded::ProcessServer(ProcessServer {
            configuration_server: f
                .required_reference("configuration_server", "configuration_server"),
            server_name: f.required_string("name"),
            location: f
                .enumeration(
                    "location",
                    &[
                        ("azure", ProcessServerLocation::Azure),
                        ("onprem", ProcessServerLocation::Onprem),
                    ],
                )
                .unwrap_or(ProcessServerLocation::Azure),
            acknowledgements,
            address,
            declared,
        }),
        "master_target" => {
            let vm = f.required_string("vm");
            let os = f.enumeration(
                "os",
                &[("windows", OsFamily::Windows), ("linux", OsFamily::Linux)],
            );
            let default_retention = match os {
                Some(OsFamily::Windows) => "R:",
                _ => "/mnt/retention",
            };
            Decoded::MasterTarget(MasterTarget {
                configuration_server: f
                    .required_reference("configuration_server", "configuration_server"),
                server_name: f.string("name").unwrap_or_else(|| vm.clone()),
                vm,
                os: os.unwrap_or(OsFamily::Linux),
                retention_volume: f
                    .string("retention_volume")
                    .unwrap_or_else(|| default_retention.to_owned()),
                datastores: f.strings("datastores"),
                ensure_disk_enable_uuid: f.boolean("ensure_disk_enable_uuid", false),
                remove_snapshots: f.boolean("remove_snapshots", false),
                acknowledgements,
                address,
                declared,
            })
        }
        "failback_policy" => Decoded::FailbackPolicy(FailbackPolicy {
            policy_name: f.string("name").unwrap_or(label),
            rpo_threshold_minutes: f.count("rpo_threshold_minutes", 15),
            recovery_point_retention_hours: f.count("recovery_point_retention_hours", 24),
            app_consistent_frequency_minutes: f.count("app_consistent_frequency_minutes", 60),
            address,
            declared,
        }),
        "reprotect" => Decoded::Reprotect(Reprotect {
            protected_item: f.required_string("protected_item"),
            vm: f.string("vm"),
            process_server: f.required_reference("process_server", "process_server"),
            master_target: f.required_reference("master_target", "master_target"),
            datastore: f.string("datastore"),
            retention_volume: f.string("retention_volume"),
            policy: f.reference("policy", "failback_policy"),
            run_as_account: f.string("run_as_account"),
            remove_snapshots: f.boolean("remove_snapshots", false),
            acknowledgements,
            address,
            declared,
        }),
        "recovery_plan" => {
            let members = f.references("members", "reprotect");
            if members.is_empty()
                && !f.failed
                && let Some(e) = f.values.get("members")
            {
                let span = e.span.clone();
                f.error(
                    Diagnostic::error(
                        "config::empty_recovery_plan",
                        "a recovery plan needs at least one member",
                    )
                    .at(span, "no members")
                    .help("list its reprotects: `members = [reprotect.NAME, ...]`"),
                );
            }
            Decoded::RecoveryPlan(RecoveryPlan {
                plan_name: f.required_string("name"),
                members,
                master_target: f.reference("master_target", "master_target"),
                process_server: f.reference("process_server", "process_server"),
                datastore: f.string("datastore"),
                acknowledgements,
                address,
                declared,
            })
        }
        other => {
            f.error(Diagnostic::error(
                "config::internal",
                format!("no decoder for `{other}` blocks"),
            ));
            return None;
        }
    };
    if f.failed || acks_failed {
        return None;
    }
    Some(decoded)
}
