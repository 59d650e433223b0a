//! Checks that the vault half of an estate hangs together before it is served: names
//! are unique, references resolve, rates and durations make sense. Serde has already
//! checked each field's type; this checks what spans fields.

use std::collections::BTreeSet;

use crate::estate::VaultEstate;

/// Where an estate is inconsistent and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EstateProblem {
    /// The JSON path of the offending value (`vault.protected_items[3].fabric`).
    pub json_path: String,
    /// What is wrong and what was expected.
    pub message: String,
}

fn problem(json_path: String, message: String) -> Result<(), EstateProblem> {
    Err(EstateProblem { json_path, message })
}

/// Rejects duplicate names (ARM names are case-insensitive).
fn unique<'a>(
    names: impl Iterator<Item = &'a str>,
    what: &str,
    path: impl Fn(usize) -> String,
) -> Result<(), EstateProblem> {
    let mut seen = BTreeSet::new();
    for (index, name) in names.enumerate() {
        if name.trim().is_empty() {
            return problem(path(index), format!("the {what} name is empty"));
        }
        if !seen.insert(name.to_ascii_lowercase()) {
            return problem(
                path(index),
                format!("{what} '{name}' appears twice (names are compared case-insensitively)"),
            );
        }
    }
    Ok(())
}

fn rate(value: f64, path: &str) -> Result<(), EstateProblem> {
    if !(0.0..=1.0).contains(&value) {
        return problem(
            path.to_owned(),
            format!("expected a rate between 0 and 1, got {value}"),
        );
    }
    Ok(())
}

pub fn check_vault(vault: &VaultEstate) -> Result<(), EstateProblem> {
    unique(
        vault
            .configuration_servers
            .iter()
            .map(|cs| cs.fabric.as_str()),
        "configuration server fabric",
        |i| format!("vault.configuration_servers[{i}].fabric"),
    )?;
    for (c, cs) in vault.configuration_servers.iter().enumerate() {
        unique(
            cs.process_servers.iter().map(|ps| ps.id.as_str()),
            "process server id",
            |i| format!("vault.configuration_servers[{c}].process_servers[{i}].id"),
        )?;
        unique(
            cs.master_targets.iter().map(|mt| mt.id.as_str()),
            "master target id",
            |i| format!("vault.configuration_servers[{c}].master_targets[{i}].id"),
        )?;
    }
    unique(
        vault.policies.iter().map(|p| p.name.as_str()),
        "policy",
        |i| format!("vault.policies[{i}].name"),
    )?;
    for (i, policy) in vault.policies.iter().enumerate() {
        if !["InMage", "InMageAzureV2"]
            .iter()
            .any(|t| t.eq_ignore_ascii_case(&policy.instance_type))
        {
            return problem(
                format!("vault.policies[{i}].instance_type"),
                format!(
                    "expected `InMage` (failback) or `InMageAzureV2` (forward), got `{}`",
                    policy.instance_type
                ),
            );
        }
    }
    unique(
        vault.protected_items.iter().map(|p| p.name.as_str()),
        "protected item",
        |i| format!("vault.protected_items[{i}].name"),
    )?;
    for (i, item) in vault.protected_items.iter().enumerate() {
        let Some(cs) = vault
            .configuration_servers
            .iter()
            .find(|cs| cs.fabric.eq_ignore_ascii_case(&item.fabric))
        else {
            return problem(
                format!("vault.protected_items[{i}].fabric"),
                format!(
                    "expected the fabric of a configuration server, got `{}` (known: {})",
                    item.fabric,
                    known(
                        vault
                            .configuration_servers
                            .iter()
                            .map(|cs| cs.fabric.as_str())
                    )
                ),
            );
        };
        if let Some(reverse) = &item.reverse {
            check_reverse(
                vault,
                cs,
                reverse,
                &format!("vault.protected_items[{i}].reverse"),
            )?;
        }
    }
    unique(
        vault.recovery_plans.iter().map(|p| p.name.as_str()),
        "recovery plan",
        |i| format!("vault.recovery_plans[{i}].name"),
    )?;
    let is_item = |name: &str| {
        vault
            .protected_items
            .iter()
            .any(|p| p.name.eq_ignore_ascii_case(name))
    };
    for (p, plan) in vault.recovery_plans.iter().enumerate() {
        for (m, member) in plan.members.iter().enumerate() {
            if !is_item(member) {
                return problem(
                    format!("vault.recovery_plans[{p}].members[{m}]"),
                    format!("expected the name of a protected item, got `{member}`"),
                );
            }
        }
    }
    let behaviour = &vault.behaviour;
    if !(behaviour.time_scale.is_finite() && behaviour.time_scale > 0.0) {
        return problem(
            "vault.behaviour.time_scale".to_owned(),
            format!("expected a positive factor, got {}", behaviour.time_scale),
        );
    }
    for (value, field) in [
        (behaviour.reprotect_job_s, "reprotect_job_s"),
        (behaviour.recovery_plan_job_s, "recovery_plan_job_s"),
    ] {
        if !(value.is_finite() && value >= 0.0) {
            return problem(
                format!("vault.behaviour.{field}"),
                format!("expected a duration in seconds, 0 or more, got {value}"),
            );
        }
    }
    let faults = &behaviour.faults;
    rate(faults.http_429_rate, "vault.behaviour.faults.http_429_rate")?;
    rate(faults.http_5xx_rate, "vault.behaviour.faults.http_5xx_rate")?;
    rate(faults.drop_rate, "vault.behaviour.faults.drop_rate")?;
    if faults.http_429_rate + faults.http_5xx_rate + faults.drop_rate > 1.0 {
        return problem(
            "vault.behaviour.faults".to_owned(),
            "http_429_rate + http_5xx_rate + drop_rate must not exceed 1".to_owned(),
        );
    }
    for (i, name) in faults.failing_jobs.iter().enumerate() {
        let is_plan = vault
            .recovery_plans
            .iter()
            .any(|p| p.name.eq_ignore_ascii_case(name));
        if !is_item(name) && !is_plan {
            return problem(
                format!("vault.behaviour.faults.failing_jobs[{i}]"),
                format!("expected the name of a protected item or recovery plan, got `{name}`"),
            );
        }
    }
    Ok(())
}

