//! The resident roll: residents known by a verified phone number, with the region (village or
//! community) where they live. A resident is verified by signing in with a one-time code sent
//! to the phone, or by staff registering them in person. Residents sign in to see their own
//! cases and to take part in community consultations of their region.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::clock::Timestamp;
use crate::error::DomainError;
use crate::person::normalise_phone;
use crate::region::{RegionCode, RegionLevel};
use crate::user::Actor;

/// Digits of a one-time code.
pub const OTP_DIGITS: usize = 6;
/// How long a one-time code is good for.
pub const OTP_TTL_MS: i64 = 10 * 60 * 1000;
/// Wrong codes allowed before the code is spent.
pub const OTP_MAX_ATTEMPTS: i64 = 5;

/// One entry of the roll.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Resident {
    /// Assigned by the store.
    pub id: i64,
    /// Digits only (see [`normalise_phone`]).
    pub phone: String,
    /// Where the resident lives (a village or community, or a grid in one); `None` until staff
    /// or the resident records it.
    pub region: Option<RegionCode>,
    /// `otp` (a code sent to the phone was entered) or `user:ID` (registered in person).
    pub verified_by: String,
    pub verified_at: Timestamp,
    /// Whether the region was recorded by staff in person (`false`: declared by the resident).
    pub region_by_staff: bool,
}

/// What the audit log says about a roll entry: no phone, no name.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResidentEvent {
    pub id: i64,
    pub region: Option<String>,
    pub verified_by: String,
    pub region_by_staff: bool,
}

impl Resident {
    pub fn event(&self) -> ResidentEvent {
        ResidentEvent {
            id: self.id,
            region: self.region.as_ref().map(|r| r.as_str().to_string()),
            verified_by: self.verified_by.clone(),
            region_by_staff: self.region_by_staff,
        }
    }

    /// Staff registering a resident in person, within their jurisdiction: verifies the phone
    /// and records the region (a village, community or grid).
    pub fn register(actor: &Actor, phone: &str, region: &RegionCode, now: Timestamp) -> Result<Resident, DomainError> {
        let Actor::User { role, jurisdiction, .. } = actor else {
            return Err(DomainError::Forbidden("only staff register residents in person".into()));
        };
        if role.handles() {
            return Err(DomainError::Forbidden(format!("a {} may not register residents", role.as_str())));
        }
        let mut errs = Vec::new();
        let phone = normalise_phone(phone).map_err(|e| errs.push(e)).ok();
        if !matches!(region.level(), RegionLevel::Village | RegionLevel::Grid) {
            errs.push(crate::error::FieldError::new("region", "a resident lives in a village or community (or a grid in one)"));
        } else if !jurisdiction.contains(region) {
            return Err(DomainError::Forbidden("the region lies outside your jurisdiction".into()));
        }
        match phone {
            Some(phone) if errs.is_empty() => Ok(Resident {
                id: 0,
                phone,
                region: Some(region.clone()),
                verified_by: actor.label(),
                verified_at: now,
                region_by_staff: true,
            }),
            _ => Err(DomainError::Invalid(errs)),
        }
    }

    /// A resident who signed in with a code and is not on the roll yet.
    pub fn by_code(phone: &str, now: Timestamp) -> Resident {
        Resident { id: 0, phone: phone.to_string(), region: None, verified_by: "otp".into(), verified_at: now, region_by_staff: false }
    }

    /// The resident declares where they live. A region recorded by staff in person stands.
    pub fn declare_region(&mut self, region: &RegionCode) -> Result<(), DomainError> {
        if !matches!(region.level(), RegionLevel::Village | RegionLevel::Grid) {
            return Err(DomainError::invalid("region", "a resident lives in a village or community (or a grid in one)"));
        }
        if self.region_by_staff {
            return Err(DomainError::Precondition("your region was recorded in person; ask the community to change it".into()));
        }
        self.region = Some(region.clone());
        Ok(())
    }

    /// Whether the resident may take part in a consultation of `region`: they live in its
    /// subtree.
    pub fn may_take_part(&self, region: &RegionCode) -> Result<(), DomainError> {
        match &self.region {
            None => Err(DomainError::Precondition("record where you live first".into())),
            Some(r) if region.contains(r) => Ok(()),
            Some(_) => Err(DomainError::Forbidden("this consultation is for residents of another region".into())),
        }
    }
}

/// A stored one-time code: only its salted hash.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OtpCode {
    pub phone: String,
    pub salt: String,
    pub code_hash: String,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
    /// Attempts made so far (including the one being checked, once the store counted it).
    pub attempts: i64,
}

