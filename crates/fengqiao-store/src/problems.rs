//! Problem-solving records (SARA) over the store: opening a problem from cases or filters,
//! its commands, and its before-and-after figures.

use fengqiao_domain::error::FieldError;
use fengqiao_domain::figures::{FigureCounts, Figures, StagePoints};
use fengqiao_domain::problem::{MAX_CASES, NewProblem, Owner, Problem, ProblemCommand, Stage, Window};
use fengqiao_domain::{Actor, CaseId, DomainError, RegionCode, Timestamp};
use serde::{Deserialize, Serialize};

use crate::{CaseFilter, FactsFilter, Page, Scope, Service, StoreError};

/// Which problems to list (within the reader's scope).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ProblemFilter {
    pub stage: Option<Stage>,
    /// A region code: problems in its subtree.
    pub region: Option<String>,
    /// Problems holding this case.
    pub case_id: Option<i64>,
    pub limit: i64,
}

/// What a client sends to open a problem: cases by id, or the filters that find them (both
/// may be given; the union is taken).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProblemInput {
    pub title: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub case_ids: Vec<i64>,
    #[serde(default)]
    pub filter: Option<CaseFilter>,
    #[serde(default)]
    pub regions: Vec<String>,
    #[serde(default)]
    pub categories: Vec<String>,
    #[serde(default)]
    pub window_days: Option<u32>,
}

/// The closed-loop figures over one window.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WindowFigures {
    pub from: Timestamp,
    pub to: Timestamp,
    pub counts: FigureCounts,
    pub figures: Figures,
}

/// Before and after the response started (before it has: the last window up to now).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ProblemFigures {
    pub regions: Vec<String>,
    pub categories: Vec<String>,
    pub before: WindowFigures,
    pub after: Option<WindowFigures>,
}

fn add(a: &mut FigureCounts, b: &FigureCounts) {
    a.cohort += b.cohort;
    a.responded += b.responded;
    a.resolved += b.resolved;
    a.rated += b.rated;
    a.satisfied += b.satisfied;
    a.flagged += b.flagged;
    a.due += b.due;
    a.on_time += b.on_time;
    a.closed += b.closed;
    a.local += b.local;
    a.reworked += b.reworked;
    a.reopened += b.reopened;
    a.repeats += b.repeats;
}

impl Service {
    /// Reads cases by id in the actor's scope; a case outside it is "no such case".
    async fn problem_cases(
        &self,
        scope: &Scope,
        ids: &[i64],
        field: &str,
        errs: &mut Vec<FieldError>,
    ) -> Result<Vec<(CaseId, RegionCode, String)>, StoreError> {
        let mut out = Vec::new();
        if ids.len() > MAX_CASES {
            errs.push(FieldError::new(field, format!("at most {MAX_CASES} cases")));
            return Ok(out);
        }
        for (i, id) in ids.iter().enumerate() {
            match self.store.case(scope, CaseId(*id)).await? {
                Some(c) => out.push((c.id, c.region.clone(), c.category.clone())),
                None => errs.push(FieldError::new(format!("{field}[{i}]"), format!("no case {id}"))),
            }
        }
        Ok(out)
    }

    /// Opens a problem from cases the actor may see, named or found by filters.
    pub async fn open_problem(&self, actor: &Actor, input: &ProblemInput) -> Result<Problem, StoreError> {
        let scope = Scope::for_actor(actor);
        let r = self.reference();
        let mut errs = Vec::new();
        let mut cases = self.problem_cases(&scope, &input.case_ids, "case_ids", &mut errs).await?;
        if let Some(f) = &input.filter {
            if let Some(reg) = &f.region
                && let Err(e) = RegionCode::parse(reg)
            {
                errs.push(FieldError::new("filter.region", e.message));
            }
            if errs.is_empty() {
                let found = self.store.list_cases(&scope, f, &Page { after: None, limit: MAX_CASES as i64 + 1, descending: true }).await?;
                if found.len() > MAX_CASES {
                    errs.push(FieldError::new("filter", format!("the filters find more than {MAX_CASES} cases; narrow them")));
                }
                cases.extend(found.iter().map(|c| (c.id, c.region.clone(), c.category.clone())));
            }
        }
        let mut regions = Vec::new();
        for (i, code) in input.regions.iter().enumerate() {
            match RegionCode::parse(code.trim()) {
                Ok(c) if r.regions.contains_key(c.as_str()) => regions.push(c),
                Ok(_) => errs.push(FieldError::new(format!("regions[{i}]"), format!("no region {code}"))),
                Err(e) => errs.push(FieldError::new(format!("regions[{i}]"), e.message)),
            }
        }
        for (i, c) in input.categories.iter().enumerate() {
            if !r.categories.contains_key(c.trim()) {
                errs.push(FieldError::new(format!("categories[{i}]"), format!("no category {c}")));
            }
        }
        let n = NewProblem {
            title: input.title.clone(),
            description: input.description.clone(),
            cases,
            regions,
            categories: input.categories.clone(),
            window_days: input.window_days,
        };
        // The domain's own checks, listed together with ours.
        match Problem::open(actor, &n, self.now()) {
            Ok(p) if errs.is_empty() => self.store.save_problem(&p, None, "problem_opened", &actor.label(), self.now()).await,
            Ok(_) => Err(DomainError::Invalid(errs).into()),
            Err(DomainError::Invalid(more)) => {
                let named = errs.iter().any(|x| x.field.starts_with("case_ids"));
                errs.extend(more.into_iter().filter(|e| !(e.field == "case_ids" && named)));
                Err(DomainError::Invalid(errs).into())
            }
            Err(e) if errs.is_empty() => Err(e.into()),
            Err(DomainError::Forbidden(m)) => Err(DomainError::Forbidden(m).into()),
            Err(_) => Err(DomainError::Invalid(errs).into()),
        }
    }

