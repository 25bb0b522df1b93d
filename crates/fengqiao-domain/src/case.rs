//! Cases: one resident request, complaint or dispute, from intake to closure.

use serde::{Deserialize, Serialize};

use crate::category::{Category, CategoryKind};
use crate::clock::Timestamp;
use crate::error::{DomainError, FieldError};
use crate::geo::{Crs, Point, gcj02_to_wgs84};
use crate::person::PersonInput;
use crate::region::{Region, RegionCode};
use crate::unit::UnitId;

/// The internal case id. Never shown to residents: they get a [`TrackingCode`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct CaseId(pub i64);

/// A resident-facing tracking code: 12 characters of Crockford base32 carrying 60 random bits,
/// so it reveals neither the case id nor how many cases exist, and cannot be guessed.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct TrackingCode(String);

const CROCKFORD: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";

impl TrackingCode {
    /// Builds a code from 8 random bytes (the caller owns the randomness; 60 bits are used).
    pub fn from_random(bytes: [u8; 8]) -> TrackingCode {
        let mut v = u64::from_le_bytes(bytes) & ((1u64 << 60) - 1);
        let mut out = [0u8; 12];
        for slot in out.iter_mut().rev() {
            *slot = CROCKFORD[(v & 31) as usize];
            v >>= 5;
        }
        TrackingCode(String::from_utf8_lossy(&out).into_owned())
    }

    /// Accepts lower case, dashes and spaces, and the letters Crockford maps (O→0, I/L→1).
    pub fn parse(s: &str) -> Option<TrackingCode> {
        let mut out = String::with_capacity(12);
        for c in s.chars().filter(|c| *c != '-' && !c.is_whitespace()) {
            let c = match c.to_ascii_uppercase() {
                'O' => '0',
                'I' | 'L' => '1',
                c => c,
            };
            if !CROCKFORD.contains(&(c as u8)) || !c.is_ascii() {
                return None;
            }
            out.push(c);
        }
        (out.len() == 12).then_some(TrackingCode(out))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

macro_rules! str_enum {
    ($(#[$m:meta])* $name:ident { $($(#[$vm:meta])* $v:ident = $s:literal),+ $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        pub enum $name { $($(#[$vm])* #[serde(rename = $s)] $v),+ }
        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$v),+];
            pub fn as_str(self) -> &'static str { match self { $($name::$v => $s),+ } }
            pub fn parse(s: &str) -> Option<$name> { match s { $($s => Some($name::$v),)+ _ => None } }
        }
        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result { f.write_str(self.as_str()) }
        }
    };
}

str_enum!(
    /// How a case reached us.
    Channel {
        Web = "web",
        /// Phone, including transfers from the 12345 hotline.
        Phone = "phone",
        Hotline12345 = "hotline_12345",
        Counter = "counter",
        /// Found by a grid worker or officer on patrol.
        Patrol = "patrol",
        /// Found on a home visit (走访).
        Visit = "visit",
        Import = "import",
        Api = "api",
    }
);

str_enum!(Urgency { Routine = "routine", Urgent = "urgent", Emergency = "emergency" });

str_enum!(Severity { Minor = "minor", Ordinary = "ordinary", Serious = "serious", Major = "major" });

str_enum!(
    /// The tier that handles a case: small matters in the village, big ones in the town, the
    /// hardest at the county.
    Tier { Village = "village", Town = "town", County = "county" }
);

str_enum!(
    /// The lifecycle stages (GB/T 30428 and local practice).
    Status {
        Received = "received",
        Filed = "filed",
        Cancelled = "cancelled",
        Dispatched = "dispatched",
        Accepted = "accepted",
        InProgress = "in_progress",
        /// 缓办: deadlines paused.
        Deferred = "deferred",
        Resolved = "resolved",
        /// 回访: the reporter or each party is being contacted.
        ReturnVisit = "return_visit",
        Closed = "closed",
        Merged = "merged",
    }
);

impl Status {
    /// Terminal for day-to-day work (a closed case may still be reopened).
    pub fn is_open(self) -> bool {
        !matches!(self, Status::Closed | Status::Cancelled | Status::Merged)
    }
}

str_enum!(PartyRole { Applicant = "applicant", Respondent = "respondent", ThirdParty = "third_party", Representative = "representative" });

str_enum!(Rating { Satisfied = "satisfied", BasicallySatisfied = "basically_satisfied", Dissatisfied = "dissatisfied" });

impl Rating {
    pub fn is_satisfied(self) -> bool {
        !matches!(self, Rating::Dissatisfied)
    }
}

str_enum!(ContactChannel { Phone = "phone", Sms = "sms", InPerson = "in_person", Web = "web", Letter = "letter" });