/// An already reprotected item must name things its configuration server has.
fn check_reverse(
    vault: &VaultEstate,
    cs: &crate::estate::ConfigurationServer,
    reverse: &crate::estate::ReverseReplication,
    path: &str,
) -> Result<(), EstateProblem> {
    let Some(mt) = cs
        .master_targets
        .iter()
        .find(|mt| mt.id.eq_ignore_ascii_case(&reverse.master_target))
    else {
        return problem(
            format!("{path}.master_target"),
            format!(
                "expected a master target id of configuration server `{}`, got `{}` (known: {})",
                cs.fabric,
                reverse.master_target,
                known(cs.master_targets.iter().map(|m| m.id.as_str()))
            ),
        );
    };
    if !cs
        .process_servers
        .iter()
        .any(|ps| ps.id.eq_ignore_ascii_case(&reverse.process_server))
    {
        return problem(
            format!("{path}.process_server"),
            format!(
                "expected a process server id of configuration server `{}`, got `{}` (known: {})",
                cs.fabric,
                reverse.process_server,
                known(cs.process_servers.iter().map(|p| p.id.as_str()))
            ),
        );
    }
    if !mt
        .retention_volumes
        .iter()
        .any(|v| v.name.eq_ignore_ascii_case(&reverse.retention_drive))
    {
        return problem(
            format!("{path}.retention_drive"),
            format!(
                "expected a retention volume of master target `{}`, got `{}` (known: {})",
                mt.id,
                reverse.retention_drive,
                known(mt.retention_volumes.iter().map(|v| v.name.as_str()))
            ),
        );
    }
    if let Some(datastore) = &reverse.datastore
        && !mt.datastores.iter().any(|d| d == datastore)
    {
        return problem(
            format!("{path}.datastore"),
            format!(
                "expected a datastore master target `{}` sees, got `{datastore}` (known: {})",
                mt.id,
                known(mt.datastores.iter().map(String::as_str))
            ),
        );
    }
    let policy = vault.policies.iter().find(|p| match &reverse.policy {
        Some(name) => p.name.eq_ignore_ascii_case(name),
        None => p.instance_type.eq_ignore_ascii_case("InMage"),
    });
    match policy {
        Some(p) if p.instance_type.eq_ignore_ascii_case("InMage") => Ok(()),
        Some(p) => problem(
            format!("{path}.policy"),
            format!(
                "expected an InMage (failback) policy, `{}` is {}",
                p.name, p.instance_type
            ),
        ),
        None => problem(
            format!("{path}.policy"),
            "expected the name of an InMage (failback) policy; the vault has none".to_owned(),
        ),
    }
}

