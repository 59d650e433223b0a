//! Query strings and paging: ARM's `api-version`, `$filter`, and the `nextLink` /
//! `$skiptoken` pages every list is served in.

use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::error::ArmError;
use super::{API_VERSION, Shared};

/// The query parameters of a request, percent-decoded.
#[derive(Debug, Default)]
pub struct Query {
    pairs: Vec<(String, String)>,
}

impl Query {
    pub fn parse(query: Option<&str>) -> Query {
        let pairs = query
            .unwrap_or_default()
            .split('&')
            .filter(|p| !p.is_empty())
            .map(|pair| {
                let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
                (percent_decode(key), percent_decode(value))
            })
            .collect();
        Query { pairs }
    }

    /// The value of a parameter; ARM query names are case-insensitive.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v.as_str())
    }
}

pub fn percent_decode(text: &str) -> String {
    fn hex(b: u8) -> Option<u8> {
        (b as char).to_digit(16).map(|d| d as u8)
    }
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let decoded = if bytes[i] == b'%' {
            bytes
                .get(i + 1)
                .and_then(|&h| hex(h))
                .zip(bytes.get(i + 2).and_then(|&l| hex(l)))
        } else {
            None
        };
        match (bytes[i], decoded) {
            (b'%', Some((high, low))) => {
                out.push(high * 16 + low);
                i += 3;
            }
            (b'+', _) => {
                out.push(b' ');
                i += 1;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// One page of a collection, with `nextLink` when more remain (`$skiptoken` = offset).
/// Only the page's items are shaped: shaping a whole large collection for every page
/// made listing it quadratic.
pub fn paged<T>(
    shared: &Shared,
    uri: &Uri,
    query: &Query,
    items: Vec<T>,
    shape: impl Fn(T) -> Value,
) -> Result<Response, ArmError> {
    let start = match query.get("$skiptoken") {
        None => 0,
        Some(token) => token.parse::<usize>().ok().filter(|&n| n <= items.len()).ok_or_else(|| {
            ArmError::plain(
                StatusCode::BAD_REQUEST,
                "InvalidSkipToken",
                format!("The skip token '{token}' is not valid for this collection; follow nextLink verbatim."),
            )
        })?,
    };
    let size = shared.page_size.max(1);
    let end = (start + size).min(items.len());
    let total = items.len();
    let page: Vec<Value> = items
        .into_iter()
        .skip(start)
        .take(end - start)
        .map(shape)
        .collect();
    let mut body = json!({ "value": page });
    if end < total {
        let mut link = format!(
            "{}{}?api-version={API_VERSION}&$skiptoken={end}",
            shared.endpoint,
            uri.path()
        );
        if let Some(filter) = query.get("$filter") {
            link.push_str("&$filter=");
            link.push_str(&encode_query_value(filter));
        }
        body["nextLink"] = json!(link);
    }
    Ok((StatusCode::OK, axum::Json(body)).into_response())
}

fn encode_query_value(value: &str) -> String {
    let mut out = String::new();
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_values_are_percent_decoded_and_names_case_insensitive() {
        let query = Query::parse(Some(
            "Api-Version=2026-05-01&%24filter=RecoveryPlanName%20eq%20%27p%27&x=%zz",
        ));
        assert_eq!(query.get("api-version"), Some("2026-05-01"));
        assert_eq!(query.get("$filter"), Some("RecoveryPlanName eq 'p'"));
        assert_eq!(query.get("x"), Some("%zz"), "bad escapes stay as they are");
        assert_eq!(query.get("missing"), None);
        assert_eq!(percent_decode("a+b%2"), "a b%2");
        assert_eq!(percent_decode("%C3%A9"), "\u{e9}");
    }

    #[test]
    fn encoded_values_round_trip() {
        let text = "RecoveryPlanName eq 'erp plan'";
        assert_eq!(percent_decode(&encode_query_value(text)), text);
    }
}