str_enum!(
    /// Why a case closed without a rating. Such closures are excluded from satisfaction.
    ClosureFlag { Anonymous = "anonymous", Unreachable = "unreachable" }
);

/// A party to a dispute; the person's details live in the person store.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Party {
    pub person_id: i64,
    pub role: PartyRole,
    #[serde(default)]
    pub organisation: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Location {
    #[serde(default)]
    pub point: Option<Point>,
    #[serde(default)]
    pub address: Option<String>,
}

/// One contact attempt of a return visit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Visit {
    pub at: Timestamp,
    pub by: String,
    pub channel: ContactChannel,
    /// The party contacted (a person id), or `None` for the reporter.
    #[serde(default)]
    pub party: Option<i64>,
    pub reached: bool,
    #[serde(default)]
    pub rating: Option<Rating>,
    #[serde(default)]
    pub comment: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExtensionRequest {
    pub hours: u32,
    pub reason: String,
    pub requested_at: Timestamp,
    pub by: String,
}

/// The current state of a case, rebuilt from its events by [`Case::replay`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Case {
    pub id: CaseId,
    pub tracking_code: TrackingCode,
    pub category: String,
    pub kind: CategoryKind,
    pub channel: Channel,
    pub status: Status,
    pub urgency: Urgency,
    pub severity: Severity,
    pub tier: Tier,
    pub first_tier: Tier,
    pub region: RegionCode,
    pub location: Location,
    pub title: String,
    pub description: String,
    #[serde(default)]
    pub answers: serde_json::Map<String, serde_json::Value>,
    /// `None` when the reporter stayed anonymous.
    pub reporter: Option<i64>,
    pub parties: Vec<Party>,
    pub lead_unit: Option<UnitId>,
    pub co_units: Vec<UnitId>,
    /// Incremented by every event; the optimistic-concurrency token.
    pub version: i64,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub dispatched_at: Option<Timestamp>,
    pub accepted_at: Option<Timestamp>,
    pub resolved_at: Option<Timestamp>,
    pub closed_at: Option<Timestamp>,
    pub response_due: Option<Timestamp>,
    pub handling_due: Option<Timestamp>,
    pub visit_due: Option<Timestamp>,
    /// The deadline of the tier a case was escalated to (the handling span from the
    /// escalation): what climbs it again. Not a figure: the handling deadline stays the case's.
    #[serde(default)]
    pub tier_due: Option<Timestamp>,
    pub deferred_since: Option<Timestamp>,
    pub deferred_ms: i64,
    pub was_deferred: bool,
    /// A round of handling before a reopening missed its handling or return-visit deadline.
    /// A reopening sets fresh deadlines for the new round; this keeps the miss in the on-time
    /// figure, so reopening never erases a breach.
    #[serde(default)]
    pub missed_deadline: bool,
    pub extension: Option<ExtensionRequest>,
    pub visits: Vec<Visit>,
    pub closure_flag: Option<ClosureFlag>,
    /// The worst of the latest ratings of every party asked, at closure.
    pub final_rating: Option<Rating>,
    /// The worst rating given at the first return visit, before any rework or reopening:
    /// what the satisfaction rate counts, since a case only closes once ratings are good.
    #[serde(default)]
    pub first_rating: Option<Rating>,
    pub transfers: u32,
    pub escalations: u32,
    /// Times a higher tier handed the case back down (it still counts as escalated).
    #[serde(default)]
    pub returns: u32,
    pub reworks: u32,
    pub reopens: u32,
    pub merged_into: Option<CaseId>,
    pub cancel_reason: Option<String>,
    pub resolution: Option<String>,
    /// The latest routing decision and its trace; a filed case whose decision names no lead
    /// waits in the triage queue.
    #[serde(default)]
    pub routing: Option<crate::routing::RouteDecision>,
    /// A transfer the target has not accepted yet; contested once the target rejects it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transfer: Option<PendingTransfer>,
    /// One task per co-handling unit, each with its own deadline.
    #[serde(default)]
    pub tasks: Vec<CoTask>,
}

/// A case as submitted, before validation.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct CaseDraft {
    pub category: String,
    #[serde(default)]
    pub channel: Option<String>,
    #[serde(default)]
    pub title: Option<String>,
    pub description: String,
    #[serde(default)]
    pub urgency: Option<String>,
    #[serde(default)]
    pub severity: Option<String>,
    #[serde(default)]
    pub region: Option<String>,
    #[serde(default)]
    pub lat: Option<f64>,
    #[serde(default)]
    pub lon: Option<f64>,
    #[serde(default)]
    pub crs: Option<Crs>,
    #[serde(default)]
    pub address: Option<String>,
    #[serde(default)]
    pub anonymous: bool,
    #[serde(default, deserialize_with = "person_object")]
    pub reporter: Option<PersonInput>,
    #[serde(default)]
    pub parties: Vec<PartyDraft>,
    #[serde(default)]
    pub answers: serde_json::Map<String, serde_json::Value>,
}

