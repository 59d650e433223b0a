//! ARM's error envelope, as ASR answers through Azure Resource Manager.
//!
//! Every refusal is `{"error": {"code", "message", "details": [...]}}` (common-types
//! `ErrorResponse`). ASR puts its own error in `details` with the fields of the swagger's
//! `ServiceError` (`possibleCauses`, `recommendedAction`, `activityId`), as seen in real
//! answers (Azure/azure-powershell#4893), so a client can keep ASR's code and advice.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

/// ASR's own error: what went wrong, why, and what to do.
#[derive(Debug, Clone, PartialEq)]
pub struct ServiceError {
    pub code: String,
    pub message: String,
    pub possible_causes: String,
    pub recommended_action: String,
}

impl ServiceError {
    pub fn new(code: &str, message: impl Into<String>) -> ServiceError {
        ServiceError {
            code: code.to_owned(),
            message: message.into(),
            possible_causes: String::new(),
            recommended_action: String::new(),
        }
    }

    pub fn causes(mut self, causes: impl Into<String>) -> ServiceError {
        self.possible_causes = causes.into();
        self
    }

    pub fn action(mut self, action: impl Into<String>) -> ServiceError {
        self.recommended_action = action.into();
        self
    }

    /// The `ServiceError` object of the swagger (also used for ARM error details).
    pub fn to_json(&self, activity_id: &str) -> Value {
        json!({
            "code": self.code,
            "message": self.message,
            "possibleCauses": self.possible_causes,
            "recommendedAction": self.recommended_action,
            "activityId": activity_id,
        })
    }
}

/// A refused request: HTTP status plus ARM's error body.
#[derive(Debug, Clone)]
pub struct ArmError {
    pub status: StatusCode,
    pub code: String,
    pub message: String,
    pub details: Vec<ServiceError>,
    /// Extra headers such as `WWW-Authenticate` or `Retry-After`.
    pub headers: Vec<(header::HeaderName, String)>,
}

impl ArmError {
    /// An ARM-level error without ASR details (authentication, api-version, routing).
    pub fn plain(status: StatusCode, code: &str, message: impl Into<String>) -> ArmError {
        ArmError {
            status,
            code: code.to_owned(),
            message: message.into(),
            details: Vec::new(),
            headers: Vec::new(),
        }
    }

    /// An ASR refusal: the envelope names the HTTP category, the detail is ASR's error.
    pub fn asr(status: StatusCode, detail: ServiceError) -> ArmError {
        let code = match status {
            StatusCode::NOT_FOUND => "NotFound",
            StatusCode::CONFLICT => "Conflict",
            _ => "BadRequest",
        };
        ArmError {
            status,
            code: code.to_owned(),
            message: detail.message.clone(),
            details: vec![detail],
            headers: Vec::new(),
        }
    }

    pub fn with_header(mut self, name: header::HeaderName, value: impl Into<String>) -> ArmError {
        self.headers.push((name, value.into()));
        self
    }

    pub fn body(&self) -> Value {
        let activity_id = uuid::Uuid::new_v4().to_string();
        let mut error = json!({"code": self.code, "message": self.message});
        if !self.details.is_empty() {
            error["details"] = Value::Array(
                self.details
                    .iter()
                    .map(|d| d.to_json(&activity_id))
                    .collect(),
            );
        }
        json!({ "error": error })
    }
}

impl IntoResponse for ArmError {
    fn into_response(self) -> Response {
        let mut response = (self.status, axum::Json(self.body())).into_response();
        for (name, value) in &self.headers {
            if let Ok(value) = HeaderValue::from_str(value) {
                response.headers_mut().insert(name.clone(), value);
            }
        }
        response
    }
}

/// A resource that does not exist, named the way ARM names it.
pub fn not_found(kind: &str, name: &str) -> ArmError {
    ArmError::asr(
        StatusCode::NOT_FOUND,
        ServiceError::new(
            &format!("{kind}NotFound"),
            format!("The {} '{name}' was not found in the vault.", spaced(kind)),
        )
        .causes(format!("No {} with this name exists.", spaced(kind)))
        .action("Check the name (list the collection to see what exists) and retry."),
    )
}

/// `ReplicationProtectedItem` → `replication protected item`.
fn spaced(kind: &str) -> String {
    let mut out = String::new();
    for (i, c) in kind.chars().enumerate() {
        if c.is_uppercase() && i > 0 {
            out.push(' ');
        }
        out.extend(c.to_lowercase());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn asr_error_keeps_code_causes_and_action_in_details() {
        let err = ArmError::asr(
            StatusCode::BAD_REQUEST,
            ServiceError::new("X", "m").causes("c").action("a"),
        );
        let body = err.body();
        assert_eq!(body["error"]["code"], "BadRequest");
        assert_eq!(body["error"]["message"], "m");
        assert_eq!(body["error"]["details"][0]["code"], "X");
        assert_eq!(body["error"]["details"][0]["possibleCauses"], "c");
        assert_eq!(body["error"]["details"][0]["recommendedAction"], "a");
    }

    #[test]
    fn not_found_names_the_kind_in_words() {
        let err = not_found("ReplicationFabric", "cs9");
        assert_eq!(err.status, StatusCode::NOT_FOUND);
        assert_eq!(
            err.message,
            "The replication fabric 'cs9' was not found in the vault."
        );
    }
}
