//! Who is calling: a staff user by `Authorization: Bearer TOKEN`. The token's SHA-256 is looked
//! up; the token itself is never stored.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use fengqiao_domain::{Actor, User};

use crate::{ApiError, AppState};

/// Recently seen tokens, so a busy client does not cost a database read per request. An
/// entry lives [`TokenCache::TTL`]; a token revoked or changed elsewhere (another process, the
/// CLI) stops working within that time.
#[derive(Default)]
pub struct TokenCache {
    entries: std::sync::Mutex<std::collections::HashMap<String, (User, std::time::Instant)>>,
}

impl TokenCache {
    pub const TTL: std::time::Duration = std::time::Duration::from_secs(30);
    const MAX: usize = 10_000;

    fn get(&self, hash: &str) -> Option<User> {
        let m = self.entries.lock().expect("not poisoned");
        m.get(hash).filter(|(_, at)| at.elapsed() < Self::TTL).map(|(u, _)| u.clone())
    }

    fn put(&self, hash: String, user: User) {
        let mut m = self.entries.lock().expect("not poisoned");
        if m.len() >= Self::MAX {
            m.retain(|_, (_, at)| at.elapsed() < Self::TTL);
            if m.len() >= Self::MAX {
                m.clear();
            }
        }
        m.insert(hash, (user, std::time::Instant::now()));
    }

    /// Forgets every cached token (after an account change in this process).
    pub fn clear(&self) {
        self.entries.lock().expect("not poisoned").clear();
    }
}

/// A signed-in staff user.
pub struct Staff {
    pub user: User,
    pub actor: Actor,
}

impl FromRequestParts<AppState> for Staff {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let header =
            parts.headers.get(axum::http::header::AUTHORIZATION).and_then(|v| v.to_str().ok()).ok_or_else(ApiError::unauthorized)?;
        let token = header
            .strip_prefix("Bearer ")
            .or_else(|| header.strip_prefix("bearer "))
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or_else(ApiError::unauthorized)?;
        let hash = crate::token_hash(token);
        let user = match state.tokens.get(&hash) {
            Some(u) => u,
            None => {
                let u = state.svc.store.user_by_token_hash(&hash).await?.ok_or_else(ApiError::unauthorized)?;
                state.tokens.put(hash, u.clone());
                u
            }
        };
        let actor = Actor::from_user(&user);
        Ok(Staff { user, actor })
    }
}
