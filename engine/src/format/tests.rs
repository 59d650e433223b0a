//! Unit, snapshot and property tests of the formatter.

use super::*;

/// Formats and checks the two promises every output must keep.
fn fmt(source: &str) -> String {
    let once = match format_source(source) {
        Ok(text) => text,
        Err(err) => panic!("format failed: {err}\n--- input ---\n{source}"),
    };
    let twice = format_source(&once).unwrap_or_else(|err| panic!("reformat failed: {err}"));
    assert_eq!(once, twice, "formatting is not idempotent");
    once
}

#[test]
fn aligns_equals_within_runs_and_indents_by_two() {
    let input = "vcenter \"dc1\" {\nurl = \"https://vcsa\"\n\t  username=\"admin\"\ninsecure    = false\n}\n";
    assert_eq!(
        fmt(input),
        "vcenter \"dc1\" {\n  url      = \"https://vcsa\"\n  username = \"admin\"\n  insecure = false\n}\n"
    );
}

#[test]
fn blank_lines_and_comments_break_alignment_runs() {
    let input = "a = 1\nlong_name = 2\n\nb = 3\n# note\ncc = 4\n";
    assert_eq!(
        fmt(input),
        "a         = 1\nlong_name = 2\n\nb = 3\n# note\ncc = 4\n"
    );
}

#[test]
fn multi_line_attributes_are_not_aligned_but_their_items_are() {
    let input = "reprotect \"web\" {\n  vm = \"web01\"\n  tags = {\n  owner = \"ops\"\n      environment = \"prod\"\n  }\n}\n";
    assert_eq!(
        fmt(input),
        "reprotect \"web\" {\n  vm = \"web01\"\n  tags = {\n    owner       = \"ops\"\n    environment = \"prod\"\n  }\n}\n"
    );
}

#[test]
fn one_blank_line_between_blocks_and_none_at_the_edges() {
    let input = "\n\n\nvault \"v\" {\n\n  a = 1\n\n}\nvault \"w\" {\n}\n\n\n\nvault \"x\" {}\n\n\n";
    assert_eq!(
        fmt(input),
        "vault \"v\" {\n  a = 1\n}\n\nvault \"w\" {\n}\n\nvault \"x\" {}\n"
    );
}

#[test]
fn block_headers_get_single_spaces() {
    assert_eq!(
        fmt("master_target   \"mt\"{\n}\n"),
        "master_target \"mt\" {\n}\n"
    );
}

#[test]
fn trailing_whitespace_goes_and_a_final_newline_comes() {
    assert_eq!(fmt("a = 1   \r\nb = 2\t"), "a = 1\nb = 2\n");
}

#[test]
fn empty_and_comment_only_files() {
    assert_eq!(fmt(""), "");
    assert_eq!(fmt("\n\n"), "");
    assert_eq!(fmt("  # only a comment  \n"), "# only a comment\n");
}

#[test]
fn heredoc_bodies_are_kept_byte_for_byte() {
    let input = "locals {\nscript = <<EOF\n   indented   \n\tline\n\nEOF\n     other = 1\n}\n";
    assert_eq!(
        fmt(input),
        "locals {\n  script = <<EOF\n   indented   \n\tline\n\nEOF\n  other = 1\n}\n"
    );
}

#[test]
fn indented_heredocs_move_as_a_whole() {
    let input = "locals {\n        script = <<-EOT\n              echo a\n                echo b\n\n           EOT\n}\n";
    assert_eq!(
        fmt(input),
        "locals {\n  script = <<-EOT\n    echo a\n      echo b\n\n  EOT\n}\n"
    );
    // Tab indentation is ambiguous to move: kept as written.
    let tabs = "locals {\n  script = <<-EOT\n\t\techo a\n\tEOT\n}\n";
    assert_eq!(fmt(tabs), tabs);
}

#[test]
fn operators_are_not_mistaken_for_assignments() {
    let input =
        "locals {\n  x = var.a == 1 ? 2 : 3\n  yy = { for k, v in var.m : k => v if v != 0 }\n}\n";
    assert_eq!(
        fmt(input),
        "locals {\n  x  = var.a == 1 ? 2 : 3\n  yy = { for k, v in var.m : k => v if v != 0 }\n}\n"
    );
}