/// The salted SHA-256 of a code, as stored.
pub fn otp_hash(salt: &str, phone: &str, code: &str) -> String {
    hex::encode(Sha256::digest(format!("{salt}|{phone}|{code}").as_bytes()))
}

/// Why a code was not accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum OtpRefusal {
    /// No code was sent to this phone, or it was used.
    NoCode,
    Expired,
    TooManyAttempts,
    Wrong,
}

impl OtpCode {
    pub fn new(phone: &str, salt: &str, code: &str, now: Timestamp) -> OtpCode {
        OtpCode {
            phone: phone.to_string(),
            salt: salt.to_string(),
            code_hash: otp_hash(salt, phone, code),
            created_at: now,
            expires_at: now.plus_ms(OTP_TTL_MS),
            attempts: 0,
        }
    }

    /// Checks an entered code against this stored one, whose `attempts` already counts this
    /// attempt. Constant time in the comparison.
    pub fn check(&self, entered: &str, now: Timestamp) -> Result<(), OtpRefusal> {
        if now >= self.expires_at {
            return Err(OtpRefusal::Expired);
        }
        if self.attempts > OTP_MAX_ATTEMPTS {
            return Err(OtpRefusal::TooManyAttempts);
        }
        let entered: String = entered.chars().filter(|c| !c.is_whitespace()).collect();
        let h = otp_hash(&self.salt, &self.phone, &entered);
        let same = h.len() == self.code_hash.len() && h.bytes().zip(self.code_hash.bytes()).fold(0u8, |a, (x, y)| a | (x ^ y)) == 0;
        if same { Ok(()) } else { Err(OtpRefusal::Wrong) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::user::Role;

    fn staff(role: Role, j: &str) -> Actor {
        Actor::User { id: "s".into(), role, unit: None, jurisdiction: RegionCode::parse(j).unwrap() }
    }

    #[test]
    fn codes_expire_and_count_attempts() {
        let t0 = Timestamp(1_767_225_600_000);
        let mut c = OtpCode::new("13800138000", "salt", "123456", t0);
        c.attempts = 1;
        assert_eq!(c.check("654321", t0), Err(OtpRefusal::Wrong));
        assert_eq!(c.check(" 123 456 ", t0), Ok(()));
        assert_eq!(c.check("123456", t0.plus_ms(OTP_TTL_MS)), Err(OtpRefusal::Expired));
        c.attempts = OTP_MAX_ATTEMPTS + 1;
        assert_eq!(c.check("123456", t0), Err(OtpRefusal::TooManyAttempts));
        assert_ne!(c.code_hash, otp_hash("other", "13800138000", "123456"), "salted");
    }

    #[test]
    fn registration_and_eligibility() {
        let t0 = Timestamp(1_767_225_600_000);
        let village = RegionCode::parse("330681101001").unwrap();
        let town = RegionCode::parse("330681101000").unwrap();
        let other = RegionCode::parse("330681102001").unwrap();
        assert!(matches!(
            Resident::register(&staff(Role::Handler, "330681101000"), "13800138000", &village, t0),
            Err(DomainError::Forbidden(_))
        ));
        assert!(matches!(
            Resident::register(&staff(Role::Intake, "330681102000"), "13800138000", &village, t0),
            Err(DomainError::Forbidden(_))
        ));
        match Resident::register(&staff(Role::Intake, "330681000000"), "12", &town, t0) {
            Err(DomainError::Invalid(e)) => assert_eq!(e.len(), 2, "every problem is listed: {e:?}"),
            other => panic!("{other:?}"),
        }
        let mut r = Resident::register(&staff(Role::Intake, "330681000000"), "+86 138-0013-8000", &village, t0).unwrap();
        assert_eq!((r.phone.as_str(), r.verified_by.as_str()), ("13800138000", "user:s"));
        assert!(r.may_take_part(&town).is_ok());
        assert!(r.may_take_part(&village).is_ok());
        assert!(matches!(r.may_take_part(&other), Err(DomainError::Forbidden(_))));
        assert!(r.declare_region(&other).is_err(), "a region recorded in person stands");
        let mut s = Resident::by_code("13900139000", t0);
        assert!(s.may_take_part(&town).is_err());
        assert!(s.declare_region(&town).is_err(), "a town is not where one lives");
        s.declare_region(&other).unwrap();
        assert!(s.may_take_part(&town).is_err());
    }
}
