//! Dispute mediation (人民调解 and 治安调解) attached to a dispute case.
//!
//! A mediation starts when a party applies, a mediator initiates it, or another body entrusts
//! or transfers it. It proceeds only while every party consents: a clear refusal ends it (art.
//! 3, 17 of the People's Mediation Law). The team holds sessions; an agreement is written
//! (frozen from its first signature, corrected only by a new version) or oral (recorded by the
//! mediator). A written agreement takes effect once every party, the mediator and the
//! committee's seal are on it; the judicial-confirmation window (30 calendar days from the day
//! after, a last day on a rest day moved to the next working day) is computed then and
//! recorded. Each term is then tracked to fulfilment or breach.
//!
//! ```text
//! consenting ─all agree─▶ mediating ─agreement effective─▶ agreed ─all terms fulfilled─▶ fulfilled
//!     │                     │    │                            │
//!     └──refusal──▶ refused ◀┘    └─session failed─▶ failed    └─a term breached─▶ breached
//! ```
//!
//! Everything here is pure: time comes as an argument, the calendar and the policy are passed
//! in, and a refused command changes nothing.

use serde::{Deserialize, Serialize};

use crate::calendar::Calendar;
use crate::case::{CaseId, PartyRole};
use crate::clock::{HOUR_MS, Timestamp};
use crate::error::{DomainError, FieldError};
use crate::region::{RegionCode, RegionLevel};
use crate::unit::UnitId;
use crate::user::Actor;

macro_rules! med_enum {
    ($(#[$m:meta])* $name:ident { $($(#[$vm:meta])* $v:ident = $s:literal),+ $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        pub enum $name { $($(#[$vm])* #[serde(rename = $s)] $v),+ }
        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$v),+];
            pub fn as_str(self) -> &'static str { match self { $($name::$v => $s),+ } }
            pub fn parse(s: &str) -> Option<$name> { match s { $($s => Some($name::$v),)+ _ => None } }
        }
    };
}

med_enum!(
    /// Where the mediation came from (the statistics' "source of mediation").
    Source {
        PartyApplied = "party_applied",
        MediatorInitiated = "mediator_initiated",
        PoliceStation = "police_station",
        Court = "court",
        PetitionOffice = "petition_office",
        Hotline12345 = "hotline_12345",
    }
);

med_enum!(
    /// People's mediation by a committee, or police public-order mediation with its own limits.
    MediationKind { People = "people", Police = "police" }
);

med_enum!(
    /// Who sits on the mediation team.
    MemberRole { PeoplesMediator = "peoples_mediator", CommunityPolice = "community_police", Lawyer = "lawyer", RespectedLocal = "respected_local" }
);

med_enum!(Consent { Pending = "pending", Agreed = "agreed", Refused = "refused" });

med_enum!(
    MediationStatus {
        /// Waiting for every party's consent.
        Consenting = "consenting",
        Mediating = "mediating",
        /// An agreement is in effect; its terms are being fulfilled.
        Agreed = "agreed",
        Fulfilled = "fulfilled",
        Breached = "breached",
        /// A party refused: mediation must not proceed.
        Refused = "refused",
        /// Mediation ended without agreement.
        Failed = "failed",
    }
);

impl MediationStatus {
    pub fn is_ended(self) -> bool {
        matches!(self, MediationStatus::Fulfilled | MediationStatus::Breached | MediationStatus::Refused | MediationStatus::Failed)
    }
    /// An agreement was reached (whatever happened to it after).
    pub fn reached_agreement(self) -> bool {
        matches!(self, MediationStatus::Agreed | MediationStatus::Fulfilled | MediationStatus::Breached)
    }
}

med_enum!(SessionOutcome { Continue = "continue", Agreed = "agreed", Failed = "failed" });

med_enum!(AgreementForm { Written = "written", Oral = "oral" });

med_enum!(TermStatus { Pending = "pending", Fulfilled = "fulfilled", Breached = "breached" });

/// Police public-order mediation (公通字〔2007〕81号): one session and at most one more, the
/// first within a number of working days of acceptance, the second within a number of working
/// days of the first. Configuration, recorded on the mediation when it opens.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PolicePolicy {
    pub max_sessions: u32,
    pub first_within_working_days: u32,
    pub second_within_working_days: u32,
}

impl Default for PolicePolicy {
    fn default() -> Self {
        PolicePolicy { max_sessions: 2, first_within_working_days: 3, second_within_working_days: 7 }
    }
}

/// Mediation rules an administrator may tune.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MediationConfig {
    pub police: PolicePolicy,
    /// Calendar days after the day an agreement takes effect for the joint application.
    pub confirmation_days: u32,
    /// How long before the window closes the unit is reminded.
    pub confirmation_reminder_hours: u32,
}

