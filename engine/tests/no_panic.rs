//! Property test: no input makes the loader panic. Mutations of the examples and of
//! the invalid cases (byte flips, truncation, splicing tokens from one file into
//! another) are fed to `config::load_sources`; whatever comes back is fine as long as
//! it comes back.

use std::path::{Path, PathBuf};

use failback_engine::config::{VariableInputs, load_sources};
use failback_engine::graph::Graph;
use proptest::prelude::*;

fn corpus() -> Vec<String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut dirs: Vec<PathBuf> = Vec::new();
    for parent in ["examples", "testdata/config/invalid"] {
        if let Ok(entries) = std::fs::read_dir(root.join(parent)) {
            dirs.extend(entries.filter_map(Result::ok).map(|e| e.path()));
        }
    }
    dirs.sort();
    let mut texts = Vec::new();
    for dir in dirs {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        let mut files: Vec<PathBuf> = entries
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|e| e == "hcl"))
            .collect();
        files.sort();
        for file in files {
            if let Ok(text) = std::fs::read_to_string(file) {
                texts.push(text);
            }
        }
    }
    assert!(
        texts.len() >= 30,
        "the corpus holds the examples and invalid cases"
    );
    texts
}

/// The pieces HCL is made of, to splice into the middle of a file.
const TOKENS: &[&str] = &[
    "{",
    "}",
    "[",
    "]",
    "(",
    ")",
    "\"",
    "${",
    "%{",
    "=",
    ",",
    ".",
    "*",
    "?",
    ":",
    "\n",
    "for_each",
    "each.key",
    "each.value",
    "var.",
    "local.",
    "master_target.",
    "reprotect.app[",
    "<<EOT\n",
    "EOT\n",
    "null",
    "true",
    "-1",
    "1e309",
    "99999999999999999999",
    "for x in",
    "upper(",
    "length(",
    "merge(",
    "format(\"%",
    "lookup(",
    "...",
    "!",
    "==",
    "&&",
    "#",
    "//",
    "/*",
    "é",
    "\u{0}",
    "acknowledge \"FB1",
    "locals {",
    "variable \"v\" {",
    "validation {",
];

#[derive(Debug, Clone)]
enum Mutation {
    FlipByte {
        at: usize,
        to: u8,
    },
    Truncate {
        at: usize,
    },
    Splice {
        at: usize,
        token: usize,
    },
    CrossSplice {
        at: usize,
        donor: usize,
        from: usize,
        len: usize,
    },
    Delete {
        at: usize,
        len: usize,
    },
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<usize>(), any::<u8>()).prop_map(|(at, to)| Mutation::FlipByte { at, to }),
        any::<usize>().prop_map(|at| Mutation::Truncate { at }),
        (any::<usize>(), 0..TOKENS.len()).prop_map(|(at, token)| Mutation::Splice { at, token }),
        (any::<usize>(), any::<usize>(), any::<usize>(), 1usize..80).prop_map(
            |(at, donor, from, len)| Mutation::CrossSplice {
                at,
                donor,
                from,
                len
            }
        ),
        (any::<usize>(), 1usize..40).prop_map(|(at, len)| Mutation::Delete { at, len }),
    ]
}

fn apply(mut bytes: Vec<u8>, mutation: &Mutation, corpus: &[String]) -> Vec<u8> {
    let position = |at: usize, len: usize| if len == 0 { 0 } else { at % (len + 1) };
    match mutation {
        Mutation::FlipByte { at, to } => {
            if !bytes.is_empty() {
                let i = at % bytes.len();
                bytes[i] = *to;
            }
        }
        Mutation::Truncate { at } => {
            let i = position(*at, bytes.len());
            bytes.truncate(i);
        }
        Mutation::Splice { at, token } => {
            let i = position(*at, bytes.len());
            bytes.splice(i..i, TOKENS[*token].bytes());
        }
        Mutation::CrossSplice {
            at,
            donor,
            from,
            len,
        } => {
            let donor = corpus[donor % corpus.len()].as_bytes();
            let start = position(*from, donor.len());
            let end = (start + len).min(donor.len());
            let i = position(*at, bytes.len());
            bytes.splice(i..i, donor[start..end].iter().copied());
        }
        Mutation::Delete { at, len } => {
            let i = position(*at, bytes.len());
            let end = (i + len).min(bytes.len());
            bytes.drain(i..end);
        }
    }
    bytes
}

proptest! {
    #![proptest_config(ProptestConfig {
        // FAILBACK_FUZZ_CASES raises the count for a longer local run.
        cases: std::env::var("FAILBACK_FUZZ_CASES").ok().and_then(|n| n.parse().ok()).unwrap_or(256),
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn mutated_configurations_never_panic(
        seed in any::<usize>(),
        mutations in prop::collection::vec(mutation(), 1..6),
    ) {
        let corpus = corpus();
        let mut bytes = corpus[seed % corpus.len()].clone().into_bytes();
        for m in &mutations {
            bytes = apply(bytes, m, &corpus);
        }
        // Invalid UTF-8 is rejected when the file is read; the loader sees text.
        let text = String::from_utf8_lossy(&bytes).into_owned();
        let loaded = load_sources(
            Path::new("."),
            vec![(PathBuf::from("main.hcl"), text)],
            &VariableInputs::default(),
        );
        let _ = loaded.diagnostics.render_plain(100);
        let _ = loaded.diagnostics.to_json();
        if !loaded.diagnostics.has_errors() {
            let graph = Graph::build(&loaded.config);
            let _ = graph.to_dot();
        }
    }
}