#[test]
fn syntax_errors_report_line_and_column() {
    let err = format_source("vault \"v\" {\n  a = \n}\n").unwrap_err();
    match err {
        FormatError::Syntax { line, column, .. } => {
            assert_eq!(line, 2);
            assert!(column >= 1);
        }
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn syntax_error_diagnostic_names_the_file() {
    let source = "vault \"v\" {\n";
    let err = format_source(source).unwrap_err();
    let diagnostic = err.to_diagnostic(Path::new("main.hcl"), source);
    let text = diagnostic.to_string();
    assert!(text.starts_with("main.hcl:"), "{text}");
}

// ---- snapshots of the tricky shapes ---------------------------------------------

const COMMENTS: &str = r#"
# Leading comment, kept.
   // another style
failback {
    /* a block comment
       spanning lines   */
  parallelism = 4 # trailing comment
     connectivity="vpn"   // trailing too
  # comment before a closer
}
"#;

const NESTED_BLOCKS: &str = r#"
failback {
state "local" {
path = "failback.state.json"
}
parallelism = 10
}
reprotect "web01" {
    vm = "web01"
  master_target = master_target.mt_linux
    disk {
    id = "disk-0"
       datastore = "ds-gold"
    }
    disk {
    id = "disk-1"
    datastore = "ds-silver"
    }
}
"#;

const HEREDOCS: &str = r#"
locals {
      banner = <<-EOT
        Failback of ${var.site}
          indented line
        EOT
  raw = <<EOF
keep   this
    exactly
EOF
}
"#;

const FOR_EACH_OBJECTS: &str = r#"
variable "vms" {
  type = map(object({ datastore = string, policy = string }))
  default = {
  web01 = { datastore = "ds1", policy = "p1" }
      "app-01" = {
      datastore = "ds2"
          policy = "p2"
    }
  }
}
reprotect "app" {
for_each = var.vms
  vm = each.key
        datastore = each.value.datastore
  policy = failback_policy.default
}
"#;

const LONG_LISTS: &str = r#"
recovery_plan "erp" {
  members = [
  reprotect.app["db01"],
        reprotect.app["db02"],
    reprotect.app["web01"],
  ]
  boot_order = [[
  "db01",
  "db02",
  ], [
  "web01",
  ]]
  args = concat(
  ["a"],
  ["b", "c"],
  )
}
"#;

#[test]
fn snapshot_comments() {
    insta::assert_snapshot!(fmt(COMMENTS));
}

#[test]
fn snapshot_nested_blocks() {
    insta::assert_snapshot!(fmt(NESTED_BLOCKS));
}

#[test]
fn snapshot_heredocs() {
    insta::assert_snapshot!(fmt(HEREDOCS));
}

#[test]
fn snapshot_for_each_objects() {
    insta::assert_snapshot!(fmt(FOR_EACH_OBJECTS));
}

#[test]
fn snapshot_long_lists() {
    insta::assert_snapshot!(fmt(LONG_LISTS));
}

// ---- properties -----------------------------------------------------------------

mod properties {
    use proptest::prelude::*;

    use super::format_source;

    fn ident() -> impl Strategy<Value = String> {
        "[a-z][a-z_]{0,11}".prop_map(String::from)
    }

    fn spaces() -> impl Strategy<Value = String> {
        prop_oneof![Just(String::new()), " {1,4}", "\t{1,2}"].prop_map(String::from)
    }

    fn scalar() -> impl Strategy<Value = String> {
        prop_oneof![
            (0u32..100_000).prop_map(|n| n.to_string()),
            Just("true".to_owned()),
            "[a-z0-9 ._-]{0,12}".prop_map(|s| format!("\"{s}\"")),
            ident().prop_map(|s| format!("var.{s}")),
            ident().prop_map(|s| format!("\"${{var.{s}}}-x\"")),
            (ident(), 0u32..9).prop_map(|(a, n)| format!("{a} == {n} ? \"y\" : \"n\"")),
        ]
    }

    /// A value: a scalar, a list or an object, on one line or several.
    fn value() -> impl Strategy<Value = String> {
        scalar().prop_recursive(3, 16, 4, |inner| {
            prop_oneof![
                (
                    prop::collection::vec(inner.clone(), 0..4),
                    any::<bool>(),
                    spaces()
                )
                    .prop_map(|(items, multi, pad)| {
                        if multi {
                            let body: String =
                                items.iter().map(|i| format!("{pad}{i},\n")).collect();
                            format!("[\n{body}{pad}]")
                        } else {
                            format!("[{}]", items.join(", "))
                        }
                    }),
                (
                    prop::collection::vec((ident(), inner.clone()), 0..4),
                    any::<bool>(),
                    spaces()
                )
                    .prop_map(|(items, multi, pad)| {
                        if multi {
                            let body: String = items
                                .iter()
                                .map(|(k, v)| format!("{pad}{k}{pad}= {v}\n"))
                                .collect();
                            format!("{{\n{body}{pad}}}")
                        } else {
                            let body: Vec<String> =
                                items.iter().map(|(k, v)| format!("{k} = {v}")).collect();
                            format!("{{ {} }}", body.join(", "))
                        }
                    }),
                inner.prop_map(|v| format!("concat(\n[{v}],\n  [])")),
            ]
        })
    }

    /// One body item: attribute, comment, blank line, heredoc or nested block.
    fn items(depth: u32) -> BoxedStrategy<String> {
        let leaf = prop_oneof![
            4 => (spaces(), ident(), spaces(), value(), spaces())
                .prop_map(|(a, k, b, v, c)| format!("{a}{k}{b}={b}{v}{c}\n")),
            1 => (spaces(), "[a-z ]{0,10}").prop_map(|(a, c)| format!("{a}# {c}\n")),
            1 => spaces().prop_map(|a| format!("{a}\n")),
            1 => (spaces(), ident(), "[ a-z]{0,8}").prop_map(|(a, k, t)| {
                format!("{a}{k} = <<-EOT\n{a}  {t}\n   {t}\n{a}EOT\n")
            }),
            1 => (spaces(), "[a-z ]{0,10}").prop_map(|(a, c)| format!("{a}/* {c}\n {c} */\n")),
        ];
        if depth == 0 {
            return prop::collection::vec(leaf, 0..6)
                .prop_map(|v| v.concat())
                .boxed();
        }
        let block = (spaces(), ident(), "[a-z]{1,6}", spaces(), items(depth - 1))
            .prop_map(|(a, t, l, b, body)| format!("{a}{t} \"{l}\"{b}{{\n{body}{a}}}\n"));
        prop::collection::vec(prop_oneof![3 => leaf, 1 => block], 0..6)
            .prop_map(|v| v.concat())
            .boxed()
    }

    /// `source` with each line's indentation replaced and trailing blanks added.
    fn reindented(source: &str, indents: &[(usize, usize)]) -> String {
        source
            .lines()
            .zip(indents.iter().cycle())
            .map(|(line, (lead, trail))| {
                if line.trim().is_empty() {
                    "\n".to_owned()
                } else {
                    format!(
                        "{}{}{}\n",
                        " ".repeat(*lead),
                        line.trim(),
                        " ".repeat(*trail)
                    )
                }
            })
            .collect()
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        #[test]
        fn layout_does_not_depend_on_the_input_indentation(
            indents in prop::collection::vec((0usize..7, 0usize..3), 1..40),
        ) {
            for source in [super::NESTED_BLOCKS, super::FOR_EACH_OBJECTS, super::LONG_LISTS] {
                let canonical = format_source(source);
                prop_assert_eq!(format_source(&reindented(source, &indents)), canonical);
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn formatting_is_idempotent_and_keeps_meaning(source in items(2)) {
            // Generated text may not parse (e.g. a keyword as a name); only what parses
            // is a formatting case.
            prop_assume!(hcl_edit::parser::parse_body(&source).is_ok());
            // format_source itself refuses any output whose hcl-rs Body differs from
            // the input's, so Ok means the meaning was kept.
            let once = format_source(&source);
            prop_assert!(once.is_ok(), "{:?} for\n{}", once, source);
            let once = once.unwrap_or_default();
            let twice = format_source(&once);
            prop_assert_eq!(Ok(once.clone()), twice, "not idempotent for\n{}", source);
            let before = hcl::parse(&source).map_err(|e| e.to_string());
            let after = hcl::parse(&once).map_err(|e| e.to_string());
            prop_assert_eq!(before, after);
        }
    }
}
