//! The checks every backend runs on what it stores, shared so that a remote backend
//! refuses exactly what the local one refuses: the stored bytes must be a failback
//! state this build reads (never overwrite something that is not ours), and a new
//! state may only follow the stored one (same lineage, greater serial).

use std::path::Path;

use uuid::Uuid;

use super::backend::StateError;
use super::model::{FORMAT_VERSION, State};

/// Checks that `bytes` are a failback state this build reads, and decodes them.
/// `path` names where they came from in errors (a file, or a blob's URL).
pub(crate) fn parse_state(path: &Path, bytes: &[u8]) -> Result<State, StateError> {
    let corrupt = |reason: String| StateError::Corrupt {
        path: path.to_owned(),
        reason,
    };
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(corrupt("the file is empty".to_owned()));
    }
    let value: serde_json::Value =
        serde_json::from_slice(bytes).map_err(|err| corrupt(format!("not JSON: {err}")))?;
    let Some(object) = value.as_object() else {
        return Err(corrupt("not a JSON object".to_owned()));
    };
    let Some(found) = object.get("format_version").and_then(|v| v.as_u64()) else {
        return Err(corrupt("it has no format_version".to_owned()));
    };
    if found != u64::from(FORMAT_VERSION) {
        return Err(StateError::UnsupportedFormat {
            path: path.to_owned(),
            found,
            supported: FORMAT_VERSION,
            tool_version: object
                .get("tool_version")
                .and_then(|v| v.as_str())
                .unwrap_or("unknown")
                .to_owned(),
        });
    }
    let lineage = object.get("lineage").and_then(|v| v.as_str());
    if lineage
        .and_then(|text| Uuid::parse_str(text).ok())
        .is_none()
    {
        return Err(corrupt("it has no valid lineage".to_owned()));
    }
    serde_path_to_error::deserialize(&value)
        .map_err(|err| corrupt(format!("at `{}`: {}", err.path(), err.inner())))
}

/// Whether `writing` may replace `stored`: the same history, and a newer write.
pub(crate) fn check_succession(stored: &State, writing: &State) -> Result<(), StateError> {
    if stored.lineage != writing.lineage {
        return Err(StateError::LineageMismatch {
            stored: stored.lineage,
            writing: writing.lineage,
        });
    }
    if writing.serial <= stored.serial {
        return Err(StateError::StaleSerial {
            stored: stored.serial,
            writing: writing.serial,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_successor_needs_the_same_lineage_and_a_greater_serial() {
        let mut stored = State::new("0.1.0");
        stored.serial = 3;
        let mut next = stored.clone();
        next.serial = 4;
        assert!(check_succession(&stored, &next).is_ok());
        next.serial = 3;
        assert!(matches!(
            check_succession(&stored, &next),
            Err(StateError::StaleSerial {
                stored: 3,
                writing: 3
            })
        ));
        let other = State::new("0.1.0");
        assert!(matches!(
            check_succession(&stored, &other),
            Err(StateError::LineageMismatch { .. })
        ));
    }

    #[test]
    fn foreign_bytes_are_not_a_state() {
        let path = Path::new("x");
        for bytes in [
            &b""[..],
            b"  \n",
            b"hello",
            b"[1]",
            b"{\"format_version\": 1}",
        ] {
            assert!(
                matches!(parse_state(path, bytes), Err(StateError::Corrupt { .. })),
                "{:?}",
                String::from_utf8_lossy(bytes)
            );
        }
    }
}
