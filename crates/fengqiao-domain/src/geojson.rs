//! Regions as GeoJSON (RFC 7946) FeatureCollections: reading with every problem listed by
//! feature, and writing.
//!
//! Each feature is one region. Properties: `code` (12-digit division or 15-digit grid code),
//! `name`, `name_en`, `level` (county, town, village, grid; optional, checked against the
//! code), `parent` (the parent's code; checked against the code), `population`, and
//! optionally `centroid` (`[lon, lat]`, else computed from the boundary), `aliases` (known
//! places), `grid_worker` and `community_officer` (user ids).
//! The geometry is a Polygon, a MultiPolygon, or null.

use std::collections::{HashMap, HashSet};

use serde_json::{Map, Value, json};

use crate::geo::{Point, Polygon};
use crate::region::{Region, RegionCode, RegionLevel};

/// One problem with one feature (`feature` is its 0-based position; `None` for the file).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct FeatureError {
    pub feature: Option<usize>,
    pub code: Option<String>,
    pub message: String,
}

impl std::fmt::Display for FeatureError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (self.feature, &self.code) {
            (Some(i), Some(c)) => write!(f, "feature {i} ({c}): {}", self.message),
            (Some(i), None) => write!(f, "feature {i}: {}", self.message),
            (None, _) => f.write_str(&self.message),
        }
    }
}

/// Most features a file may hold; a county has tens of thousands of grids at most.
pub const MAX_FEATURES: usize = 200_000;

fn level_name(l: RegionLevel) -> &'static str {
    l.as_str()
}

fn parse_ring(v: &Value) -> Result<Vec<Point>, String> {
    let arr = v.as_array().ok_or("a ring must be an array of positions")?;
    arr.iter()
        .map(|pos| {
            let p = pos.as_array().filter(|p| p.len() >= 2).ok_or("a position must be [longitude, latitude]")?;
            match (p[0].as_f64(), p[1].as_f64()) {
                (Some(lon), Some(lat)) => Ok(Point { lon, lat }),
                _ => Err("a position must be [longitude, latitude] numbers".to_string()),
            }
        })
        .collect()
}

fn parse_polygon(v: &Value) -> Result<Polygon, String> {
    let rings = v.as_array().ok_or("polygon coordinates must be an array of rings")?;
    let mut it = rings.iter();
    let exterior = parse_ring(it.next().ok_or("a polygon needs an exterior ring")?)?;
    let holes = it.map(parse_ring).collect::<Result<Vec<_>, _>>()?;
    Ok(Polygon { exterior, holes })
}

/// The parts of a geometry: none for `null`, one for a Polygon, several for a MultiPolygon.
fn parse_geometry(g: &Value) -> Result<Vec<Polygon>, String> {
    if g.is_null() {
        return Ok(Vec::new());
    }
    let ty = g.get("type").and_then(Value::as_str).ok_or("the geometry has no type")?;
    let coords = g.get("coordinates").ok_or("the geometry has no coordinates")?;
    match ty {
        "Polygon" => Ok(vec![parse_polygon(coords)?]),
        "MultiPolygon" => {
            let polys = coords.as_array().ok_or("MultiPolygon coordinates must be an array of polygons")?;
            if polys.is_empty() {
                return Err("the MultiPolygon has no polygons".into());
            }
            polys.iter().map(parse_polygon).collect()
        }
        other => Err(format!("a region's geometry must be a Polygon or MultiPolygon, not {other}")),
    }
}

fn ring_area(r: &[Point]) -> f64 {
    r.windows(2).map(|w| w[0].lon * w[1].lat - w[1].lon * w[0].lat).sum::<f64>().abs() / 2.0
}

fn opt_string(props: &Map<String, Value>, key: &str, errs: &mut Vec<String>) -> Option<String> {
    match props.get(key) {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if s.trim().is_empty() => None,
        Some(Value::String(s)) => Some(s.trim().to_string()),
        Some(_) => {
            errs.push(format!("property '{key}' must be a string"));
            None
        }
    }
}

