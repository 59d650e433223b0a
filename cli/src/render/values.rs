//! Before → after of an action's values, attribute by attribute, as Terraform shows
//! them: `+` added, `-` removed, `~` changed; long or multi-line values as a
//! line diff (similar) instead of two unreadable walls of text.

use std::fmt::Write as _;

use serde_json::Value;
use similar::{ChangeTag, TextDiff};

use super::Paint;

/// Values longer than this are shown as a line diff.
const INLINE_WIDTH: usize = 60;

/// Renders a scalar or compact value as HCL-like text.
pub fn inline(value: &Value) -> String {
    let mut out = String::new();
    write_inline(&mut out, value);
    out
}

/// [`inline`], appended to `out`: plans of thousands of actions render tens of
/// thousands of values, so none gets a string of its own.
fn write_inline(out: &mut String, value: &Value) {
    // Writing into a String cannot fail.
    match value {
        Value::String(text) => {
            let _ = write!(out, "{text:?}");
        }
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_inline(out, item);
            }
            out.push(']');
        }
        other => {
            let _ = write!(out, "{other}");
        }
    }
}

/// The lines of a value for a line diff: strings by line, arrays by element,
/// objects pretty-printed.
fn lines_of(value: &Value) -> Vec<String> {
    match value {
        Value::String(text) => text.lines().map(|line| format!("{line:?}")).collect(),
        Value::Array(items) => items.iter().map(inline).collect(),
        Value::Null => Vec::new(),
        other => serde_json::to_string_pretty(other)
            .unwrap_or_default()
            .lines()
            .map(str::to_owned)
            .collect(),
    }
}

fn is_long(value: &Value) -> bool {
    match value {
        Value::String(text) => text.len() > INLINE_WIDTH || text.contains('\n'),
        Value::Array(items) => {
            !items.is_empty() && inline(value).len() > INLINE_WIDTH || items.len() > 3
        }
        Value::Object(_) => inline(value).len() > INLINE_WIDTH,
        _ => false,
    }
}

/// The attribute lines of one action or drift, each with its `\n`, indented by
/// `indent`, appended to `out`. `all_added` marks every value as new (`+`), as for a
/// create.
pub fn write_attribute_lines(
    out: &mut String,
    before: &Value,
    after: &Value,
    all_added: bool,
    indent: &str,
    paint: Paint,
) {
    let empty = serde_json::Map::new();
    let before_map = before.as_object().unwrap_or(&empty);
    let after_map = after.as_object().unwrap_or(&empty);
    let mut keys: Vec<&String> = before_map.keys().chain(after_map.keys()).collect();
    keys.sort();
    keys.dedup();
    // Only attributes that are shown set the alignment.
    keys.retain(|key| {
        let old = before_map.get(key.as_str()).filter(|v| !v.is_null());
        let new = after_map.get(key.as_str()).filter(|v| !v.is_null());
        match (old, new) {
            (None, None) => false,
            (Some(old), Some(new)) => all_added || old != new,
            _ => true,
        }
    });
    let width = keys.iter().map(|key| key.len()).max().unwrap_or(0);
    let (plus, minus, tilde, arrow) = (
        paint.green("+"),
        paint.red("-"),
        paint.yellow("~"),
        paint.dim("->"),
    );
    // Writing into a String cannot fail.
    for key in keys {
        let old = before_map.get(key.as_str()).filter(|v| !v.is_null());
        let new = after_map.get(key.as_str()).filter(|v| !v.is_null());
        match (old, new) {
            (None, None) => {}
            (Some(old), Some(new)) if old == new => {
                if !all_added {
                    continue;
                }
                let _ = write!(out, "{indent}{plus} {key:width$} = ");
                write_inline(out, new);
                out.push('\n');
            }
            (None, Some(new)) => {
                let _ = write!(out, "{indent}{plus} {key:width$} = ");
                write_inline(out, new);
                out.push('\n');
            }
            (Some(old), None) => {
                let _ = write!(out, "{indent}{minus} {key:width$} = ");
                write_inline(out, old);
                let _ = writeln!(out, " {arrow} null");
            }
            (Some(old), Some(new)) if is_long(old) || is_long(new) => {
                let _ = writeln!(out, "{indent}{tilde} {key:width$} = <<-DIFF");
                for line in line_diff(old, new, &format!("{indent}    "), paint) {
                    out.push_str(&line);
                    out.push('\n');
                }
                let _ = writeln!(out, "{indent}  {:width$}   DIFF", "");
            }
            (Some(old), Some(new)) => {
                let _ = write!(out, "{indent}{tilde} {key:width$} = ");
                write_inline(out, old);
                let _ = write!(out, " {arrow} ");
                write_inline(out, new);
                out.push('\n');
            }
        }
    }
}

/// A line diff of two values, unchanged lines kept for context.
pub fn line_diff(old: &Value, new: &Value, indent: &str, paint: Paint) -> Vec<String> {
    let old_text = lines_of(old).join("\n") + "\n";
    let new_text = lines_of(new).join("\n") + "\n";
    let diff = TextDiff::from_lines(&old_text, &new_text);
    diff.iter_all_changes()
        .map(|change| {
            let text = change.value().trim_end_matches('\n');
            match change.tag() {
                ChangeTag::Delete => format!("{indent}{} {text}", paint.red("-")),
                ChangeTag::Insert => format!("{indent}{} {text}", paint.green("+")),
                ChangeTag::Equal => format!("{indent}  {text}"),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn attribute_lines(before: &Value, after: &Value, all_added: bool) -> Vec<String> {
        let mut text = String::new();
        write_attribute_lines(&mut text, before, after, all_added, "", Paint::new(false));
        text.lines().map(str::to_owned).collect()
    }

    #[test]
    fn changed_short_values_show_before_and_after() {
        let lines = attribute_lines(
            &json!({"a": "x", "same": 1}),
            &json!({"a": "y", "same": 1, "b": true}),
            false,
        );
        assert_eq!(lines, ["~ a = \"x\" -> \"y\"", "+ b = true"]);
    }

    #[test]
    fn long_lists_are_shown_as_a_line_diff() {
        let lines = attribute_lines(
            &json!({"snapshots": ["one", "two", "three", "four"]}),
            &json!({"snapshots": ["one", "three", "four", "five"]}),
            false,
        );
        assert_eq!(
            lines,
            [
                "~ snapshots = <<-DIFF",
                "      \"one\"",
                "    - \"two\"",
                "      \"three\"",
                "      \"four\"",
                "    + \"five\"",
                "              DIFF",
            ]
        );
    }
}
