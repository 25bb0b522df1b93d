//! Domain errors. Each variant maps to one stable error code that the API returns, so clients
//! can act on `code` without parsing messages.

use thiserror::Error;

/// One problem with one input field.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self { field: field.into(), message: message.into() }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum DomainError {
    /// The input is malformed; every problem is listed by field.
    #[error("invalid input: {}", .0.iter().map(|e| format!("{}: {}", e.field, e.message)).collect::<Vec<_>>().join("; "))]
    Invalid(Vec<FieldError>),
    /// The command is not allowed in the case's current status.
    #[error("{command} is not allowed while the case is {status}")]
    IllegalTransition { command: &'static str, status: &'static str },
    /// The actor's role or unit may not issue this command.
    #[error("{0}")]
    Forbidden(String),
    /// The command is allowed in this status but its preconditions are not met.
    #[error("{0}")]
    Precondition(String),
}

impl DomainError {
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        DomainError::Invalid(vec![FieldError::new(field, message)])
    }

    /// The stable code clients see.
    pub fn code(&self) -> &'static str {
        match self {
            DomainError::Invalid(_) => "invalid_input",
            DomainError::IllegalTransition { .. } => "illegal_transition",
            DomainError::Forbidden(_) => "forbidden",
            DomainError::Precondition(_) => "precondition_failed",
        }
    }
}