/// Reads a FeatureCollection of regions. `existing` are the regions already stored: a parent
/// may be there instead of in the file, and every code must lie in the deployment's county
/// (`county`, when one is set). All or nothing: any problem rejects the whole file, and every
/// problem is listed.
pub fn parse_regions(text: &str, existing: &[Region], county: Option<&RegionCode>) -> Result<Vec<Region>, Vec<FeatureError>> {
    let file_err = |m: String| vec![FeatureError { feature: None, code: None, message: m }];
    let doc: Value = serde_json::from_str(text).map_err(|e| file_err(format!("not valid JSON: {e}")))?;
    if doc.get("type").and_then(Value::as_str) != Some("FeatureCollection") {
        return Err(file_err("expected a GeoJSON FeatureCollection".into()));
    }
    let features =
        doc.get("features").and_then(Value::as_array).ok_or_else(|| file_err("the FeatureCollection has no features array".into()))?;
    if features.len() > MAX_FEATURES {
        return Err(file_err(format!("{} features; at most {MAX_FEATURES} per file", features.len())));
    }
    let mut problems = Vec::new();
    let mut regions: Vec<Region> = Vec::new();
    // Every feature whose code parses, for the checks across features (duplicates, orphans),
    // which are listed even when the feature has other problems.
    let mut coded: Vec<(usize, RegionCode, Option<String>)> = Vec::new();
    for (i, f) in features.iter().enumerate() {
        let mut errs: Vec<String> = Vec::new();
        let props = f.get("properties").and_then(Value::as_object);
        let code_text = props.and_then(|p| p.get("code")).and_then(|c| match c {
            Value::String(s) => Some(s.trim().to_string()),
            Value::Number(n) => Some(n.to_string()),
            _ => None,
        });
        let mut push = |errs: Vec<String>| {
            problems.extend(errs.into_iter().map(|m| FeatureError { feature: Some(i), code: code_text.clone(), message: m }));
        };
        if f.get("type").and_then(Value::as_str) != Some("Feature") {
            push(vec!["not a Feature".into()]);
            continue;
        }
        let Some(props) = props else {
            push(vec!["the feature has no properties".into()]);
            continue;
        };
        let code = match &code_text {
            None => {
                errs.push("property 'code' is required (a 12- or 15-digit region code, as a string)".into());
                None
            }
            Some(s) => match RegionCode::parse(s) {
                Ok(c) => {
                    coded.push((i, c.clone(), code_text.clone()));
                    Some(c)
                }
                Err(e) => {
                    errs.push(format!("code: {}", e.message));
                    None
                }
            },
        };
        let name = opt_string(props, "name", &mut errs);
        match &name {
            None => errs.push("property 'name' is required".into()),
            Some(n) if n.chars().count() > 100 => errs.push("name: at most 100 characters".into()),
            _ => {}
        }
        let name_en = opt_string(props, "name_en", &mut errs);
        let population = match props.get("population") {
            None | Some(Value::Null) => {
                errs.push("property 'population' is required (0 if unknown)".into());
                0
            }
            Some(v) => match v.as_u64() {
                Some(n) if n <= u32::MAX as u64 => n as u32,
                _ => {
                    errs.push("population must be a whole number ≥ 0".into());
                    0
                }
            },
        };
        if let (Some(code), Some(level)) = (&code, opt_string(props, "level", &mut errs))
            && level != level_name(code.level())
        {
            errs.push(format!("level '{level}' does not match the code, which is a {}", level_name(code.level())));
        }
        let parent = opt_string(props, "parent", &mut errs);
        if let Some(code) = &code {
            match (code.parent(), &parent) {
                (None, Some(p)) => errs.push(format!("a county has no parent, but parent is '{p}'")),
                (Some(want), Some(p)) if want.as_str() != p => {
                    errs.push(format!("parent '{p}' does not match the code, whose parent is {want}"))
                }
                _ => {}
            }
            if let Some(c) = county
                && !c.contains(code)
            {
                errs.push(format!("the code lies outside this deployment's county {c}"));
            }
        }
        let aliases = match props.get("aliases") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(a)) => a.iter().filter_map(|v| v.as_str()).map(|s| s.trim().to_string()).filter(|s| !s.is_empty()).collect(),
            Some(_) => {
                errs.push("aliases must be an array of strings".into());
                Vec::new()
            }
        };
        let given_centroid = match props.get("centroid") {
            None | Some(Value::Null) => None,
            Some(v) => match v.as_array().map(|a| a.iter().filter_map(Value::as_f64).collect::<Vec<_>>()) {
                Some(c) if c.len() == 2 && Point::parse(c[0], c[1]).is_ok() => Some(Point { lon: c[0], lat: c[1] }),
                _ => {
                    errs.push("centroid must be [longitude, latitude]".into());
                    None
                }
            },
        };
        let grid_worker = opt_string(props, "grid_worker", &mut errs);
        let community_officer = opt_string(props, "community_officer", &mut errs);
        let parts = match f.get("geometry") {
            None => {
                errs.push("the feature has no geometry member (use null for none)".into());
                Vec::new()
            }
            Some(g) => match parse_geometry(g) {
                Ok(parts) => {
                    for (j, p) in parts.iter().enumerate() {
                        for m in p.problems() {
                            errs.push(if parts.len() > 1 { format!("polygon {j}: {m}") } else { m });
                        }
                    }
                    parts
                }
                Err(m) => {
                    errs.push(m);
                    Vec::new()
                }
            },
        };
        if !errs.is_empty() {
            push(errs);
            continue;
        }
        let (Some(code), Some(name)) = (code, name) else { continue };
        // The largest part is the boundary; the rest are further parts.
        let mut parts = parts;
        parts.sort_by(|a, b| ring_area(&b.exterior).total_cmp(&ring_area(&a.exterior)));
        let mut parts = parts.into_iter();
        let boundary = parts.next();
        let centroid = given_centroid.or_else(|| boundary.as_ref().map(Polygon::centroid));
        let mut r = Region::new(code, name, population);
        r.name_en = name_en;
        r.centroid = centroid;
        r.boundary = boundary;
        r.parts = parts.collect();
        r.aliases = aliases;
        r.grid_worker = grid_worker;
        r.community_officer = community_officer;
        regions.push(r);
    }
    // A file in another place, or with longitude and latitude swapped, lies outside the
    // county: every boundary must at least overlap the county's bounding box.
    let county_box = regions
        .iter()
        .chain(existing.iter())
        .find(|r| r.level() == RegionLevel::County && r.boundary.is_some())
        .and_then(|r| r.boundary.as_ref())
        .map(Polygon::bbox);
    if let Some((lo, hi)) = county_box {
        for r in &regions {
            if r.level() == RegionLevel::County {
                continue;
            }
            let outside =
                r.polygons().map(Polygon::bbox).any(|(a, b)| b.lon < lo.lon || a.lon > hi.lon || b.lat < lo.lat || a.lat > hi.lat);
            if outside {
                let i = coded.iter().find(|(_, c, _)| *c == r.code).map(|(i, _, _)| *i);
                problems.push(FeatureError {
                    feature: i,
                    code: Some(r.code.as_str().to_string()),
                    message: "the boundary lies outside the county's (are longitude and latitude swapped?)".into(),
                });
            }
        }
    }
    // Across features: duplicates and orphans.
    let mut seen: HashMap<String, usize> = HashMap::new();
    for (i, code, text) in &coded {
        if let Some(first) = seen.get(code.as_str()) {
            problems.push(FeatureError { feature: Some(*i), code: text.clone(), message: format!("the code repeats feature {first}") });
        } else {
            seen.insert(code.as_str().to_string(), *i);
        }
    }
    let known: HashSet<&str> = coded.iter().map(|(_, c, _)| c.as_str()).chain(existing.iter().map(|r| r.code.as_str())).collect();
    for (i, code, text) in &coded {
        if let Some(p) = code.parent()
            && !known.contains(p.as_str())
        {
            problems.push(FeatureError {
                feature: Some(*i),
                code: text.clone(),
                message: format!("orphan: its parent {p} is neither in the file nor already stored"),
            });
        }
    }
    if !problems.is_empty() {
        problems.sort_by_key(|p| p.feature);
        return Err(problems);
    }
    Ok(regions)
}

