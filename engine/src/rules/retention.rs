//! Rules about the master target's retention volume: that it is usable (FB109) and has
//! room (FB130).
//!
//! Several reprotects usually share one master target's volume; each volume is judged
//! once, on the block that named it: the reprotect when it overrides
//! `retention_volume`, else the master target.

use std::collections::BTreeSet;

use super::catalogue::{FB109, FB130};
use super::wording::embedded;
use super::{Context, Finding, Subject, same};
use crate::config::{Address, Span};
use crate::observe::vault::{HealthError, MasterTarget, RetentionVolume};
use crate::resolve::{Link, ResolvedReprotect, normalize_volume};

/// One retention volume as some block named it.
struct NamedVolume<'a> {
    address: &'a Address,
    span: &'a Span,
    name: &'a str,
    volume: Link<'a, RetentionVolume>,
    /// The master target as the fabric reports it, whose validation covers the volume.
    server: Option<&'a MasterTarget>,
}

/// Each distinct (naming block, volume) once, in declaration order.
fn named_volumes<'a>(context: &'a Context<'_>) -> Vec<NamedVolume<'a>> {
    let mut seen = BTreeSet::new();
    let mut volumes = Vec::new();
    for r in &context.resolution.reprotects {
        let Ok(name) = r.retention_volume_name else {
            continue;
        };
        let (address, span) = naming_block(r);
        if seen.insert((address.clone(), normalize_volume(name))) {
            volumes.push(NamedVolume {
                address,
                span,
                name,
                volume: r.retention_volume.clone(),
                server: r.fabric_master_target.as_ref().ok().copied(),
            });
        }
    }
    volumes
}

fn naming_block<'a>(r: &ResolvedReprotect<'a>) -> (&'a Address, &'a Span) {
    match (&r.config.retention_volume, &r.master_target) {
        (None, Ok(mt)) => (&mt.address, mt.declared.span_of("retention_volume")),
        _ => (
            &r.config.address,
            r.config.declared.span_of("retention_volume"),
        ),
    }
}

/// FB109: a separate, formatted retention volume: not used for anything else, not
/// locked, not the cache/install volume, not FAT/FAT32, capacity above 0.
pub(super) fn fb109_retention_volume_usable(context: &Context<'_>, findings: &mut Vec<Finding>) {
    for named in named_volumes(context) {
        let subject = Subject::new(&FB109, named.address, named.span);
        let volume = match &named.volume {
            Ok(volume) => *volume,
            Err(missing) if missing.is_absent() => {
                findings.push(subject.violated(
                    format!(
                        "retention volume {} does not exist on the master target",
                        named.name
                    ),
                    Some(missing.reason.clone()),
                    "add a separate, formatted disk to the master target (default R: on \
                     Windows, /mnt/retention on Linux), or name an existing one in \
                     `retention_volume`",
                ));
                continue;
            }
            Err(missing) => {
                findings.push(subject.unresolved(missing));
                continue;
            }
        };
        let mut problems = Vec::new();
        let mut unknown = Vec::new();
        // ASR's RetentionVolume reports only sizes; the configuration server validates
        // the rest itself and reports what is wrong as the master target's validation
        // errors. Details a service does report are judged directly.
        let validation = retention_validation_errors(named.server, &volume.volume_name);
        let mut reported: Vec<&str> = validation
            .iter()
            .map(|error| error.message.trim())
            .collect();
        reported.dedup();
        problems.extend(reported.iter().map(|message| embedded(message)));
        let validated = named.server.is_some();
        match volume.capacity_bytes {
            Some(0) => problems.push("its capacity is 0".to_owned()),
            Some(_) => {}
            None => unknown.push("capacity"),
        }
        match volume.file_system.as_deref() {
            Some(fs) if same(fs, "FAT") || same(fs, "FAT32") => {
                problems.push(format!("it is formatted {fs}"))
            }
            Some(_) => {}
            None if validated => {}
            None => unknown.push("file system"),
        }
        match volume.is_cache_volume {
            Some(true) => {
                problems.push("it is the master target's cache/install volume".to_owned())
            }
            Some(false) => {}
            None if validated => {}
            None => unknown.push("whether it is the cache volume"),
        }
        match volume.locked {
            Some(true) => problems.push("it is locked".to_owned()),
            Some(false) => {}
            None if validated => {}
            None => unknown.push("whether it is locked"),
        }
        if let Some(use_) = volume.in_use_for.as_deref().filter(|use_| !use_.is_empty()) {
            problems.push(format!("it is also used as {use_}"));
        }
        if !problems.is_empty() {
            // The message embeds what the configuration server said as clauses of our
            // sentence; `observed` shows it verbatim.
            let observed: Vec<String> = reported
                .iter()
                .map(|message| message.to_string())
                .chain(problems.iter().skip(reported.len()).cloned())
                .collect();
            findings.push(subject.violated(
                format!(
                    "retention volume {} cannot be used: {}",
                    volume.volume_name,
                    problems.join("; ")
                ),
                Some(observed.join("; ")),
                "give the master target a separate, formatted (not FAT/FAT32) disk used for \
                 nothing else, and name it in `retention_volume`",
            ));
        } else if !unknown.is_empty() {
            findings.push(subject.unknown(format!(
                "the configuration server does not report the {} of retention volume {}",
                unknown.join(", "),
                volume.volume_name
            )));
        }
    }
}

/// The master target's validation and health errors about one retention volume:
/// codes starting `RetentionVolume` whose message names the volume.
fn retention_validation_errors<'a>(
    server: Option<&'a MasterTarget>,
    volume_name: &str,
) -> Vec<&'a HealthError> {
    let Some(server) = server else {
        return Vec::new();
    };
    let needle = normalize_volume(volume_name);
    server
        .validation_errors
        .iter()
        .chain(&server.health_errors)
        .filter(|error| {
            error
                .code
                .to_ascii_lowercase()
                .starts_with("retentionvolume")
                && error.message.to_ascii_lowercase().contains(&needle)
        })
        .collect()
}

