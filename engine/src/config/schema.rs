//! The shape of the language: which blocks exist, how many labels they take, which
//! attributes and nested blocks each accepts, of what type, which are required.
//!
//! Loading checks every block against this table before evaluating anything, and the
//! "did you mean" suggestions come from the names listed here. `docs/language.md` is
//! the prose form of this table and must be kept in step with it.

/// The type an attribute's evaluated value must have.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttrType {
    String,
    Bool,
    /// A whole number from 0 to `u32::MAX`.
    Count,
    /// One of a fixed set of strings.
    Enum(&'static [&'static str]),
    /// A reference to one block of the given kind: `master_target.mt_linux`.
    Ref(&'static str),
    /// A list of references to blocks of the given kind.
    RefList(&'static str),
    StringList,
    /// Any value (an output's `value`, a variable's `default`).
    Any,
    /// A type expression, not evaluated: a variable's `type`.
    TypeExpr,
    /// An expression evaluated only in a special scope (a validation's `condition`).
    Deferred,
}

#[derive(Debug, Clone, Copy)]
pub struct AttrSpec {
    pub name: &'static str,
    pub ty: AttrType,
    pub required: bool,
    /// Its value is a secret: kept as `Sensitive`, never printed.
    pub sensitive: bool,
}

const fn attr(name: &'static str, ty: AttrType) -> AttrSpec {
    AttrSpec {
        name,
        ty,
        required: false,
        sensitive: false,
    }
}

const fn required(name: &'static str, ty: AttrType) -> AttrSpec {
    AttrSpec {
        name,
        ty,
        required: true,
        sensitive: false,
    }
}

const fn secret(name: &'static str) -> AttrSpec {
    AttrSpec {
        name,
        ty: AttrType::String,
        required: false,
        sensitive: true,
    }
}

/// One block type (top-level or nested).
#[derive(Debug)]
pub struct BlockSpec {
    pub kind: &'static str,
    /// The names of its labels, e.g. `["name"]`; empty for `failback` and `locals`.
    pub labels: &'static [&'static str],
    pub attrs: &'static [AttrSpec],
    /// Nested block types it accepts.
    pub blocks: &'static [&'static BlockSpec],
    /// Whether `for_each` may expand it into instances.
    pub for_each: bool,
}

impl BlockSpec {
    pub fn attr(&self, name: &str) -> Option<&AttrSpec> {
        self.attrs.iter().find(|a| a.name == name)
    }

    pub fn block(&self, kind: &str) -> Option<&'static BlockSpec> {
        self.blocks.iter().copied().find(|b| b.kind == kind)
    }

    /// Every attribute name it accepts, meta-arguments included.
    pub fn attr_names(&self) -> Vec<&'static str> {
        let mut names: Vec<&'static str> = self.attrs.iter().map(|a| a.name).collect();
        if self.for_each {
            names.push("for_each");
        }
        names
    }
}

pub const ACKNOWLEDGE: BlockSpec = BlockSpec {
    kind: "acknowledge",
    labels: &["rule"],
    attrs: &[required("reason", AttrType::String)],
    blocks: &[],
    for_each: false,
};

pub const VALIDATION: BlockSpec = BlockSpec {
    kind: "validation",
    labels: &[],
    attrs: &[
        required("condition", AttrType::Deferred),
        required("error_message", AttrType::String),
    ],
    blocks: &[],
    for_each: false,
};

pub const STATE: BlockSpec = BlockSpec {
    kind: "state",
    labels: &["backend"],
    attrs: &[
        attr("path", AttrType::String),
        attr("storage_account_name", AttrType::String),
        attr("container_name", AttrType::String),
        attr("key", AttrType::String),
        attr("endpoint", AttrType::String),
        secret("access_key"),
    ],
    blocks: &[],
    for_each: false,
};

