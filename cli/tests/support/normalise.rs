//! Normalising rendered plans for snapshots and comparisons: everything that changes
//! from run to run (ports, the simulated vCenter's certificate, timestamps, digests,
//! uuids such as lineages and job ids, the temporary directory, the tool's version)
//! becomes a fixed placeholder, and nothing else is touched, so that a snapshot
//! still shows every value a user reads.

#![allow(dead_code)]

use std::sync::OnceLock;

use regex::Regex;

/// `(pattern, placeholder)`, applied in this order: longer, more specific shapes
/// first, so a thumbprint is not half-eaten by the digest pattern.
const PATTERNS: &[(&str, &str)] = &[
    (r"127\.0\.0\.1:\d+", "127.0.0.1:PORT"),
    // SHA-256 (32 bytes) and SHA-1 (20 bytes) certificate thumbprints.
    (r"\b([0-9A-Fa-f]{2}:){19,31}[0-9A-Fa-f]{2}\b", "THUMBPRINT"),
    (
        r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})",
        "TIMESTAMP",
    ),
    (r"sha256:[0-9a-f]{64}\b", "sha256:DIGEST"),
    (r"\b[0-9a-f]{64}\b", "DIGEST"),
    // The Markdown head names the observed digest by its first 12 hex digits.
    (r"observed `[0-9a-f]{12}`", "observed `DIGEST`"),
    // Lineages and job ids are random; other uuids (a declared subscription, the
    // estate's container names) are the world's and stay.
    (
        r#"(?i)(lineage"?:?\s*"?|lineage `|jobs/|job[ _]?id"?:?\s*"?|\bjob )[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b"#,
        "${1}UUID",
    ),
];

fn compiled() -> &'static [(Regex, &'static str)] {
    static COMPILED: OnceLock<Vec<(Regex, &'static str)>> = OnceLock::new();
    COMPILED.get_or_init(|| {
        PATTERNS
            .iter()
            .map(|(pattern, placeholder)| {
                (
                    Regex::new(pattern).expect("the normalising patterns compile"),
                    *placeholder,
                )
            })
            .collect()
    })
}

/// `text` with every run-dependent value replaced. `dir` (the temporary
/// configuration directory, when the output may name it) becomes `DIR`.
pub fn normalise(text: &str, dir: Option<&std::path::Path>) -> String {
    let mut text = text.to_owned();
    if let Some(dir) = dir {
        text = text.replace(&dir.display().to_string(), "DIR");
    }
    let version = env!("CARGO_PKG_VERSION");
    text = text
        .replace(&format!("failback {version}"), "failback VERSION")
        .replace(
            &format!("\"failback_version\": \"{version}\""),
            "\"failback_version\": \"VERSION\"",
        )
        .replace(
            &format!("\"tool_version\": \"{version}\""),
            "\"tool_version\": \"VERSION\"",
        );
    for (pattern, placeholder) in compiled() {
        text = pattern.replace_all(&text, *placeholder).into_owned();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::normalise;

    #[test]
    fn run_dependent_values_become_placeholders() {
        let job = "/jobs/0d5a1c2e-9a51-4e0e-8a55-1f0d2c9e7a10";
        let text = format!(
            "failback {} at 2026-11-26T09:30:00.123Z on https://127.0.0.1:40123/sdk \
             AB:{}CD \"lineage\": \"4b1f0c7e-9a51-4e0e-8a55-1f0d2c9e7a10\" {job} sha256:{} \
             observed `{}`",
            env!("CARGO_PKG_VERSION"),
            "01:".repeat(30),
            "a".repeat(64),
            "0123456789ab",
        );
        assert_eq!(
            normalise(&text, None),
            "failback VERSION at TIMESTAMP on https://127.0.0.1:PORT/sdk THUMBPRINT \
             \"lineage\": \"UUID\" /jobs/UUID sha256:DIGEST observed `DIGEST`"
        );
    }

    #[test]
    fn ordinary_values_are_left_alone() {
        let text = "vmfs-gold-01 mt-lnx-01 /mnt/retention 15 minutes \
                    /Subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups";
        assert_eq!(normalise(text, None), text);
    }
}