    /// A command on a problem the actor may see, optionally only at `expected_version`.
    pub async fn act_problem(
        &self,
        actor: &Actor,
        id: i64,
        expected_version: Option<i64>,
        cmd: &ProblemCommand,
    ) -> Result<Problem, StoreError> {
        let scope = Scope::for_actor(actor);
        let mut p = self.store.problem(&scope, id).await?.ok_or(StoreError::NotFound)?;
        let version = p.version;
        if let Some(v) = expected_version
            && v != version
        {
            return Err(StoreError::Conflict { current: version });
        }
        let r = self.reference();
        // Reference checks and the domain's are listed together.
        let mut errs = Vec::new();
        match cmd {
            ProblemCommand::AddCases { case_ids } => {
                let ids: Vec<i64> = case_ids.iter().map(|c| c.0).collect();
                self.problem_cases(&scope, &ids, "case_ids", &mut errs).await?;
            }
            ProblemCommand::SetResponsible { units, users } => {
                let known: std::collections::HashSet<String> = self.store.users().await?.into_iter().map(|u| u.id).collect();
                for (i, u) in units.iter().enumerate() {
                    if !r.units.contains_key(u.as_str()) {
                        errs.push(FieldError::new(format!("units[{i}]"), format!("unknown unit '{u}'")));
                    }
                }
                for (i, u) in users.iter().enumerate() {
                    if !known.contains(u.trim()) {
                        errs.push(FieldError::new(format!("users[{i}]"), format!("unknown user '{u}'")));
                    }
                }
            }
            ProblemCommand::AddAction { owner, .. } => {
                let ok = match owner {
                    Owner::Unit(u) => r.units.contains_key(u.as_str()),
                    Owner::User(u) => self.store.users().await?.iter().any(|x| &x.id == u),
                };
                if !ok {
                    errs.push(FieldError::new("owner", format!("unknown {}", owner.label())));
                }
            }
            _ => {}
        }
        let event = match p.act(actor, cmd, self.now()) {
            Ok(e) if errs.is_empty() => e,
            Ok(_) => return Err(DomainError::Invalid(errs).into()),
            Err(DomainError::Invalid(more)) => {
                errs.extend(more);
                return Err(DomainError::Invalid(errs).into());
            }
            Err(e) => return Err(e.into()),
        };
        self.store.save_problem(&p, Some(version), event, &actor.label(), self.now()).await
    }

    /// The closed-loop figures of the problem's places and categories, before and after the
    /// response started, in the reader's scope. Each (place, category) pair is one cohort
    /// query; places never nest and categories are distinct, so the counts add up.
    pub async fn problem_figures(&self, actor: &Actor, p: &Problem) -> Result<ProblemFigures, StoreError> {
        let (before, after) = p.windows(self.now());
        let before = self.window_figures(actor, p, before).await?;
        let after = match after {
            Some(w) => Some(self.window_figures(actor, p, w).await?),
            None => None,
        };
        Ok(ProblemFigures {
            regions: p.regions.iter().map(|r| r.as_str().to_string()).collect(),
            categories: p.categories.clone(),
            before,
            after,
        })
    }

    async fn window_figures(&self, actor: &Actor, p: &Problem, w: Window) -> Result<WindowFigures, StoreError> {
        let scope = Scope::for_actor(actor);
        let now = self.now();
        let mut counts = FigureCounts::default();
        let mut points: Vec<StagePoints> = Vec::new();
        let repeat_window_ms = self.config.figures.repeat_window_days as i64 * fengqiao_domain::clock::DAY_MS;
        for region in &p.regions {
            for category in &p.categories {
                let f = FactsFilter {
                    region: Some(region.as_str().to_string()),
                    unit: None,
                    category: Some(category.clone()),
                    from: w.from,
                    to: w.to,
                    repeat_window_ms,
                };
                let (c, pts) = self.store.figure_counts(&scope, &f, now).await?;
                add(&mut counts, &c);
                points.extend(pts);
            }
        }
        let figures = fengqiao_domain::figures::assemble(&counts, &points, now, &self.config.figures);
        Ok(WindowFigures { from: w.from, to: w.to, counts, figures })
    }
}