impl Default for MediationConfig {
    fn default() -> Self {
        MediationConfig { police: PolicePolicy::default(), confirmation_days: 30, confirmation_reminder_hours: 5 * 24 }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MediationParty {
    pub person_id: i64,
    pub role: PartyRole,
    #[serde(default)]
    pub organisation: bool,
    pub consent: Consent,
    #[serde(default)]
    pub consent_at: Option<Timestamp>,
    #[serde(default)]
    pub consent_note: Option<String>,
}

/// One member of the team. Only the conflict flags are kept, never the identity data used to
/// compute them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TeamMember {
    /// `user:ID` for a staff account, `ext:N` for someone without one.
    pub id: String,
    pub name: String,
    pub role: MemberRole,
    pub lead: bool,
    /// Why this member is linked to a party (empty: no link found).
    #[serde(default)]
    pub conflicts: Vec<String>,
    /// The reason the team was kept despite a conflict.
    #[serde(default)]
    pub override_reason: Option<String>,
    pub assigned_at: Timestamp,
    pub assigned_by: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", content = "name", rename_all = "snake_case")]
pub enum Place {
    Room(String),
    Online(String),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Session {
    /// 1, 2, … in scheduling order.
    pub no: u32,
    pub start: Timestamp,
    pub end: Timestamp,
    pub place: Place,
    /// Member ids sitting.
    pub mediators: Vec<String>,
    /// Party person ids invited.
    pub invited: Vec<i64>,
    #[serde(default)]
    pub present: Vec<i64>,
    #[serde(default)]
    pub minutes: Option<String>,
    #[serde(default)]
    pub outcome: Option<SessionOutcome>,
    #[serde(default)]
    pub cancelled: Option<String>,
    pub scheduled_by: String,
}

impl Session {
    pub fn counts(&self) -> bool {
        self.cancelled.is_none()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TermInput {
    /// What is to be done (pay 3,000 yuan, rebuild the wall, apologise).
    pub text: String,
    /// How it is done (bank transfer, in person).
    pub how: String,
    /// By when.
    pub due: Timestamp,
}

/// The contents the law requires (art. 29): the parties are the mediation's; the facts, the
/// matters in dispute and each side's responsibility; the terms with how and by when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgreementContent {
    pub facts: String,
    pub matters: String,
    pub responsibility: String,
    pub terms: Vec<TermInput>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Term {
    pub text: String,
    pub how: String,
    pub due: Timestamp,
    pub status: TermStatus,
    #[serde(default)]
    pub settled_at: Option<Timestamp>,
    #[serde(default)]
    pub note: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Signed {
    pub by: String,
    pub at: Timestamp,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Agreement {
    pub version: u32,
    pub form: AgreementForm,
    pub content: AgreementContent,
    /// Who must sign: the parties other than representatives.
    pub signers: Vec<i64>,
    /// Party person id → when they signed (or sealed, or fingerprinted).
    #[serde(default)]
    pub party_signatures: Vec<(i64, Timestamp)>,
    #[serde(default)]
    pub mediator_signed: Option<Signed>,
    #[serde(default)]
    pub sealed: Option<Signed>,
    pub drafted_at: Timestamp,
    pub drafted_by: String,
    #[serde(default)]
    pub effective_at: Option<Timestamp>,
    /// Replaced by a later version.
    #[serde(default)]
    pub superseded: bool,
    /// Fulfilment of each term (filled when the agreement takes effect).
    #[serde(default)]
    pub terms: Vec<Term>,
}

impl Agreement {
    /// Any signature at all freezes the text.
    pub fn is_frozen(&self) -> bool {
        self.form == AgreementForm::Oral || !self.party_signatures.is_empty() || self.mediator_signed.is_some() || self.sealed.is_some()
    }
    fn complete(&self) -> bool {
        self.signers.iter().all(|p| self.party_signatures.iter().any(|(q, _)| q == p))
            && self.mediator_signed.is_some()
            && self.sealed.is_some()
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Confirmation {
    /// The last day of the window (`YYYY-MM-DD`, local), after moving off a rest day.
    #[serde(default)]
    pub last_day: Option<String>,
    /// The end of that day: an application must come before it.
    #[serde(default)]
    pub due: Option<Timestamp>,
    #[serde(default)]
    pub applied: Option<Applied>,
    #[serde(default)]
    pub decision: Option<CourtDecision>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Applied {
    pub at: Timestamp,
    pub court: String,
    pub by: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CourtDecision {
    pub at: Timestamp,
    pub confirmed: bool,
    #[serde(default)]
    pub note: Option<String>,
}

/// One mediation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Mediation {
    pub id: i64,
    pub case_id: CaseId,
    /// The case's lead unit when the mediation opened.
    pub unit: UnitId,
    pub region: RegionCode,
    /// The dispute type: the case's category.
    pub category: String,
    pub kind: MediationKind,
    pub source: Source,
    /// The amount involved, in fen (1/100 yuan).
    #[serde(default)]
    pub amount_fen: Option<i64>,
    pub parties: Vec<MediationParty>,
    #[serde(default)]
    pub team: Vec<TeamMember>,
    #[serde(default)]
    pub sessions: Vec<Session>,
    /// Every version, oldest first; the last is current.
    #[serde(default)]
    pub agreements: Vec<Agreement>,
    #[serde(default)]
    pub confirmation: Confirmation,
    pub status: MediationStatus,
    /// For police mediation: the policy of the day and the deadlines computed on it.
    #[serde(default)]
    pub police: Option<PolicePolicy>,
    #[serde(default)]
    pub first_session_due: Option<Timestamp>,
    #[serde(default)]
    pub second_session_due: Option<Timestamp>,
    /// Recorded judgements for the statistics.
    #[serde(default)]
    pub prevented_criminal: bool,
    #[serde(default)]
    pub prevented_group_petition: bool,
    /// A breach was referred to court.
    #[serde(default)]
    pub court_referral: bool,
    #[serde(default)]
    pub outcome_note: Option<String>,
    pub opened_at: Timestamp,
    pub opened_by: String,
    #[serde(default)]
    pub agreed_at: Option<Timestamp>,
    #[serde(default)]
    pub ended_at: Option<Timestamp>,
    pub version: i64,
}

/// What opening a mediation needs besides the case.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OpenMediation {
    pub kind: MediationKind,
    pub source: Source,
    #[serde(default)]
    pub amount_fen: Option<i64>,
}

/// The case facts a mediation is opened on (read by the caller).
pub struct CaseForMediation<'a> {
    pub id: CaseId,
    pub is_dispute: bool,
    pub open: bool,
    pub lead_unit: Option<&'a UnitId>,
    pub region: &'a RegionCode,
    pub category: &'a str,
    pub parties: &'a [crate::case::Party],
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Signer {
    Party(i64),
    Mediator,
    Seal,
}

/// What may be done to a mediation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum MediationCommand {
    Consent {
        party: i64,
        agree: bool,
        #[serde(default)]
        note: Option<String>,
    },
    /// Adds a member; `conflicts` are filled by the caller from the conflict check.
    Assign {
        #[serde(default)]
        user_id: Option<String>,
        name: String,
        role: MemberRole,
        #[serde(default)]
        lead: bool,
        #[serde(default, skip_deserializing)]
        conflicts: Vec<String>,
        #[serde(default)]
        override_reason: Option<String>,
    },
    Schedule {
        start: Timestamp,
        end: Timestamp,
        #[serde(default)]
        room: Option<String>,
        #[serde(default)]
        online: Option<String>,
        #[serde(default)]
        invited: Vec<i64>,
        #[serde(default)]
        mediators: Vec<String>,
    },
    CancelSession {
        session: u32,
        reason: String,
    },
    RecordSession {
        session: u32,
        present: Vec<i64>,
        minutes: String,
        outcome: SessionOutcome,
    },
    /// Writes or edits the current unsigned draft.
    Draft {
        content: AgreementContent,
    },
    /// A correction of a signed agreement: a new version, to be signed again.
    Revise {
        content: AgreementContent,
    },
    Sign {
        signer: Signer,
    },
    /// An oral agreement, recorded by the mediator; in effect once recorded.
    RecordOral {
        content: AgreementContent,
    },
    ApplyConfirmation {
        court: String,
    },
    DecideConfirmation {
        confirmed: bool,
        #[serde(default)]
        note: Option<String>,
    },
    /// A term fulfilled, or breached.
    Fulfil {
        term: usize,
        fulfilled: bool,
        #[serde(default)]
        note: Option<String>,
        /// A breach referred to court.
        #[serde(default)]
        court: bool,
    },
    /// The recorded judgements the statistics count.
    Judge {
        prevented_criminal: bool,
        prevented_group_petition: bool,
    },
}

impl MediationCommand {
    pub fn name(&self) -> &'static str {
        match self {
            MediationCommand::Consent { .. } => "consent",
            MediationCommand::Assign { .. } => "assign",
            MediationCommand::Schedule { .. } => "schedule",
            MediationCommand::CancelSession { .. } => "cancel_session",
            MediationCommand::RecordSession { .. } => "record_session",
            MediationCommand::Draft { .. } => "draft",
            MediationCommand::Revise { .. } => "revise",
            MediationCommand::Sign { .. } => "sign",
            MediationCommand::RecordOral { .. } => "record_oral",
            MediationCommand::ApplyConfirmation { .. } => "apply_confirmation",
            MediationCommand::DecideConfirmation { .. } => "decide_confirmation",
            MediationCommand::Fulfil { .. } => "fulfil",
            MediationCommand::Judge { .. } => "judge",
        }
    }

    pub const NAMES: &'static [&'static str] = &[
        "consent",
        "assign",
        "schedule",
        "cancel_session",
        "record_session",
        "draft",
        "revise",
        "sign",
        "record_oral",
        "apply_confirmation",
        "decide_confirmation",
        "fulfil",
        "judge",
    ];
}

/// What a command did, for the audit event and for the case.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    /// Nothing the case needs to follow.
    None,
    /// A party refused: the mediation ended and the case moves on.
    Refused,
    /// Mediation failed: the case moves on.
    Failed,
    /// An agreement took effect: the case is resolved with it.
    Agreed,
    /// A term was breached: the case reopens or routes on.
    Breached,
}

pub struct MediationContext<'a> {
    pub now: Timestamp,
    pub actor: &'a Actor,
    pub calendar: &'a Calendar,
    pub config: &'a MediationConfig,
}

fn text(field: &str, s: &str, what: &str, errs: &mut Vec<FieldError>) -> String {
    let t = s.trim();
    if t.is_empty() {
        errs.push(FieldError::new(field, what));
    } else if t.chars().count() > 4000 {
        errs.push(FieldError::new(field, "at most 4000 characters"));
    }
    t.to_string()
}

fn check(errs: Vec<FieldError>) -> Result<(), DomainError> {
    if errs.is_empty() { Ok(()) } else { Err(DomainError::Invalid(errs)) }
}

/// Checks an agreement's contents, listing every problem.
pub fn check_content(c: &AgreementContent, now: Timestamp, oral: bool) -> Result<AgreementContent, DomainError> {
    let mut errs = Vec::new();
    let facts = text("content.facts", &c.facts, "state the main facts", &mut errs);
    let matters = text("content.matters", &c.matters, "state the matters in dispute", &mut errs);
    let responsibility = if oral {
        c.responsibility.trim().to_string()
    } else {
        text("content.responsibility", &c.responsibility, "state each side's responsibility", &mut errs)
    };
    if c.terms.is_empty() {
        errs.push(FieldError::new("content.terms", "name at least one term, with how and by when it is fulfilled"));
    }
    if c.terms.len() > 50 {
        errs.push(FieldError::new("content.terms", "at most 50 terms"));
    }
    let mut terms = Vec::new();
    for (i, t) in c.terms.iter().enumerate() {
        let tx = text(&format!("content.terms[{i}].text"), &t.text, "say what is to be done", &mut errs);
        let how = text(&format!("content.terms[{i}].how"), &t.how, "say how it is fulfilled", &mut errs);
        if t.due <= now {
            errs.push(FieldError::new(format!("content.terms[{i}].due"), "the date must be in the future"));
        }
        terms.push(TermInput { text: tx, how, due: t.due });
    }
    check(errs)?;
    Ok(AgreementContent { facts, matters, responsibility, terms })
}

/// The family name of a Chinese name (with the common two-character ones), or the last word of
/// a name in Latin letters.
pub fn family_name(name: &str) -> Option<String> {
    const COMPOUND: &[&str] =
        &["欧阳", "司马", "诸葛", "上官", "东方", "皇甫", "尉迟", "公孙", "慕容", "令狐", "司徒", "夏侯", "长孙", "宇文"];
    let n = name.trim();
    if n.is_empty() {
        return None;
    }
    let first = n.chars().next()?;
    if ('\u{4e00}'..='\u{9fff}').contains(&first) {
        if let Some(c) = COMPOUND.iter().find(|c| n.starts_with(*c) && n.chars().count() > 2) {
            return Some(c.to_string());
        }
        return Some(first.to_string());
    }
    n.split_whitespace().last().map(|s| s.to_lowercase())
}

/// What the conflict check knows about a party (read from the person store).
#[derive(Debug, Clone, Default)]
pub struct PartyProfile {
    pub person_id: i64,
    pub identity_key: Option<String>,
    pub family_name: Option<String>,
    pub village: Option<RegionCode>,
}

/// What the conflict check knows about a prospective member (given at assignment, not kept).
#[derive(Debug, Clone, Default)]
pub struct MemberProfile {
    pub identity_key: Option<String>,
    pub family_name: Option<String>,
    pub village: Option<RegionCode>,
    /// Parties the member declared a relation to.
    pub related_parties: Vec<i64>,
}

/// Why a member is linked to a party: the same identity, the same family name in the same
/// village, or a declared relation. Empty when no link is found.
pub fn conflicts(member: &MemberProfile, parties: &[PartyProfile]) -> Vec<String> {
    let mut out = Vec::new();
    for p in parties {
        if member.identity_key.is_some() && member.identity_key == p.identity_key {
            out.push(format!("is party #{} (same identity)", p.person_id));
        } else if member.family_name.is_some()
            && member.family_name == p.family_name
            && member.village.is_some()
            && member.village.as_ref().and_then(|v| v.ancestor_at(RegionLevel::Village))
                == p.village.as_ref().and_then(|v| v.ancestor_at(RegionLevel::Village))
        {
            out.push(format!("shares family name and village with party #{}", p.person_id));
        }
        if member.related_parties.contains(&p.person_id) {
            out.push(format!("declared a relation to party #{}", p.person_id));
        }
    }
    out
}

/// A room or a mediator held by a session: `room:NAME` or `member:ID`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Booking {
    pub mediation_id: i64,
    pub session: u32,
    pub resource: String,
    pub start: Timestamp,
    pub end: Timestamp,
}

impl Mediation {
    /// Opens a mediation on a dispute case, checked.
    pub fn open(
        actor: &Actor,
        case: &CaseForMediation<'_>,
        input: &OpenMediation,
        config: &MediationConfig,
        calendar: &Calendar,
        now: Timestamp,
    ) -> Result<Mediation, DomainError> {
        let Actor::User { role, unit, .. } = actor else {
            return Err(DomainError::Forbidden("only staff open a mediation".into()));
        };
        let lead = case.lead_unit.ok_or_else(|| DomainError::Precondition("the case has no lead unit yet: dispatch it first".into()))?;
        if !(role.supervises() || (role.handles() && unit.as_ref() == Some(lead))) {
            return Err(DomainError::Forbidden("only the lead unit's handlers and mediators, or a supervisor, open a mediation".into()));
        }
        if !case.is_dispute {
            return Err(DomainError::Precondition("only a dispute is mediated".into()));
        }
        if !case.open {
            return Err(DomainError::Precondition("the case is not open".into()));
        }
        let principals = case.parties.iter().filter(|p| p.role != PartyRole::Representative).count();
        if principals < 2 {
            return Err(DomainError::Precondition("a mediation needs at least two parties to the dispute".into()));
        }
        if let Some(a) = input.amount_fen
            && !(0..=1_000_000_000_000).contains(&a)
        {
            return Err(DomainError::invalid("amount", "between 0 and 10,000,000,000 yuan"));
        }
        let police = (input.kind == MediationKind::Police).then_some(config.police);
        Ok(Mediation {
            id: 0,
            case_id: case.id,
            unit: lead.clone(),
            region: case.region.clone(),
            category: case.category.to_string(),
            kind: input.kind,
            source: input.source,
            amount_fen: input.amount_fen,
            parties: case
                .parties
                .iter()
                .map(|p| MediationParty {
                    person_id: p.person_id,
                    role: p.role,
                    organisation: p.organisation,
                    consent: Consent::Pending,
                    consent_at: None,
                    consent_note: None,
                })
                .collect(),
            team: Vec::new(),
            sessions: Vec::new(),
            agreements: Vec::new(),
            confirmation: Confirmation::default(),
            status: MediationStatus::Consenting,
            police,
            first_session_due: police.map(|p| calendar.add_working_days(now, p.first_within_working_days)),
            second_session_due: None,
            prevented_criminal: false,
            prevented_group_petition: false,
            court_referral: false,
            outcome_note: None,
            opened_at: now,
            opened_by: actor.label(),
            agreed_at: None,
            ended_at: None,
            version: 1,
        })
    }

    /// The parties whose consent and signature count (representatives act for them).
    pub fn principals(&self) -> Vec<i64> {
        self.parties.iter().filter(|p| p.role != PartyRole::Representative).map(|p| p.person_id).collect()
    }

    pub fn current_agreement(&self) -> Option<&Agreement> {
        self.agreements.last()
    }

    /// The agreement in effect, if any.
    pub fn effective_agreement(&self) -> Option<&Agreement> {
        self.agreements.iter().rev().find(|a| a.effective_at.is_some())
    }

    /// The sessions that count (not cancelled).
    pub fn held_or_planned(&self) -> impl Iterator<Item = &Session> {
        self.sessions.iter().filter(|s| s.counts())
    }

    /// Rooms and mediators held by sessions not cancelled.
    pub fn bookings(&self) -> Vec<Booking> {
        let mut out = Vec::new();
        for s in self.held_or_planned() {
            if let Place::Room(r) = &s.place {
                out.push(Booking {
                    mediation_id: self.id,
                    session: s.no,
                    resource: format!("room:{}/{r}", self.unit),
                    start: s.start,
                    end: s.end,
                });
            }
            for m in &s.mediators {
                out.push(Booking { mediation_id: self.id, session: s.no, resource: format!("member:{m}"), start: s.start, end: s.end });
            }
        }
        out
    }

    /// The earliest due date of a term not yet settled, while the agreement is being fulfilled.
    pub fn next_term_due(&self) -> Option<Timestamp> {
        if self.status != MediationStatus::Agreed {
            return None;
        }
        self.effective_agreement()?.terms.iter().filter(|t| t.status == TermStatus::Pending).map(|t| t.due).min()
    }

    /// Terms past their due date with no fulfilment recorded.
    pub fn overdue_terms(&self, now: Timestamp) -> usize {
        if self.status != MediationStatus::Agreed {
            return 0;
        }
        self.effective_agreement().map(|a| a.terms.iter().filter(|t| t.status == TermStatus::Pending && t.due < now).count()).unwrap_or(0)
    }

    /// The judicial-confirmation deadline still open at `now` (not applied yet).
    pub fn confirmation_open(&self, now: Timestamp) -> bool {
        self.confirmation.applied.is_none() && self.confirmation.due.is_some_and(|d| now < d)
    }

    /// Applies a command; returns the audit event's kind and what the case must follow.
    /// A refused command leaves the mediation as it was.
    pub fn act(&mut self, cmd: &MediationCommand, cx: &MediationContext<'_>) -> Result<(&'static str, Effect), DomainError> {
        let mut next = self.clone();
        let r = next.step(cmd, cx)?;
        next.version += 1;
        *self = next;
        Ok(r)
    }

    fn step(&mut self, cmd: &MediationCommand, cx: &MediationContext<'_>) -> Result<(&'static str, Effect), DomainError> {
        use MediationStatus as S;
        let Actor::User { role, unit, .. } = cx.actor else {
            return Err(DomainError::Forbidden("only staff act on a mediation".into()));
        };
        if !(role.supervises() || (role.handles() && unit.as_ref() == Some(&self.unit))) {
            return Err(DomainError::Forbidden(format!(
                "only the {} unit's mediators or a supervisor may {}",
                self.unit,
                cmd.name().replace('_', " ")
            )));
        }
        let now = cx.now;
        let illegal = || DomainError::IllegalTransition { command: cmd.name(), status: self.status.as_str() };
        let by = cx.actor.label();
        match cmd {
            MediationCommand::Consent { party, agree, note } => {
                if !matches!(self.status, S::Consenting | S::Mediating) {
                    return Err(illegal());
                }
                let mut errs = Vec::new();
                let note = note.as_deref().map(|n| text("note", n, "give a note or leave it out", &mut errs));
                if !*agree && note.is_none() {
                    errs.push(FieldError::new("note", "record the party's refusal in their words"));
                }
                if !self.principals().contains(party) {
                    errs.push(FieldError::new("party", "not a party to this dispute"));
                }
                check(errs)?;
                let p = self.parties.iter_mut().find(|p| p.person_id == *party).expect("checked above");
                p.consent = if *agree { Consent::Agreed } else { Consent::Refused };
                p.consent_at = Some(now);
                p.consent_note = note;
                if !*agree {
                    // The law: a party's clear refusal ends the mediation.
                    self.status = S::Refused;
                    self.ended_at = Some(now);
                    self.call_off_sessions("mediation ended: a party refused");
                    self.outcome_note = Some(format!("party #{party} refused mediation"));
                    return Ok(("mediation_refused", Effect::Refused));
                }
                let principals = self.principals();
                if self.parties.iter().filter(|p| principals.contains(&p.person_id)).all(|p| p.consent == Consent::Agreed) {
                    self.status = S::Mediating;
                }
                Ok(("mediation_consent", Effect::None))
            }
            MediationCommand::Assign { user_id, name, role: mrole, lead, conflicts, override_reason } => {
                if !matches!(self.status, S::Consenting | S::Mediating) {
                    return Err(illegal());
                }
                let mut errs = Vec::new();
                let name = text("name", name, "name the member", &mut errs);
                let reason = override_reason.as_deref().map(|r| text("override_reason", r, "give the reason", &mut errs));
                if !conflicts.is_empty() && reason.is_none() {
                    errs.push(FieldError::new(
                        "override_reason",
                        format!("conflict of interest: {}; choose another member or give a reason to keep this one", conflicts.join("; ")),
                    ));
                }
                let id = match user_id {
                    Some(u) if !u.trim().is_empty() => format!("user:{}", u.trim()),
                    _ => format!("ext:{}", self.team.iter().filter(|m| m.id.starts_with("ext:")).count() + 1),
                };
                if self.team.iter().any(|m| m.id == id) {
                    errs.push(FieldError::new("user_id", "already on the team"));
                }
                check(errs)?;
                if *lead {
                    for m in &mut self.team {
                        m.lead = false;
                    }
                }
                let first = self.team.is_empty();
                self.team.push(TeamMember {
                    id,
                    name,
                    role: *mrole,
                    lead: *lead || first,
                    conflicts: conflicts.clone(),
                    override_reason: reason.filter(|_| !conflicts.is_empty()),
                    assigned_at: now,
                    assigned_by: by,
                });
                Ok(("mediation_assigned", Effect::None))
            }
            MediationCommand::Schedule { start, end, room, online, invited, mediators } => {
                if self.status != S::Mediating {
                    return Err(if self.status == S::Consenting {
                        DomainError::Precondition("every party must consent before a session is scheduled".into())
                    } else {
                        illegal()
                    });
                }
                let mut errs = Vec::new();
                if *start < now {
                    errs.push(FieldError::new("start", "a session is scheduled ahead"));
                }
                if end <= start || end.0 - start.0 > 12 * HOUR_MS {
                    errs.push(FieldError::new("end", "after the start, at most 12 hours later"));
                }
                let place = match (
                    room.as_deref().map(str::trim).filter(|s| !s.is_empty()),
                    online.as_deref().map(str::trim).filter(|s| !s.is_empty()),
                ) {
                    (Some(r), None) => Some(Place::Room(r.to_string())),
                    (None, Some(o)) => Some(Place::Online(o.to_string())),
                    _ => {
                        errs.push(FieldError::new("room", "name a room or an online meeting, one of them"));
                        None
                    }
                };
                let principals = self.principals();
                let invited: Vec<i64> =
                    if invited.is_empty() { self.parties.iter().map(|p| p.person_id).collect() } else { invited.clone() };
                if invited.iter().any(|p| !self.parties.iter().any(|q| q.person_id == *p)) {
                    errs.push(FieldError::new("invited", "invite parties to this dispute only"));
                }
                if !principals.iter().all(|p| invited.contains(p)) {
                    errs.push(FieldError::new("invited", "every party to the dispute is invited"));
                }
                let mediators: Vec<String> =
                    if mediators.is_empty() { self.team.iter().map(|m| m.id.clone()).collect() } else { mediators.clone() };
                if mediators.is_empty() {
                    errs.push(FieldError::new("mediators", "assign a mediator first"));
                }
                if mediators.iter().any(|m| !self.team.iter().any(|t| &t.id == m)) {
                    errs.push(FieldError::new("mediators", "name members of the team"));
                }
                check(errs)?;
                let place = place.expect("checked above");
                // Police public-order mediation: one session and at most one more, in time.
                if let Some(p) = self.police {
                    let n = self.held_or_planned().count() as u32;
                    if n >= p.max_sessions {
                        return Err(DomainError::Precondition(format!(
                            "police public-order mediation allows at most {} session(s); this dispute has had {n}: end it as failed and tell the parties they may sue",
                            p.max_sessions
                        )));
                    }
                    let (due, which) = if n == 0 { (self.first_session_due, "first") } else { (self.second_session_due, "second") };
                    match due {
                        Some(d) if *start <= d => {}
                        Some(d) => {
                            return Err(DomainError::Precondition(format!(
                                "police public-order mediation: the {which} session must be held by {}",
                                d.to_rfc3339_in(cx.calendar.time_zone())
                            )));
                        }
                        None => {
                            return Err(DomainError::Precondition(
                                "police public-order mediation: record the first session before scheduling the second".into(),
                            ));
                        }
                    }
                }
                // The team's own sessions may not overlap either (the store checks the rest).
                for s in self.held_or_planned() {
                    let overlaps = s.start < *end && *start < s.end;
                    if overlaps
                        && (s.place == place && matches!(place, Place::Room(_)) || s.mediators.iter().any(|m| mediators.contains(m)))
                    {
                        return Err(DomainError::Precondition(format!(
                            "session {} of this mediation already holds that room or mediator then",
                            s.no
                        )));
                    }
                }
                let no = self.sessions.len() as u32 + 1;
                self.sessions.push(Session {
                    no,
                    start: *start,
                    end: *end,
                    place,
                    mediators,
                    invited,
                    present: Vec::new(),
                    minutes: None,
                    outcome: None,
                    cancelled: None,
                    scheduled_by: by,
                });
                Ok(("mediation_session_scheduled", Effect::None))
            }
            MediationCommand::CancelSession { session, reason } => {
                if self.status != S::Mediating {
                    return Err(illegal());
                }
                let mut errs = Vec::new();
                let reason = text("reason", reason, "say why the session is cancelled", &mut errs);
                check(errs)?;
                let s = self
                    .sessions
                    .iter_mut()
                    .find(|s| s.no == *session)
                    .ok_or_else(|| DomainError::invalid("session", "no such session"))?;
                if s.outcome.is_some() || s.cancelled.is_some() {
                    return Err(DomainError::Precondition("the session was already held or cancelled".into()));
                }
                s.cancelled = Some(reason);
                Ok(("mediation_session_cancelled", Effect::None))
            }
            MediationCommand::RecordSession { session, present, minutes, outcome } => {
                if self.status != S::Mediating {
                    return Err(illegal());
                }
                let mut errs = Vec::new();
                let minutes = text("minutes", minutes, "write the minutes", &mut errs);
                let Some(idx) = self.sessions.iter().position(|s| s.no == *session) else {
                    return Err(DomainError::invalid("session", "no such session"));
                };
                let s = &self.sessions[idx];
                if present.iter().any(|p| !s.invited.contains(p)) {
                    errs.push(FieldError::new("present", "only invited parties can be present"));
                }
                check(errs)?;
                if s.outcome.is_some() || s.cancelled.is_some() {
                    return Err(DomainError::Precondition("the session was already recorded or cancelled".into()));
                }
                if s.start > now {
                    return Err(DomainError::Precondition("the session has not started yet".into()));
                }
                let start = s.start;
                let first_held = !self.sessions.iter().any(|s| s.outcome.is_some());
                let s = &mut self.sessions[idx];
                s.present = present.clone();
                s.minutes = Some(minutes);
                s.outcome = Some(*outcome);
                if let Some(p) = self.police
                    && first_held
                {
                    self.second_session_due = Some(cx.calendar.add_working_days(start, p.second_within_working_days));
                }
                if *outcome == SessionOutcome::Failed {
                    self.status = S::Failed;
                    self.ended_at = Some(now);
                    self.call_off_sessions("mediation ended without agreement");
                    self.outcome_note = Some(format!("no agreement at session {session}"));
                    return Ok(("mediation_failed", Effect::Failed));
                }
                Ok(("mediation_session_recorded", Effect::None))
            }
            MediationCommand::Draft { content } => {
                if self.status != S::Mediating {
                    return Err(illegal());
                }
                let content = check_content(content, now, false)?;
                match self.agreements.last_mut() {
                    Some(a) if a.is_frozen() => {
                        return Err(DomainError::Precondition(
                            "the agreement has been signed and its text is frozen: correct it with a new version".into(),
                        ));
                    }
                    Some(a) => {
                        a.content = content;
                        a.drafted_at = now;
                        a.drafted_by = by;
                    }
                    None => {
                        let signers = self.principals();
                        self.agreements.push(new_agreement(1, AgreementForm::Written, content, signers, now, by));
                    }
                }
                Ok(("mediation_agreement_drafted", Effect::None))
            }
            MediationCommand::Revise { content } => {
                if self.status != S::Mediating {
                    return Err(illegal());
                }
                let content = check_content(content, now, false)?;
                let Some(a) = self.agreements.last_mut() else {
                    return Err(DomainError::Precondition("there is no agreement to correct: draft one".into()));
                };
                if !a.is_frozen() {
                    return Err(DomainError::Precondition("the agreement is not signed yet: edit the draft".into()));
                }
                a.superseded = true;
                let v = a.version + 1;
                let signers = self.principals();
                self.agreements.push(new_agreement(v, AgreementForm::Written, content, signers, now, by));
                Ok(("mediation_agreement_revised", Effect::None))
            }
            MediationCommand::Sign { signer } => {
                if self.status != S::Mediating {
                    return Err(illegal());
                }
                let Some(a) = self.agreements.last_mut() else {
                    return Err(DomainError::Precondition("there is no agreement to sign".into()));
                };
                if a.form == AgreementForm::Oral {
                    return Err(DomainError::Precondition("an oral agreement is not signed".into()));
                }
                match signer {
                    Signer::Party(p) => {
                        if !a.signers.contains(p) {
                            return Err(DomainError::invalid("signer", "not a party who signs this agreement"));
                        }
                        if a.party_signatures.iter().any(|(q, _)| q == p) {
                            return Err(DomainError::Precondition("this party has already signed".into()));
                        }
                        a.party_signatures.push((*p, now));
                    }
                    Signer::Mediator => {
                        if !role.handles() && !role.supervises() {
                            return Err(DomainError::Forbidden("only a mediator signs as the mediator".into()));
                        }
                        if a.mediator_signed.is_some() {
                            return Err(DomainError::Precondition("the mediator has already signed".into()));
                        }
                        a.mediator_signed = Some(Signed { by: by.clone(), at: now });
                    }
                    Signer::Seal => {
                        if a.sealed.is_some() {
                            return Err(DomainError::Precondition("the committee's seal is already on it".into()));
                        }
                        a.sealed = Some(Signed { by: by.clone(), at: now });
                    }
                }
                if a.complete() {
                    self.take_effect(now, cx);
                    return Ok(("mediation_agreed", Effect::Agreed));
                }
                Ok(("mediation_agreement_signed", Effect::None))
            }
            MediationCommand::RecordOral { content } => {
                if self.status != S::Mediating {
                    return Err(illegal());
                }
                if !role.handles() && !role.supervises() {
                    return Err(DomainError::Forbidden("an oral agreement is recorded by the mediator".into()));
                }
                let content = check_content(content, now, true)?;
                if let Some(a) = self.agreements.last_mut() {
                    a.superseded = true;
                }
                let v = self.agreements.last().map(|a| a.version + 1).unwrap_or(1);
                let signers = self.principals();
                let mut a = new_agreement(v, AgreementForm::Oral, content, signers, now, by.clone());
                a.mediator_signed = Some(Signed { by, at: now });
                self.agreements.push(a);
                self.take_effect(now, cx);
                Ok(("mediation_agreed", Effect::Agreed))
            }
            MediationCommand::ApplyConfirmation { court } => {
                if !matches!(self.status, S::Agreed | S::Fulfilled) {
                    return Err(illegal());
                }
                let mut errs = Vec::new();
                let court = text("court", court, "name the court", &mut errs);
                check(errs)?;
                if self.confirmation.applied.is_some() {
                    return Err(DomainError::Precondition("the joint application is already recorded".into()));
                }
                if let Some(d) = self.confirmation.due
                    && now >= d
                {
                    return Err(DomainError::Precondition(format!(
                        "the window for judicial confirmation closed at the end of {}",
                        self.confirmation.last_day.clone().unwrap_or_default()
                    )));
                }
                self.confirmation.applied = Some(Applied { at: now, court, by });
                Ok(("mediation_confirmation_applied", Effect::None))
            }
            MediationCommand::DecideConfirmation { confirmed, note } => {
                if self.confirmation.applied.is_none() {
                    return Err(DomainError::Precondition("record the parties' joint application first".into()));
                }
                if self.confirmation.decision.is_some() {
                    return Err(DomainError::Precondition("the court's decision is already recorded".into()));
                }
                let mut errs = Vec::new();
                let note = note.as_deref().map(|n| text("note", n, "give a note or leave it out", &mut errs));
                if !*confirmed && note.is_none() {
                    errs.push(FieldError::new("note", "give the court's reason"));
                }
                check(errs)?;
                self.confirmation.decision = Some(CourtDecision { at: now, confirmed: *confirmed, note });
                Ok(("mediation_confirmation_decided", Effect::None))
            }
            MediationCommand::Fulfil { term, fulfilled, note, court } => {
                if self.status != S::Agreed {
                    return Err(illegal());
                }
                let mut errs = Vec::new();
                let note = note.as_deref().map(|n| text("note", n, "give a note or leave it out", &mut errs));
                if !*fulfilled && note.is_none() {
                    errs.push(FieldError::new("note", "say how the term was breached"));
                }
                if *fulfilled && *court {
                    errs.push(FieldError::new("court", "only a breach is referred to court"));
                }
                check(errs)?;
                let idx =
                    self.agreements.iter().rposition(|a| a.effective_at.is_some()).expect("an agreed mediation has an effective agreement");
                let a = &mut self.agreements[idx];
                let Some(t) = a.terms.get_mut(*term) else {
                    return Err(DomainError::invalid("term", "no such term"));
                };
                if t.status != TermStatus::Pending {
                    return Err(DomainError::Precondition("this term is already settled".into()));
                }
                t.status = if *fulfilled { TermStatus::Fulfilled } else { TermStatus::Breached };
                t.settled_at = Some(now);
                t.note = note;
                if !*fulfilled {
                    self.status = S::Breached;
                    self.ended_at = Some(now);
                    self.court_referral = *court;
                    self.outcome_note = Some(format!("term {} breached", term + 1));
                    return Ok(("mediation_breached", Effect::Breached));
                }
                if a.terms.iter().all(|t| t.status == TermStatus::Fulfilled) {
                    self.status = S::Fulfilled;
                    self.ended_at = Some(now);
                    return Ok(("mediation_fulfilled", Effect::None));
                }
                Ok(("mediation_term_fulfilled", Effect::None))
            }
            MediationCommand::Judge { prevented_criminal, prevented_group_petition } => {
                self.prevented_criminal = *prevented_criminal;
                self.prevented_group_petition = *prevented_group_petition;
                Ok(("mediation_judged", Effect::None))
            }
        }
    }

    /// Sessions planned but not held are cancelled when the mediation ends, freeing their rooms.
    fn call_off_sessions(&mut self, why: &str) {
        for s in &mut self.sessions {
            if s.outcome.is_none() && s.cancelled.is_none() {
                s.cancelled = Some(why.to_string());
            }
        }
    }

    /// The current agreement takes effect: the terms start being tracked and the
    /// judicial-confirmation window is computed and recorded.
    fn take_effect(&mut self, now: Timestamp, cx: &MediationContext<'_>) {
        let a = self.agreements.last_mut().expect("an agreement");
        a.effective_at = Some(now);
        a.terms = a
            .content
            .terms
            .iter()
            .map(|t| Term {
                text: t.text.clone(),
                how: t.how.clone(),
                due: t.due,
                status: TermStatus::Pending,
                settled_at: None,
                note: None,
            })
            .collect();
        self.status = MediationStatus::Agreed;
        self.agreed_at = Some(now);
        let (last, due) = confirmation_window(cx.calendar, now, cx.config.confirmation_days);
        self.confirmation.last_day = Some(last.to_string());
        self.confirmation.due = Some(due);
    }
}

fn new_agreement(version: u32, form: AgreementForm, content: AgreementContent, signers: Vec<i64>, now: Timestamp, by: String) -> Agreement {
    Agreement {
        version,
        form,
        content,
        signers,
        party_signatures: Vec::new(),
        mediator_signed: None,
        sealed: None,
        drafted_at: now,
        drafted_by: by,
        effective_at: None,
        superseded: false,
        terms: Vec::new(),
    }
}

/// The judicial-confirmation window of an agreement in effect at `effective`: `days` calendar
/// days counted from the next day, a last day that is a rest day moved to the next working
/// day. Returns the last day and the instant it ends (the start of the following day).
pub fn confirmation_window(cal: &Calendar, effective: Timestamp, days: u32) -> (jiff::civil::Date, Timestamp) {
    let tz = cal.time_zone();
    let start = effective.local_date(tz).unwrap_or(jiff::civil::date(1970, 1, 1));
    let mut last = start.checked_add(jiff::Span::new().days(days as i64)).unwrap_or(start);
    if !cal.is_working_day(last) {
        last = cal.next_working_day(last);
    }
    let end = last.tomorrow().ok().and_then(|d| crate::clock::start_of_day(d, tz)).unwrap_or(Timestamp(i64::MAX));
    (last, end)
}

/// The mediation figures over a set of mediations. Rates with a zero denominator are `None`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct MediationFigures {
    pub opened: i64,
    /// Ended or agreed (an outcome is known).
    pub concluded: i64,
    pub agreed: i64,
    pub refused: i64,
    pub failed: i64,
    pub fulfilled: i64,
    pub breached: i64,
    /// Agreements reached / concluded.
    pub agreement_rate: Option<f64>,
    /// Fulfilled / (fulfilled + breached).
    pub fulfilment_rate: Option<f64>,
    /// The amounts involved, in fen: over every mediation, and over those that reached agreement.
    pub amount_fen: i64,
    pub amount_agreed_fen: i64,
    /// Median hours from opening to agreement.
    pub median_hours_to_agreement: Option<f64>,
    pub prevented_criminal: i64,
    pub prevented_group_petition: i64,
    pub judicially_confirmed: i64,
}

impl MediationFigures {
    pub fn of<'a>(ms: impl IntoIterator<Item = &'a Mediation>) -> MediationFigures {
        let mut f = MediationFigures::default();
        let mut hours = Vec::new();
        for m in ms {
            f.opened += 1;
            let agreed = m.status.reached_agreement();
            if agreed || m.status.is_ended() {
                f.concluded += 1;
            }
            match m.status {
                MediationStatus::Refused => f.refused += 1,
                MediationStatus::Failed => f.failed += 1,
                MediationStatus::Fulfilled => f.fulfilled += 1,
                MediationStatus::Breached => f.breached += 1,
                _ => {}
            }
            if agreed {
                f.agreed += 1;
                f.amount_agreed_fen += m.amount_fen.unwrap_or(0);
            }
            f.amount_fen += m.amount_fen.unwrap_or(0);
            if let Some(a) = m.agreed_at {
                hours.push((a.0 - m.opened_at.0) as f64 / HOUR_MS as f64);
            }
            f.prevented_criminal += m.prevented_criminal as i64;
            f.prevented_group_petition += m.prevented_group_petition as i64;
            f.judicially_confirmed += m.confirmation.decision.as_ref().is_some_and(|d| d.confirmed) as i64;
        }
        let rate = |n: i64, d: i64| (d > 0).then(|| n as f64 / d as f64);
        f.agreement_rate = rate(f.agreed, f.concluded);
        f.fulfilment_rate = rate(f.fulfilled, f.fulfilled + f.breached);
        hours.sort_by(|a, b| a.total_cmp(b));
        f.median_hours_to_agreement = match hours.len() {
            0 => None,
            n if n % 2 == 1 => Some(hours[n / 2]),
            n => Some((hours[n / 2 - 1] + hours[n / 2]) / 2.0),
        };
        f
    }
}

med_enum!(
    /// How the figures are broken down.
    FiguresBy { Mediator = "mediator", Unit = "unit", Type = "type", Region = "region" }
);

/// The keys a mediation counts under: each team member, its unit, its dispute type, its town.
pub fn group_keys(m: &Mediation, by: FiguresBy) -> Vec<String> {
    match by {
        FiguresBy::Mediator => {
            if m.team.is_empty() {
                vec!["-".into()]
            } else {
                m.team.iter().map(|t| t.name.clone()).collect()
            }
        }
        FiguresBy::Unit => vec![m.unit.to_string()],
        FiguresBy::Type => vec![m.category.clone()],
        FiguresBy::Region => vec![m.region.ancestor_at(RegionLevel::Town).unwrap_or_else(|| m.region.clone()).to_string()],
    }
}

/// The figures for each group, by key.
pub fn figures_by<'a>(ms: &'a [Mediation], by: FiguresBy) -> Vec<(String, MediationFigures)> {
    let mut groups: std::collections::BTreeMap<String, Vec<&'a Mediation>> = Default::default();
    for m in ms {
        for k in group_keys(m, by) {
            groups.entry(k).or_default().push(m);
        }
    }
    groups.into_iter().map(|(k, v)| (k, MediationFigures::of(v))).collect()
}