/// The state backends and the attributes each takes (a subset of [`STATE`]'s).
pub const STATE_BACKENDS: &[(&str, &[&str], &[&str])] = &[
    ("local", &["path"], &[]),
    (
        "azurerm",
        &[
            "storage_account_name",
            "container_name",
            "key",
            "endpoint",
            "access_key",
        ],
        &["storage_account_name", "container_name", "key"],
    ),
];

pub const FAILBACK: BlockSpec = BlockSpec {
    kind: "failback",
    labels: &[],
    attrs: &[
        attr("parallelism", AttrType::Count),
        attr("connectivity", AttrType::Enum(&["vpn", "expressroute"])),
        attr("agent_wait_timeout_minutes", AttrType::Count),
    ],
    blocks: &[&STATE],
    for_each: false,
};

pub const VCENTER: BlockSpec = BlockSpec {
    kind: "vcenter",
    labels: &["name"],
    attrs: &[
        attr("url", AttrType::String),
        attr("username", AttrType::String),
        secret("password"),
        attr("thumbprint", AttrType::String),
        attr("ca_file", AttrType::String),
        attr("insecure", AttrType::Bool),
    ],
    blocks: &[],
    for_each: true,
};

pub const VAULT: BlockSpec = BlockSpec {
    kind: "vault",
    labels: &["name"],
    attrs: &[
        required("subscription_id", AttrType::String),
        required("resource_group", AttrType::String),
        required("name", AttrType::String),
        attr("endpoint", AttrType::String),
        secret("access_token"),
    ],
    blocks: &[],
    for_each: true,
};

pub const CONFIGURATION_SERVER: BlockSpec = BlockSpec {
    kind: "configuration_server",
    labels: &["name"],
    attrs: &[
        required("vault", AttrType::Ref("vault")),
        required("fabric", AttrType::String),
        required("vcenter", AttrType::Ref("vcenter")),
    ],
    blocks: &[&ACKNOWLEDGE],
    for_each: true,
};

pub const PROCESS_SERVER: BlockSpec = BlockSpec {
    kind: "process_server",
    labels: &["name"],
    attrs: &[
        required(
            "configuration_server",
            AttrType::Ref("configuration_server"),
        ),
        required("name", AttrType::String),
        required("location", AttrType::Enum(&["azure", "onprem"])),
    ],
    blocks: &[&ACKNOWLEDGE],
    for_each: true,
};

pub const MASTER_TARGET: BlockSpec = BlockSpec {
    kind: "master_target",
    labels: &["name"],
    attrs: &[
        required(
            "configuration_server",
            AttrType::Ref("configuration_server"),
        ),
        required("vm", AttrType::String),
        attr("name", AttrType::String),
        required("os", AttrType::Enum(&["windows", "linux"])),
        attr("retention_volume", AttrType::String),
        attr("datastores", AttrType::StringList),
        attr("ensure_disk_enable_uuid", AttrType::Bool),
        attr("remove_snapshots", AttrType::Bool),
    ],
    blocks: &[&ACKNOWLEDGE],
    for_each: true,
};

pub const FAILBACK_POLICY: BlockSpec = BlockSpec {
    kind: "failback_policy",
    labels: &["name"],
    attrs: &[
        attr("name", AttrType::String),
        attr("rpo_threshold_minutes", AttrType::Count),
        attr("recovery_point_retention_hours", AttrType::Count),
        attr("app_consistent_frequency_minutes", AttrType::Count),
    ],
    blocks: &[],
    for_each: true,
};

pub const REPROTECT: BlockSpec = BlockSpec {
    kind: "reprotect",
    labels: &["name"],
    attrs: &[
        required("protected_item", AttrType::String),
        attr("vm", AttrType::String),
        required("process_server", AttrType::Ref("process_server")),
        required("master_target", AttrType::Ref("master_target")),
        attr("datastore", AttrType::String),
        attr("retention_volume", AttrType::String),
        attr("policy", AttrType::Ref("failback_policy")),
        attr("run_as_account", AttrType::String),
        attr("remove_snapshots", AttrType::Bool),
    ],
    blocks: &[&ACKNOWLEDGE],
    for_each: true,
};