fn ring_json(r: &[Point]) -> Value {
    Value::Array(r.iter().map(|p| json!([p.lon, p.lat])).collect())
}

fn polygon_json(p: &Polygon) -> Value {
    Value::Array(std::iter::once(&p.exterior).chain(p.holes.iter()).map(|r| ring_json(r)).collect())
}

/// Writes regions as a FeatureCollection that [`parse_regions`] reads back unchanged.
pub fn to_feature_collection<'a>(regions: impl IntoIterator<Item = &'a Region>) -> Value {
    let features: Vec<Value> = regions
        .into_iter()
        .map(|r| {
            let polys: Vec<&Polygon> = r.polygons().collect();
            let geometry = match polys.len() {
                0 => Value::Null,
                1 => json!({"type": "Polygon", "coordinates": polygon_json(polys[0])}),
                _ => json!({"type": "MultiPolygon", "coordinates": polys.iter().map(|p| polygon_json(p)).collect::<Vec<_>>()}),
            };
            let mut props = Map::new();
            props.insert("code".into(), json!(r.code.as_str()));
            props.insert("name".into(), json!(r.name));
            if let Some(en) = &r.name_en {
                props.insert("name_en".into(), json!(en));
            }
            props.insert("level".into(), json!(level_name(r.level())));
            props.insert("parent".into(), r.code.parent().map(|p| json!(p.as_str())).unwrap_or(Value::Null));
            props.insert("population".into(), json!(r.population));
            if let Some(c) = r.centroid {
                props.insert("centroid".into(), json!([c.lon, c.lat]));
            }
            if !r.aliases.is_empty() {
                props.insert("aliases".into(), json!(r.aliases));
            }
            if let Some(w) = &r.grid_worker {
                props.insert("grid_worker".into(), json!(w));
            }
            if let Some(o) = &r.community_officer {
                props.insert("community_officer".into(), json!(o));
            }
            json!({"type": "Feature", "properties": props, "geometry": geometry})
        })
        .collect();
    json!({"type": "FeatureCollection", "features": features})
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sq(x: f64, y: f64, s: f64) -> Value {
        json!([[[x, y], [x + s, y], [x + s, y + s], [x, y + s], [x, y]]])
    }

    fn feature(code: &str, parent: Option<&str>, geom: Value) -> Value {
        json!({"type": "Feature", "properties": {"code": code, "name": format!("R{code}"), "parent": parent, "population": 10}, "geometry": geom})
    }

    #[test]
    fn a_good_file_round_trips() {
        let fc = json!({"type": "FeatureCollection", "features": [
            feature("330681000000", None, json!({"type": "Polygon", "coordinates": sq(0.0, 0.0, 10.0)})),
            feature("330681101000", Some("330681000000"), json!({"type": "MultiPolygon", "coordinates": [sq(0.0, 0.0, 5.0), sq(6.0, 6.0, 1.0)]})),
            feature("330681101201", Some("330681101000"), Value::Null),
        ]});
        let regions = parse_regions(&fc.to_string(), &[], None).unwrap();
        assert_eq!(regions.len(), 3);
        assert_eq!(regions[1].parts.len(), 1, "the smaller polygon is a further part");
        assert!(regions[1].contains(Point { lon: 6.5, lat: 6.5 }));
        let again = parse_regions(&to_feature_collection(&regions).to_string(), &[], None).unwrap();
        assert_eq!(again, regions);
    }

    #[test]
    fn every_problem_is_listed_by_feature() {
        let fc = json!({"type": "FeatureCollection", "features": [
            feature("330681000000", None, json!({"type": "Polygon", "coordinates": sq(0.0, 0.0, 10.0)})),
            // Parent does not match the code.
            feature("330681101000", Some("330682000000"), Value::Null),
            // Orphan: its town is nowhere.
            feature("330681102201", Some("330681102000"), Value::Null),
            // Latitude and longitude swapped puts it far from the county.
            feature("330681101203", Some("330681101000"), json!({"type": "Polygon", "coordinates": sq(5.0, 60.0, 0.1)})),
            // A bow-tie ring and an unclosed one.
            feature("330681101201", Some("330681101000"), json!({"type": "Polygon", "coordinates": [[[0,0],[1,1],[1,0],[0,1],[0,0]]]})),
            feature("330681101202", Some("330681101000"), json!({"type": "Polygon", "coordinates": [[[0,0],[1,0],[1,1],[0,1]]]})),
            // Bad code, missing name and population, wrong geometry type.
            json!({"type": "Feature", "properties": {"code": "12345"}, "geometry": {"type": "Point", "coordinates": [0, 0]}}),
            // Duplicate.
            feature("330681000000", None, Value::Null),
        ]});
        let errs = parse_regions(&fc.to_string(), &[], None).unwrap_err();
        let text: Vec<String> = errs.iter().map(|e| e.to_string()).collect();
        let has = |needle: &str| assert!(text.iter().any(|t| t.contains(needle)), "missing '{needle}' in {text:#?}");
        has("feature 1 (330681101000): parent '330682000000' does not match");
        has("feature 2 (330681102201): orphan");
        has("feature 3 (330681101203): the boundary lies outside the county's (are longitude and latitude swapped?)");
        has("feature 4 (330681101201): exterior ring crosses itself");
        has("feature 5 (330681101202): exterior ring is not closed");
        has("feature 6 (12345): code:");
        has("feature 6 (12345): property 'name' is required");
        has("feature 6 (12345): property 'population' is required");
        has("feature 6 (12345): a region's geometry must be a Polygon or MultiPolygon, not Point");
        has("feature 7 (330681000000): the code repeats feature 0");
    }

    #[test]
    fn codes_outside_the_county_and_stored_parents() {
        let county = RegionCode::parse("330681000000").unwrap();
        let stored = vec![Region::new(county.clone(), "县", 0), Region::new(RegionCode::parse("330681101000").unwrap(), "镇", 0)];
        let fc = json!({"type": "FeatureCollection", "features": [
            feature("330681101201", Some("330681101000"), Value::Null),
            feature("330682101000", Some("330682000000"), Value::Null),
        ]});
        let errs = parse_regions(&fc.to_string(), &stored, Some(&county)).unwrap_err();
        assert!(errs.iter().all(|e| e.feature == Some(1)), "the village's parent is stored: {errs:?}");
        assert!(errs.iter().any(|e| e.message.contains("outside this deployment's county")), "{errs:?}");
        assert!(parse_regions("{\"type\":\"Feature\"}", &[], None).unwrap_err()[0].message.contains("FeatureCollection"));
        assert!(parse_regions("not json", &[], None).unwrap_err()[0].message.contains("not valid JSON"));
    }
}
