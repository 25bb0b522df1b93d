//! Regions: county → town → village or community → grid, identified by statistical division
//! codes (12 digits: county 6 + township 3 + village 3) and grid codes (15 digits: the
//! village's 12 + grid 3).
//!
//! The code alone gives the level and the parent, and a subtree is every code that starts with
//! the region's significant prefix, so "cases in this town" is a range scan on an index.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::error::FieldError;
use crate::geo::{Point, Polygon};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RegionLevel {
    County,
    Town,
    /// Village (村) or urban community (社区).
    Village,
    Grid,
}

impl RegionLevel {
    pub fn as_str(self) -> &'static str {
        match self {
            RegionLevel::County => "county",
            RegionLevel::Town => "town",
            RegionLevel::Village => "village",
            RegionLevel::Grid => "grid",
        }
    }
}

/// A validated 12-digit division code or 15-digit grid code.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct RegionCode(String);

impl RegionCode {
    pub fn parse(s: &str) -> Result<RegionCode, FieldError> {
        let s = s.trim();
        if !(s.len() == 12 || s.len() == 15) || !s.bytes().all(|b| b.is_ascii_digit()) {
            return Err(FieldError::new("region", "a region code is 12 digits (statistical division) or 15 digits (grid)"));
        }
        if &s[..6] == "000000" || &s[..2] == "00" {
            return Err(FieldError::new("region", "the first 6 digits must name a county"));
        }
        if &s[6..9] == "000" && &s[9..12] != "000" {
            return Err(FieldError::new("region", "a village code needs a township code (digits 7-9)"));
        }
        let code = RegionCode(s.to_string());
        if code.level() == RegionLevel::Grid && &s[12..15] == "000" {
            return Err(FieldError::new("region", "grid number 000 is not a grid"));
        }
        if s.len() == 15 && &s[9..12] == "000" {
            return Err(FieldError::new("region", "a grid code must extend a village or community code"));
        }
        Ok(code)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn level(&self) -> RegionLevel {
        let s = &self.0;
        if s.len() == 15 {
            RegionLevel::Grid
        } else if &s[6..9] == "000" {
            RegionLevel::County
        } else if &s[9..12] == "000" {
            RegionLevel::Town
        } else {
            RegionLevel::Village
        }
    }

    /// The digits every code in this region's subtree starts with.
    pub fn prefix(&self) -> &str {
        match self.level() {
            RegionLevel::County => &self.0[..6],
            RegionLevel::Town => &self.0[..9],
            RegionLevel::Village => &self.0[..12],
            RegionLevel::Grid => &self.0,
        }
    }

    /// The region one level up, or `None` for a county.
    pub fn parent(&self) -> Option<RegionCode> {
        match self.level() {
            RegionLevel::County => None,
            RegionLevel::Town => Some(RegionCode(format!("{}000000", &self.0[..6]))),
            RegionLevel::Village => Some(RegionCode(format!("{}000", &self.0[..9]))),
            RegionLevel::Grid => Some(RegionCode(self.0[..12].to_string())),
        }
    }

    /// The region at `level` that contains this one (itself if the levels match).
    pub fn ancestor_at(&self, level: RegionLevel) -> Option<RegionCode> {
        let mut c = self.clone();
        loop {
            if c.level() == level {
                return Some(c);
            }
            c = c.parent()?;
        }
    }

    pub fn contains(&self, other: &RegionCode) -> bool {
        other.0.starts_with(self.prefix())
    }
}

impl fmt::Display for RegionCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for RegionCode {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        RegionCode::parse(&s).map_err(|e| e.message)
    }
}

impl From<RegionCode> for String {
    fn from(c: RegionCode) -> String {
        c.0
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Region {
    pub code: RegionCode,
    pub name: String,
    #[serde(default)]
    pub name_en: Option<String>,
    pub population: u32,
    #[serde(default)]
    pub centroid: Option<Point>,
    /// The boundary (the largest part when the region has several).
    #[serde(default)]
    pub boundary: Option<Polygon>,
    /// Further parts of a multi-part boundary (islands, exclaves).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub parts: Vec<Polygon>,
    /// Other names residents use for the place or for landmarks in it (a market, a school, an
    /// old village name): the gazetteer places an address that mentions one here.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub aliases: Vec<String>,
    /// The grid worker (网格员) responsible for a grid: a user id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grid_worker: Option<String>,
    /// The community police officer (社区民警) responsible for it: a user id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub community_officer: Option<String>,
}

impl Region {
    /// A region without a boundary or people attached.
    pub fn new(code: RegionCode, name: impl Into<String>, population: u32) -> Region {
        Region {
            code,
            name: name.into(),
            name_en: None,
            population,
            centroid: None,
            boundary: None,
            parts: Vec::new(),
            aliases: Vec::new(),
            grid_worker: None,
            community_officer: None,
        }
    }

    pub fn level(&self) -> RegionLevel {
        self.code.level()
    }

    /// Every part of the boundary.
    pub fn polygons(&self) -> impl Iterator<Item = &Polygon> {
        self.boundary.iter().chain(self.parts.iter())
    }

    pub fn contains(&self, p: Point) -> bool {
        self.polygons().any(|poly| poly.contains(p))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_parents_and_prefixes() {
        let county = RegionCode::parse("330681000000").unwrap();
        let town = RegionCode::parse("330681101000").unwrap();
        let village = RegionCode::parse("330681101203").unwrap();
        let grid = RegionCode::parse("330681101203004").unwrap();
        assert_eq!(county.level(), RegionLevel::County);
        assert_eq!(town.level(), RegionLevel::Town);
        assert_eq!(village.level(), RegionLevel::Village);
        assert_eq!(grid.level(), RegionLevel::Grid);
        assert_eq!(grid.parent(), Some(village.clone()));
        assert_eq!(village.parent(), Some(town.clone()));
        assert_eq!(town.parent(), Some(county.clone()));
        assert!(county.contains(&grid) && town.contains(&grid) && !town.contains(&county));
        assert_eq!(grid.ancestor_at(RegionLevel::Town), Some(town));
    }

    #[test]
    fn rejects_malformed_codes() {
        for bad in ["", "33068110120", "3306811012030", "33068110120a", "330681101000000", "000000000000"] {
            assert!(RegionCode::parse(bad).is_err(), "{bad} should be rejected");
        }
    }
}