pub const RECOVERY_PLAN: BlockSpec = BlockSpec {
    kind: "recovery_plan",
    labels: &["name"],
    attrs: &[
        required("name", AttrType::String),
        required("members", AttrType::RefList("reprotect")),
        attr("master_target", AttrType::Ref("master_target")),
        attr("process_server", AttrType::Ref("process_server")),
        attr("datastore", AttrType::String),
    ],
    blocks: &[&ACKNOWLEDGE],
    for_each: true,
};

pub const VARIABLE: BlockSpec = BlockSpec {
    kind: "variable",
    labels: &["name"],
    attrs: &[
        attr("type", AttrType::TypeExpr),
        attr("default", AttrType::Any),
        attr("description", AttrType::String),
        attr("sensitive", AttrType::Bool),
    ],
    blocks: &[&VALIDATION],
    for_each: false,
};

pub const OUTPUT: BlockSpec = BlockSpec {
    kind: "output",
    labels: &["name"],
    attrs: &[
        required("value", AttrType::Any),
        attr("description", AttrType::String),
        attr("sensitive", AttrType::Bool),
    ],
    blocks: &[],
    for_each: false,
};

/// `locals { ... }`: any attribute names; checked separately.
pub const LOCALS: BlockSpec = BlockSpec {
    kind: "locals",
    labels: &[],
    attrs: &[],
    blocks: &[],
    for_each: false,
};

/// The blocks that declare objects of the failback topology (graph nodes).
pub const OBJECT_BLOCKS: &[&BlockSpec] = &[
    &VCENTER,
    &VAULT,
    &CONFIGURATION_SERVER,
    &PROCESS_SERVER,
    &MASTER_TARGET,
    &FAILBACK_POLICY,
    &REPROTECT,
    &RECOVERY_PLAN,
];

/// Every top-level block type.
pub const TOP_LEVEL_BLOCKS: &[&BlockSpec] = &[
    &FAILBACK,
    &VCENTER,
    &VAULT,
    &CONFIGURATION_SERVER,
    &PROCESS_SERVER,
    &MASTER_TARGET,
    &FAILBACK_POLICY,
    &REPROTECT,
    &RECOVERY_PLAN,
    &VARIABLE,
    &LOCALS,
    &OUTPUT,
];

pub fn top_level(kind: &str) -> Option<&'static BlockSpec> {
    TOP_LEVEL_BLOCKS.iter().copied().find(|b| b.kind == kind)
}

pub fn object_block(kind: &str) -> Option<&'static BlockSpec> {
    OBJECT_BLOCKS.iter().copied().find(|b| b.kind == kind)
}

/// The rule ids an `acknowledge` block may name: FB101 to FB130 (RULES.md).
pub fn is_known_rule(id: &str) -> bool {
    id.strip_prefix("FB")
        .and_then(|n| n.parse::<u32>().ok())
        .is_some_and(|n| (101..=130).contains(&n))
        && id.len() == 5
}

/// The known name closest to `unknown`, when one is close enough to be a likely typo.
pub fn did_you_mean<'a>(
    unknown: &str,
    known: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    known
        .into_iter()
        .map(|candidate| (strsim::jaro_winkler(unknown, candidate), candidate))
        .filter(|(score, _)| *score > 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, candidate)| candidate)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_close_names_only() {
        assert_eq!(
            did_you_mean("retention_volum", MASTER_TARGET.attr_names()),
            Some("retention_volume")
        );
        assert_eq!(did_you_mean("zzz", MASTER_TARGET.attr_names()), None);
    }

    #[test]
    fn rule_ids_are_fb101_to_fb130() {
        assert!(is_known_rule("FB101"));
        assert!(is_known_rule("FB130"));
        assert!(!is_known_rule("FB131"));
        assert!(!is_known_rule("FB0101"));
        assert!(!is_known_rule("fb118"));
    }
}