/// A reporter is an object or null: serde would also take a struct from a list of its fields
/// in order (`[null, null]`), which no client means.
fn person_object<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<PersonInput>, D::Error> {
    use serde::de::Error;
    match serde_json::Value::deserialize(d)? {
        serde_json::Value::Null => Ok(None),
        v @ serde_json::Value::Object(_) => serde_json::from_value(v).map(Some).map_err(D::Error::custom),
        _ => Err(D::Error::custom("reporter: expected an object with name, phone, id_number, address")),
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PartyDraft {
    pub role: String,
    #[serde(flatten)]
    pub person: PersonInput,
}

/// A validated new case. Persons are still inputs: the store turns them into ids.
#[derive(Debug, Clone)]
pub struct NewCase {
    pub category: String,
    pub kind: CategoryKind,
    pub channel: Channel,
    pub title: String,
    pub description: String,
    pub urgency: Urgency,
    pub severity: Severity,
    pub tier: Tier,
    pub region: RegionCode,
    pub location: Location,
    pub reporter: Option<(PersonInput, Option<crate::IdentityKey>)>,
    pub parties: Vec<(PartyRole, PersonInput, Option<crate::IdentityKey>)>,
    pub answers: serde_json::Map<String, serde_json::Value>,
}

pub const MAX_DESCRIPTION_CHARS: usize = 4000;
pub const MAX_TITLE_CHARS: usize = 120;

/// What validation needs to know about the world.
pub struct IntakeContext<'a> {
    pub category: Option<&'a Category>,
    /// The region named in the draft, if it exists.
    pub region: Option<&'a Region>,
    /// The deployment's county, whose boundary every point must fall inside.
    pub county: &'a Region,
    /// The region containing the point, when a point was given and the regions have
    /// boundaries; `None` if not found.
    pub region_of_point: Option<RegionCode>,
    /// The region the address names (the gazetteer's answer), if any.
    pub region_of_address: Option<RegionCode>,
    /// The channel to use when the draft names none (the API key's or the route's).
    pub default_channel: Channel,
    /// The escalation ladder's starting tiers; `None`: by severity alone.
    pub ladder: Option<&'a crate::escalation::EscalationLadder>,
}

/// The tier a new case starts at, from its severity: minor and ordinary matters are settled in
/// the village, serious ones in the town, major ones at the county.
pub fn starting_tier(sev: Severity) -> Tier {
    match sev {
        Severity::Minor | Severity::Ordinary => Tier::Village,
        Severity::Serious => Tier::Town,
        Severity::Major => Tier::County,
    }
}

impl CaseDraft {
    /// The draft's point in WGS84 (converted from GCJ-02 when `crs` says so), if it has one.
    pub fn point(&self) -> Option<Result<Point, FieldError>> {
        match (self.lat, self.lon) {
            (None, None) => None,
            (Some(lat), Some(lon)) => {
                Some(Point::parse(lon, lat).map(|p| if self.crs == Some(Crs::Gcj02) { gcj02_to_wgs84(p) } else { p }))
            }
            _ => Some(Err(FieldError::new("location", "give both lat and lon, or neither"))),
        }
    }

    /// Turns a draft into a [`NewCase`], listing every problem at once.
    pub fn validate(self, cx: &IntakeContext<'_>) -> Result<NewCase, DomainError> {
        let point = self.point();
        let mut errs: Vec<FieldError> = Vec::new();
        let category = match cx.category {
            Some(c) => Some(c),
            None => {
                errs.push(FieldError::new("category", format!("unknown category '{}'", self.category)));
                None
            }
        };
        let channel = match self.channel.as_deref() {
            None | Some("") => cx.default_channel,
            Some(s) => Channel::parse(s).unwrap_or_else(|| {
                errs.push(FieldError::new("channel", "unknown channel"));
                cx.default_channel
            }),
        };
        let urgency = match self.urgency.as_deref() {
            None | Some("") => {
                if category.is_some_and(|c| c.emergency) {
                    Urgency::Emergency
                } else {
                    Urgency::Routine
                }
            }
            Some(s) => Urgency::parse(s).unwrap_or_else(|| {
                errs.push(FieldError::new("urgency", "expected routine, urgent or emergency"));
                Urgency::Routine
            }),
        };
        let severity = match self.severity.as_deref() {
            None | Some("") => Severity::Ordinary,
            Some(s) => Severity::parse(s).unwrap_or_else(|| {
                errs.push(FieldError::new("severity", "expected minor, ordinary, serious or major"));
                Severity::Ordinary
            }),
        };
        let description = self.description.trim().to_string();
        if description.is_empty() {
            errs.push(FieldError::new("description", "describe the matter"));
        } else if description.chars().count() > MAX_DESCRIPTION_CHARS {
            errs.push(FieldError::new("description", format!("at most {MAX_DESCRIPTION_CHARS} characters")));
        }
        let title = match self.title.map(|t| t.trim().to_string()).filter(|t| !t.is_empty()) {
            Some(t) if t.chars().count() > MAX_TITLE_CHARS => {
                errs.push(FieldError::new("title", format!("at most {MAX_TITLE_CHARS} characters")));
                t
            }
            Some(t) => t,
            None => description.chars().take(40).collect::<String>().trim().to_string(),
        };
        let address = self.address.map(|a| a.trim().to_string()).filter(|a| !a.is_empty());
        if address.as_ref().is_some_and(|a| a.chars().count() > 300) {
            errs.push(FieldError::new("address", "at most 300 characters"));
        }
        let point = match point {
            None => None,
            Some(Ok(p)) => {
                if let Some(b) = &cx.county.boundary
                    && !b.contains(p)
                {
                    errs.push(FieldError::new("location", "the point lies outside the county"));
                }
                Some(p)
            }
            Some(Err(e)) => {
                errs.push(e);
                None
            }
        };
        // The region: the one named, else the one containing the point.
        let region = match self.region.as_deref().filter(|s| !s.is_empty()) {
            Some(s) => match RegionCode::parse(s) {
                Err(e) => {
                    errs.push(e);
                    None
                }
                Ok(code) if cx.region.is_none() || !cx.county.code.contains(&code) => {
                    errs.push(FieldError::new("region", format!("unknown region '{code}'")));
                    None
                }
                Ok(code) => Some(code),
            },
            None => match (&point, &cx.region_of_point, &cx.region_of_address) {
                (Some(_), Some(code), _) => Some(code.clone()),
                _ if point.is_none() && address.is_none() => {
                    errs.push(FieldError::new("location", "give a region, a point or an address"));
                    None
                }
                // No region contains the point (or there is none): the address may name one.
                (_, _, Some(code)) if address.is_some() => Some(code.clone()),
                // A place we cannot resolve: the county's triage handles it.
                _ => Some(cx.county.code.clone()),
            },
        };
        if let Some(c) = category {
            errs.extend(c.check_answers(&self.answers));
        }
        let reporter = if self.anonymous {
            None
        } else {
            match self.reporter {
                None => None,
                Some(p) => match p.normalise("reporter") {
                    Ok(r) => Some(r),
                    Err(e) => {
                        errs.extend(e);
                        None
                    }
                },
            }
        };
        let mut parties = Vec::new();
        if self.parties.len() > 50 {
            errs.push(FieldError::new("parties", "at most 50 parties"));
        }
        for (i, p) in self.parties.into_iter().enumerate() {
            let Some(role) = PartyRole::parse(&p.role) else {
                errs.push(FieldError::new(format!("parties[{i}].role"), "expected applicant, respondent, third_party or representative"));
                continue;
            };
            match p.person.normalise(&format!("parties[{i}]")) {
                Ok((person, key)) => parties.push((role, person, key)),
                Err(e) => errs.extend(e),
            }
        }
        if category.is_some_and(|c| c.kind == CategoryKind::Request) && !parties.is_empty() {
            errs.push(FieldError::new("parties", "only disputes have parties"));
        }
        if !errs.is_empty() {
            return Err(DomainError::Invalid(errs));
        }
        let category = category.expect("checked above");
        Ok(NewCase {
            category: category.code.clone(),
            kind: category.kind,
            channel,
            title,
            description,
            urgency,
            severity,
            tier: cx.ladder.map_or_else(|| starting_tier(severity), |l| l.starting_tier(severity, &category.code)),
            region: region.expect("checked above"),
            location: Location { point, address },
            reporter,
            parties,
            answers: self.answers,
        })
    }
}

/// A transfer awaiting the target unit's acceptance.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PendingTransfer {
    pub from: Option<UnitId>,
    pub to: UnitId,
    pub reason: String,
    pub at: Timestamp,
    /// Set when the target refused it: the case then waits for the common supervisor.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rejection: Option<TransferRejection>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TransferRejection {
    pub reason: String,
    pub at: Timestamp,
    /// By when the common supervisor of both units must decide.
    pub arbitration_due: Timestamp,
}

/// A co-handling unit's part of the joint work.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CoTask {
    pub unit: UnitId,
    pub due: Timestamp,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub done_at: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub report: Option<String>,
}