/// FB130: the retention volume needs free space above its threshold, or replication
/// pauses.
pub(super) fn fb130_retention_free_space(context: &Context<'_>, findings: &mut Vec<Finding>) {
    for named in named_volumes(context) {
        let subject = Subject::new(&FB130, named.address, named.span);
        let volume = match &named.volume {
            Ok(volume) => *volume,
            // A missing volume is FB109's finding.
            Err(missing) if missing.is_absent() => continue,
            Err(missing) => {
                findings.push(subject.unresolved(missing));
                continue;
            }
        };
        let (Some(capacity), Some(free), Some(threshold)) = (
            volume.capacity_bytes,
            volume.free_space_bytes,
            volume.threshold_percentage,
        ) else {
            findings.push(subject.unknown(format!(
                "the configuration server does not report capacity, free space and threshold \
                 of retention volume {}",
                volume.volume_name
            )));
            continue;
        };
        if capacity == 0 {
            // FB109 reports a volume without capacity.
            continue;
        }
        // ASR pauses replication once used space reaches the threshold percentage.
        let used = capacity.saturating_sub(free);
        let used_percent = used as f64 * 100.0 / capacity as f64;
        if used_percent >= f64::from(threshold) {
            findings.push(subject.violated(
                format!(
                    "retention volume {} is {used_percent:.0}% full, at or above its \
                     {threshold}% threshold; replication pauses",
                    volume.volume_name
                ),
                Some(format!(
                    "{} GiB free of {} GiB",
                    free / (1 << 30),
                    capacity / (1 << 30)
                )),
                "free space on the retention volume or extend it",
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::*;
    use crate::observe::vault::HealthError;

    #[test]
    fn fb109_holds_for_a_proper_volume() {
        assert_holds(&TestWorld::healthy(), "FB109");
    }

    #[test]
    fn fb109_is_violated_by_fat32_and_a_locked_volume() {
        let mut world = TestWorld::healthy();
        let volume = &mut world
            .fabric_master_target_mut("mt-win-01")
            .retention_volumes[0];
        volume.file_system = Some("fat32".to_owned());
        volume.locked = Some(true);
        let finding = assert_violated(&world, "FB109", "master_target.mt_win");
        assert_eq!(
            finding.observed.as_deref(),
            Some("it is formatted fat32; it is locked")
        );
    }

    #[test]
    fn fb109_is_violated_by_the_configuration_servers_validation_error() {
        let mut world = TestWorld::healthy();
        let master_target = world.fabric_master_target_mut("mt-win-01");
        let volume = &mut master_target.retention_volumes[0];
        volume.file_system = None;
        volume.locked = None;
        volume.is_cache_volume = None;
        let name = volume.volume_name.clone();
        master_target.validation_errors.push(HealthError {
            code: "RetentionVolumeLocked".to_owned(),
            message: format!(
                "The retention volume '{name}' on master target 'mt-win-01' is locked."
            ),
            ..HealthError::default()
        });
        let finding = assert_violated(&world, "FB109", "master_target.mt_win");
        assert!(
            finding
                .observed
                .as_deref()
                .is_some_and(|o| o.contains("is locked")),
            "{finding:?}"
        );
        // The vault's sentence becomes a clause of ours: no full stop, no capital.
        assert_eq!(
            finding.message,
            format!(
                "retention volume {name} cannot be used: the retention volume '{name}' on \
                 master target 'mt-win-01' is locked"
            )
        );
    }

    #[test]
    fn fb109_holds_when_the_configuration_server_validated_an_unreported_volume() {
        let mut world = TestWorld::healthy();
        let volume = &mut world
            .fabric_master_target_mut("mt-win-01")
            .retention_volumes[0];
        volume.file_system = None;
        volume.locked = None;
        volume.is_cache_volume = None;
        assert_holds(&world, "FB109");
    }

    #[test]
    fn fb109_is_violated_by_a_missing_volume_on_the_block_that_named_it() {
        let mut world = TestWorld::healthy();
        world.reprotect_mut("db01").retention_volume = Some("/mnt/ret".to_owned());
        let finding = assert_violated(&world, "FB109", "reprotect.db01");
        assert_eq!(finding.span.line, 60);
    }

    #[test]
    fn fb109_cannot_be_checked_when_the_capacity_is_not_reported() {
        let mut world = TestWorld::healthy();
        world
            .fabric_master_target_mut("mt-win-01")
            .retention_volumes[0]
            .capacity_bytes = None;
        assert_eq!(
            assert_unknown(&world, "FB109", "master_target.mt_win"),
            "the configuration server does not report the capacity of retention volume R:"
        );
    }

    #[test]
    fn fb130_holds_with_room() {
        assert_holds(&TestWorld::healthy(), "FB130");
    }

    #[test]
    fn fb130_warns_at_the_threshold() {
        let mut world = TestWorld::healthy();
        world
            .fabric_master_target_mut("mt-lnx-01")
            .retention_volumes[0]
            .free_space_bytes = Some(100 * GB);
        let finding = assert_violated(&world, "FB130", "master_target.mt_lnx");
        assert_eq!(finding.observed.as_deref(), Some("100 GiB free of 500 GiB"));
    }

    #[test]
    fn fb130_cannot_be_checked_without_free_space() {
        let mut world = TestWorld::healthy();
        world
            .fabric_master_target_mut("mt-lnx-01")
            .retention_volumes[0]
            .free_space_bytes = None;
        assert_unknown(&world, "FB130", "master_target.mt_lnx");
    }
}