fn known<'a>(names: impl Iterator<Item = &'a str>) -> String {
    let names: Vec<&str> = names.collect();
    if names.is_empty() {
        "none".to_owned()
    } else {
        names.join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::estate::Estate;

    fn vault(extra: &str) -> VaultEstate {
        let text = format!(
            r#"{{"vcenter": {{"datacenter": "DC"}},
                "vault": {{"subscription_id": "s", "resource_group": "r", "name": "v",
                  "configuration_servers": [{{"fabric": "cs01", "friendly_name": "cs01"}}],
                  {extra}}}}}"#
        );
        match Estate::from_json(&text) {
            Ok(estate) => estate.vault,
            Err((path, message)) => panic!("{path}: {message}"),
        }
    }

    fn item(name: &str, fabric: &str) -> String {
        format!(
            r#"{{"name": "{name}", "friendly_name": "{name}", "fabric": "{fabric}", "os_type": "Linux", "protection_state": "Protected"}}"#
        )
    }

    #[test]
    fn consistent_vault_passes() {
        let v = vault(&format!(r#""protected_items": [{}]"#, item("a", "CS01")));
        assert_eq!(check_vault(&v), Ok(()));
    }

    #[test]
    fn unknown_fabric_is_named_with_its_path() {
        let v = vault(&format!(r#""protected_items": [{}]"#, item("a", "cs09")));
        let err = check_vault(&v).err().unwrap_or_else(|| panic!("accepted"));
        assert_eq!(err.json_path, "vault.protected_items[0].fabric");
        assert!(
            err.message.contains("got `cs09` (known: cs01)"),
            "{}",
            err.message
        );
    }

    #[test]
    fn duplicate_items_are_refused() {
        let v = vault(&format!(
            r#""protected_items": [{}, {}]"#,
            item("a", "cs01"),
            item("A", "cs01")
        ));
        let err = check_vault(&v).err().unwrap_or_else(|| panic!("accepted"));
        assert_eq!(err.json_path, "vault.protected_items[1].name");
    }

    #[test]
    fn plan_members_must_be_items() {
        let v = vault(r#""recovery_plans": [{"name": "p", "members": ["ghost"]}]"#);
        let err = check_vault(&v).err().unwrap_or_else(|| panic!("accepted"));
        assert_eq!(err.json_path, "vault.recovery_plans[0].members[0]");
    }

    #[test]
    fn rates_and_scale_are_checked() {
        let v = vault(r#""behaviour": {"faults": {"http_429_rate": 1.5}}"#);
        let err = check_vault(&v).err().unwrap_or_else(|| panic!("accepted"));
        assert_eq!(err.json_path, "vault.behaviour.faults.http_429_rate");
        let v = vault(r#""behaviour": {"time_scale": 0}"#);
        let err = check_vault(&v).err().unwrap_or_else(|| panic!("accepted"));
        assert_eq!(err.json_path, "vault.behaviour.time_scale");
        let v = vault(r#""behaviour": {"faults": {"failing_jobs": ["nobody"]}}"#);
        let err = check_vault(&v).err().unwrap_or_else(|| panic!("accepted"));
        assert_eq!(err.json_path, "vault.behaviour.faults.failing_jobs[0]");
    }

    #[test]
    fn reverse_items_must_name_what_their_server_has() {
        let text = format!(
            r#""protected_items": [{}]"#,
            item("a", "cs01").replace(
                r#""protection_state": "Protected""#,
                r#""protection_state": "Protected", "reverse": {"master_target": "mt9", "process_server": "ps", "retention_drive": "R:"}"#
            )
        );
        let err = check_vault(&vault(&text))
            .err()
            .unwrap_or_else(|| panic!("accepted"));
        assert_eq!(
            err.json_path,
            "vault.protected_items[0].reverse.master_target"
        );
        assert!(
            err.message.contains("got `mt9` (known: none)"),
            "{}",
            err.message
        );
    }

    #[test]
    fn policy_types_are_the_two_vmware_ones() {
        let v = vault(
            r#""policies": [{"name": "p", "instance_type": "A2A", "rpo_threshold_minutes": 1, "recovery_point_history_minutes": 1, "app_consistent_frequency_minutes": 1}]"#,
        );
        let err = check_vault(&v).err().unwrap_or_else(|| panic!("accepted"));
        assert_eq!(err.json_path, "vault.policies[0].instance_type");
    }
}
