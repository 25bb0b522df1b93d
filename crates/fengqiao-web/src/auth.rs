//! Who is calling: a staff user by `Authorization: Bearer TOKEN`. The token's SHA-256 is looked
//! up; the token itself is never stored.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use fengqiao_domain::{Actor, User};

use crate::{ApiError, AppState};

/// A signed-in staff user.
pub struct Staff {
    pub user: User,
    pub actor: Actor,
}

impl FromRequestParts<AppState> for Staff {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let header = parts
            .headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .ok_or_else(ApiError::unauthorized)?;
        let token = header
            .strip_prefix("Bearer ")
            .or_else(|| header.strip_prefix("bearer "))
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or_else(ApiError::unauthorized)?;
        let user = state
            .svc
            .store
            .user_by_token_hash(&crate::token_hash(token))
            .await?
            .ok_or_else(ApiError::unauthorized)?;
        let actor = Actor::from_user(&user);
        Ok(Staff { user, actor })
    }
}
