//! How the rules put numbers, API enum values and texts quoted from vCenter or the vault
//! into their sentences, so that a finding reads like a colleague's note rather than a
//! dump of the API: "1 snapshot", "powered on", "mounted read-only".
//!
//! Only messages and help use these; the `observed` part of a finding keeps the raw
//! value, so that a user can still search vCenter or the vault for it.

/// `1 snapshot`, `3 snapshots`: the count and the noun in the number it needs (nouns
/// whose plural is the singular plus `s`).
pub fn counted(count: usize, singular: &str) -> String {
    if count == 1 {
        format!("1 {singular}")
    } else {
        format!("{count} {singular}s")
    }
}

/// A VM's `runtime.powerState` as vSphere Client words it; `None` for a value vSphere
/// does not define.
pub(crate) fn power_state(raw: &str) -> Option<&'static str> {
    const STATES: [(&str, &str); 3] = [
        ("poweredOn", "powered on"),
        ("poweredOff", "powered off"),
        ("suspended", "suspended"),
    ];
    lookup(&STATES, raw)
}

/// A SCSI controller device type as vSphere Client names it in "Edit Settings";
/// `None` for a type failback does not know.
pub(crate) fn scsi_controller(raw: &str) -> Option<&'static str> {
    const CONTROLLERS: [(&str, &str); 4] = [
        ("VirtualLsiLogicController", "LSI Logic Parallel"),
        ("VirtualLsiLogicSASController", "LSI Logic SAS"),
        ("ParaVirtualSCSIController", "VMware Paravirtual"),
        ("VirtualBusLogicController", "BusLogic Parallel"),
    ];
    lookup(&CONTROLLERS, raw)
}

/// A datastore mount's `accessMode` in words; `None` for a value vSphere does not define.
pub(crate) fn access_mode(raw: &str) -> Option<&'static str> {
    const MODES: [(&str, &str); 2] = [("readWrite", "read/write"), ("readOnly", "read-only")];
    lookup(&MODES, raw)
}

fn lookup(table: &[(&str, &'static str)], raw: &str) -> Option<&'static str> {
    table
        .iter()
        .find(|(value, _)| super::same(value, raw))
        .map(|(_, words)| *words)
}

/// A sentence quoted from vCenter or the vault (a health or validation error), made fit
/// to stand inside one of ours: without its closing full stop and surrounding space,
/// and with a capital that only starts a sentence lowered ("The volume …" → "the
/// volume …"; "RPO …" and "ASR …" keep theirs).
pub(crate) fn embedded(text: &str) -> String {
    let text = without_full_stop(text);
    let mut chars = text.chars();
    match (chars.next(), chars.next()) {
        (Some(first), Some(second)) if first.is_uppercase() && second.is_lowercase() => {
            first.to_lowercase().chain(text.chars().skip(1)).collect()
        }
        _ => text.to_owned(),
    }
}

/// A text quoted from vCenter or the vault, verbatim but for its closing full stop and
/// surrounding space, for a list joined by `; ` ("78080: No heartbeat; 78081: …").
pub(crate) fn without_full_stop(text: &str) -> &str {
    text.trim().trim_end_matches('.').trim_end()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_agree_with_their_noun() {
        assert_eq!(counted(1, "snapshot"), "1 snapshot");
        assert_eq!(counted(0, "snapshot"), "0 snapshots");
        assert_eq!(counted(3, "snapshot"), "3 snapshots");
    }

    #[test]
    fn vsphere_values_become_words_and_unknown_ones_stay_unknown() {
        assert_eq!(power_state("poweredOn"), Some("powered on"));
        assert_eq!(power_state("POWEREDOFF"), Some("powered off"));
        assert_eq!(power_state("suspended"), Some("suspended"));
        assert_eq!(power_state("hibernating"), None);
        assert_eq!(
            scsi_controller("ParaVirtualSCSIController"),
            Some("VMware Paravirtual")
        );
        assert_eq!(scsi_controller("VirtualNVMEController"), None);
        assert_eq!(access_mode("readOnly"), Some("read-only"));
        assert_eq!(access_mode("readWrite"), Some("read/write"));
    }

    #[test]
    fn a_quoted_sentence_fits_inside_ours() {
        assert_eq!(
            embedded(" The retention volume 'R:' is formatted FAT32. "),
            "the retention volume 'R:' is formatted FAT32"
        );
        assert_eq!(embedded("RPO exceeded..."), "RPO exceeded");
        assert_eq!(embedded("ASR cannot reach it"), "ASR cannot reach it");
        assert_eq!(embedded("heartbeat lost"), "heartbeat lost");
        assert_eq!(embedded("."), "");
        assert_eq!(without_full_stop(" No heartbeat. "), "No heartbeat");
        assert_eq!(embedded("Écrit."), "écrit");
    }
}
