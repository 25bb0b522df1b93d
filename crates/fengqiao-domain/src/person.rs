//! People as parties and reporters. Their personal data (names, phones, ID numbers, addresses)
//! lives apart from cases and the event log, which only refer to a person's id, so a lawful
//! erasure removes the data without breaking the hash chain.

use serde::{Deserialize, Serialize};

use crate::error::FieldError;

/// Personal details as they arrive at intake.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PersonInput {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub phone: Option<String>,
    #[serde(default)]
    pub id_number: Option<String>,
    #[serde(default)]
    pub address: Option<String>,
    /// Residents who use an app often give an email address and no phone.
    #[serde(default)]
    pub email: Option<String>,
    /// An organisation rather than a natural person.
    #[serde(default)]
    pub organisation: bool,
}

/// The key that says two records are the same person, for repeat detection: the normalised
/// resident ID number when there is one, else the normalised name and phone.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct IdentityKey(pub String);

/// Digits only, without the +86 / 0086 country prefix.
pub fn normalise_phone(p: &str) -> Result<String, FieldError> {
    let digits: String = p.chars().filter(|c| c.is_ascii_digit()).collect();
    let d = digits
        .strip_prefix("0086")
        .or_else(|| if p.trim_start().starts_with('+') { digits.strip_prefix("86") } else { None })
        .unwrap_or(&digits);
    if d.len() < 5 || d.len() > 15 {
        return Err(FieldError::new("phone", "a phone number has 5 to 15 digits"));
    }
    Ok(d.to_string())
}

/// A mainland resident ID number: 18 characters, the last a check character (GB 11643).
pub fn normalise_id_number(s: &str) -> Result<String, FieldError> {
    let n: String = s.chars().filter(|c| !c.is_whitespace()).collect::<String>().to_ascii_uppercase();
    let bad = || FieldError::new("id_number", "a resident ID number has 17 digits and a check character");
    // ASCII first: 18 bytes of other characters would make `n[..17]` cut one in half.
    if n.len() != 18 || !n.is_ascii() || !n[..17].bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    const W: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
    let sum: u32 = n[..17].bytes().zip(W).map(|(b, w)| (b - b'0') as u32 * w).sum();
    let check = b"10X98765432"[(sum % 11) as usize];
    if n.as_bytes()[17] != check {
        return Err(FieldError::new("id_number", "the check character of the ID number does not match"));
    }
    Ok(n)
}

/// An email address as typed, checked for the shape `local@domain.tld` (at most 254
/// characters, no spaces); the domain is lowercased, the local part kept as given.
pub fn normalise_email(e: &str) -> Result<String, FieldError> {
    let bad = || FieldError::new("email", "an email address looks like name@example.org");
    if e.chars().count() > 254 || e.chars().any(char::is_whitespace) {
        return Err(bad());
    }
    let (local, domain) = e.rsplit_once('@').ok_or_else(bad)?;
    let labels: Vec<&str> = domain.split('.').collect();
    if local.is_empty() || local.contains('@') || labels.len() < 2 || labels.iter().any(|l| l.is_empty()) {
        return Err(bad());
    }
    Ok(format!("{local}@{}", domain.to_lowercase()))
}

/// The check character for 17 digits, for generating valid demo ID numbers.
pub fn id_check_char(first17: &str) -> char {
    const W: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
    let sum: u32 = first17.bytes().zip(W).map(|(b, w)| (b - b'0') as u32 * w).sum();
    b"10X98765432"[(sum % 11) as usize] as char
}

impl PersonInput {
    /// Trims and validates, returning the cleaned input and its identity key (if it has one).
    pub fn normalise(mut self, field: &str) -> Result<(PersonInput, Option<IdentityKey>), Vec<FieldError>> {
        let mut errs = Vec::new();
        let tidy = |o: Option<String>| o.map(|s| s.trim().to_string()).filter(|s| !s.is_empty());
        self.name = tidy(self.name);
        self.phone = tidy(self.phone);
        self.id_number = tidy(self.id_number);
        self.address = tidy(self.address);
        self.email = tidy(self.email);
        if let Some(e) = &self.email {
            match normalise_email(e) {
                Ok(e) => self.email = Some(e),
                Err(e) => errs.push(FieldError::new(format!("{field}.email"), e.message)),
            }
        }
        for (v, name) in [(&self.name, "name"), (&self.address, "address")] {
            if v.as_ref().is_some_and(|s| s.chars().count() > 200) {
                errs.push(FieldError::new(format!("{field}.{name}"), "at most 200 characters"));
            }
        }
        if let Some(p) = &self.phone {
            match normalise_phone(p) {
                Ok(p) => self.phone = Some(p),
                Err(e) => errs.push(FieldError::new(format!("{field}.phone"), e.message)),
            }
        }
        if let Some(n) = &self.id_number {
            match normalise_id_number(n) {
                Ok(n) => self.id_number = Some(n),
                Err(e) => errs.push(FieldError::new(format!("{field}.id_number"), e.message)),
            }
        }
        if !errs.is_empty() {
            return Err(errs);
        }
        let key = if let Some(id) = &self.id_number {
            Some(IdentityKey(format!("id:{id}")))
        } else {
            match (&self.name, &self.phone) {
                (Some(n), Some(p)) => {
                    let n: String = n.chars().filter(|c| !c.is_whitespace()).flat_map(char::to_lowercase).collect();
                    Some(IdentityKey(format!("np:{n}|{p}")))
                }
                _ => None,
            }
        };
        Ok((self, key))
    }
}

/// Masks all but the last four characters (phones) or all but the first six and last four
/// (ID numbers) for roles that do not need them.
pub fn mask(s: &str) -> String {
    let chars: Vec<char> = s.chars().collect();
    let n = chars.len();
    if n <= 4 {
        return "*".repeat(n);
    }
    let keep_head = if n >= 15 { 6 } else { 3.min(n - 4) };
    chars.iter().enumerate().map(|(i, c)| if i < keep_head || i >= n - 4 { *c } else { '*' }).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails() {
        assert_eq!(normalise_email("Wang.Wu@Example.ORG").unwrap(), "Wang.Wu@example.org");
        for bad in ["", "wang", "@example.org", "wang@", "wang@example", "wang@@example.org", "wang wu@example.org", "wang@example..org"] {
            assert!(normalise_email(bad).is_err(), "{bad}");
        }
        let p = PersonInput { email: Some(" not-an-address ".into()), ..Default::default() };
        let errs = p.normalise("reporter").unwrap_err();
        assert_eq!(errs[0].field, "reporter.email");
    }

    #[test]
    fn id_numbers_and_phones() {
        let first = "11010519491231002";
        let id = format!("{first}{}", id_check_char(first));
        assert_eq!(id, "11010519491231002X");
        assert!(normalise_id_number(&id.to_lowercase()).is_ok());
        assert!(normalise_id_number("110105194912310021").is_err());
        // 18 bytes, a two-byte character across the 17th: refused, not a panic.
        assert!(normalise_id_number("1101051949123100À").is_err());
        assert_eq!(normalise_phone("+86 138-0013-8000").unwrap(), "13800138000");
        assert_eq!(mask("13800138000"), "138****8000");
        assert_eq!(mask(&id), "110105********002X");
    }

    #[test]
    fn identity_key_prefers_id_number() {
        let p = PersonInput { name: Some(" 张 三 ".into()), phone: Some("13800138000".into()), ..Default::default() };
        let (_, k) = p.normalise("reporter").unwrap();
        assert_eq!(k.unwrap().0, "np:张三|13800138000");
    }
}
