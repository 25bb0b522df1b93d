//! Error policy: every failure leaves as `{"error": {"code", "message", "details"}}` with a
//! stable `code` clients can branch on and an HTTP status that says whose fault it is. Domain
//! and storage errors map here and nowhere else; a 5xx never leaks internals beyond a message.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use fengqiao_domain::DomainError;
use fengqiao_domain::error::FieldError;
use fengqiao_store::StoreError;
use serde_json::json;

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    pub details: Vec<FieldError>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError { status, code, message: message.into(), details: Vec::new() }
    }
    pub fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, "bad_request", message)
    }
    pub fn not_found() -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such resource, or not yours to see")
    }
    pub fn unauthorized() -> ApiError {
        ApiError::new(StatusCode::UNAUTHORIZED, "unauthenticated", "sign in or send an Authorization: Bearer token")
    }
    pub fn invalid(field: &str, message: impl Into<String>) -> ApiError {
        let message = message.into();
        ApiError {
            status: StatusCode::UNPROCESSABLE_ENTITY,
            code: "invalid_input",
            message: format!("{field}: {message}"),
            details: vec![FieldError::new(field, message)],
        }
    }
}

impl From<DomainError> for ApiError {
    fn from(e: DomainError) -> ApiError {
        let status = match &e {
            DomainError::Invalid(_) => StatusCode::UNPROCESSABLE_ENTITY,
            DomainError::IllegalTransition { .. } | DomainError::Precondition(_) => StatusCode::CONFLICT,
            DomainError::Forbidden(_) => StatusCode::FORBIDDEN,
        };
        let details = match &e {
            DomainError::Invalid(d) => d.clone(),
            _ => Vec::new(),
        };
        ApiError { status, code: e.code(), message: e.to_string(), details }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> ApiError {
        match e {
            StoreError::NotFound => ApiError::not_found(),
            StoreError::Conflict { .. } => ApiError::new(StatusCode::CONFLICT, "stale_version", e.to_string()),
            StoreError::IdempotencyMismatch => ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "idempotency_key_reused", e.to_string()),
            StoreError::Domain(d) => d.into(),
            StoreError::NotEmpty => ApiError::new(StatusCode::CONFLICT, "not_empty", e.to_string()),
            StoreError::Backend(m) => {
                tracing::error!(error = %m, "storage failure");
                ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "storage_unavailable",
                    "the database could not complete the request; nothing was changed",
                )
            }
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = json!({ "error": { "code": self.code, "message": self.message, "details": self.details } });
        (self.status, Json(body)).into_response()
    }
}
