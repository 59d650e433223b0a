//! The catalogue of rules: each rule's id, severity and what it checks, in one table,
//! so that findings, documentation and `--help`-like listings agree.
//!
//! Ids are for good: users grep for them, acknowledge them and read them in CI logs.

use super::Severity;

/// One rule of `RULES.md`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rule {
    /// `FB107`.
    pub id: &'static str,
    pub severity: Severity,
    /// What must hold, as a clause: "the master target has disk.EnableUUID = TRUE".
    pub checks: &'static str,
    /// The attribute that opts in to a planned fix, when the rule is fixable.
    pub fix_attribute: Option<&'static str>,
}

const fn rule(id: &'static str, severity: Severity, checks: &'static str) -> Rule {
    Rule {
        id,
        severity,
        checks,
        fix_attribute: None,
    }
}

const fn fixable(
    id: &'static str,
    severity: Severity,
    checks: &'static str,
    fix_attribute: &'static str,
) -> Rule {
    Rule {
        id,
        severity,
        checks,
        fix_attribute: Some(fix_attribute),
    }
}

use Severity::{Advice, Error, Warning};

pub const FB101: Rule = rule(
    "FB101",
    Error,
    "the vCenter account may discover VMs and datastores",
);
pub const FB102: Rule = fixable(
    "FB102",
    Error,
    "the on-premises VM has no snapshots",
    "remove_snapshots",
);
pub const FB103: Rule = rule(
    "FB103",
    Warning,
    "the process server sits where the connectivity needs it (in Azure when only a \
     site-to-site VPN reaches on-premises)",
);
pub const FB104: Rule = rule(
    "FB104",
    Error,
    "the process server is connected to the configuration server",
);
pub const FB105: Rule = rule(
    "FB105",
    Error,
    "the master target runs the same OS family as the VM",
);
pub const FB106: Rule = rule("FB106", Error, "the configuration server knows the VM");
pub const FB107: Rule = fixable(
    "FB107",
    Error,
    "the master target VM has disk.EnableUUID = TRUE",
    "ensure_disk_enable_uuid",
);
pub const FB108: Rule = rule(
    "FB108",
    Warning,
    "storage DRS cannot storage-vMotion the master target",
);
pub const FB109: Rule = rule(
    "FB109",
    Error,
    "the master target has a usable retention volume",
);
pub const FB110: Rule = rule(
    "FB110",
    Error,
    "the failed-over VM's agent is connected to the configuration server",
);
pub const FB111: Rule = rule(
    "FB111",
    Error,
    "the VM's datastores are mounted read/write on the master target's host",
);
pub const FB112: Rule = rule(
    "FB112",
    Advice,
    "the on-premises VM still exists (else reprotect creates it: full resync)",
);
pub const FB113: Rule = rule("FB113", Error, "VMware Tools run on the master target");
pub const FB114: Rule = rule(
    "FB114",
    Error,
    "the datastore is a VMFS or vSAN datastore of the master target's host",
);
pub const FB115: Rule = fixable(
    "FB115",
    Error,
    "the master target VM has no snapshots",
    "remove_snapshots",
);
pub const FB116: Rule = rule(
    "FB116",
    Error,
    "the master target uses an LSI Logic SCSI controller",
);
pub const FB117: Rule = rule(
    "FB117",
    Advice,
    "the failed-over VM's agent has registered with the configuration server",
);
pub const FB118: Rule = rule("FB118", Error, "the reprotect names a datastore");
pub const FB119: Rule = rule(
    "FB119",
    Warning,
    "the declared failback policy matches the vault's",
);
pub const FB120: Rule = rule(
    "FB120",
    Error,
    "a replication group is reprotected whole, through one recovery plan",
);
pub const FB121: Rule = rule(
    "FB121",
    Error,
    "a replication group or recovery plan uses one master target",
);
pub const FB122: Rule = rule(
    "FB122",
    Error,
    "the VM shares no disk or BIOS UUID with the master target",
);
pub const FB123: Rule = rule(
    "FB123",
    Advice,
    "the VM's static IP address survives failback",
);
pub const FB124: Rule = rule(
    "FB124",
    Error,
    "the master target's host has a licence that allows failback",
);
pub const FB125: Rule = rule(
    "FB125",
    Error,
    "the configuration server has discovered the vCenter and the master target",
);
pub const FB126: Rule = rule(
    "FB126",
    Error,
    "the machine is not Windows Server 2008 R2 SP1 protected as a physical machine",
);
pub const FB127: Rule = rule("FB127", Error, "the master target serves at most 60 disks");
pub const FB128: Rule = rule("FB128", Warning, "the on-premises VM is powered off");
pub const FB129: Rule = rule(
    "FB129",
    Error,
    "the protected item is failed over, committed and ready for reprotect",
);
pub const FB130: Rule = rule(
    "FB130",
    Warning,
    "the retention volume has free space above its threshold",
);

/// Every rule, in id order.
pub const ALL: [&Rule; 30] = [
    &FB101, &FB102, &FB103, &FB104, &FB105, &FB106, &FB107, &FB108, &FB109, &FB110, &FB111, &FB112,
    &FB113, &FB114, &FB115, &FB116, &FB117, &FB118, &FB119, &FB120, &FB121, &FB122, &FB123, &FB124,
    &FB125, &FB126, &FB127, &FB128, &FB129, &FB130,
];

/// The rule with this id (case-insensitive), for validating `acknowledge` blocks.
pub fn find(id: &str) -> Option<&'static Rule> {
    ALL.iter()
        .copied()
        .find(|rule| rule.id.eq_ignore_ascii_case(id))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_and_in_order() {
        for (index, rule) in ALL.iter().enumerate() {
            assert_eq!(rule.id, format!("FB{}", 101 + index));
        }
        assert_eq!(find("fb107"), Some(&FB107));
        assert_eq!(find("FB199"), None);
    }
}
