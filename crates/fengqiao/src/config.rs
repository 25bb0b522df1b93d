//! Configuration: defaults, then `fengqiao.toml` in the data folder (or `--config FILE`), then
//! `FENGQIAO_*` environment variables, then command-line flags. One struct, read once.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use serde::Deserialize;

#[derive(Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    pub listen: String,
    pub data: PathBuf,
    /// `sqlite://…` or `postgres://…`; empty means SQLite in the data folder.
    pub database_url: String,
    /// IANA time zone for deadlines, dates and reports.
    pub time_zone: String,
    /// The HMAC key that signs audit checkpoints; kept outside the database.
    pub audit_key_file: Option<PathBuf>,
    /// Sign the chain head after this many events.
    pub checkpoint_every: i64,
    pub unreachable_attempts: u32,
    pub unreachable_min_channels: u32,
    pub unreachable_min_span_hours: u32,
    pub max_transfers: u32,
    /// Working hours the common supervisor has to arbitrate a rejected transfer.
    pub arbitration_hours: u32,
    pub repeat_window_days: u32,
    pub score_weights: Option<fengqiao_domain::figures::ScoreWeights>,
    /// Mark session cookies Secure: set when the server is reached over TLS (usually through
    /// a reverse proxy).
    pub secure_cookies: bool,
    /// Working hours on working days, in `time_zone`: `08:30-12:00,13:30-17:30`.
    pub working_hours: String,
    /// Count deadlines around the clock, ignoring holidays and working hours.
    pub always_open: bool,
    /// Starting tiers and automatic escalation (`[escalation]`).
    pub escalation: fengqiao_domain::escalation::EscalationLadder,
    /// The deadline scheduler (`[scheduler]`).
    pub scheduler: fengqiao_store::SchedulerConfig,
    /// A slippy-map tile URL (`https://tiles.example/{z}/{x}/{y}.png`) drawn behind the
    /// maps; its origin is then allowed as an image source. Unset: boundaries only.
    pub map_tile_url: Option<String>,
    /// Text messages to residents (`[sms]`): provider `file`, `http` or `none`.
    pub sms: fengqiao_store::SmsConfig,
    /// Police mediation limits and the judicial-confirmation window (`[mediation]`).
    pub mediation: fengqiao_domain::mediation::MediationConfig,
    /// Webhook and e-mail delivery (`[outbound]`: retries, timeout; `[outbound.smtp]`: the
    /// relay staff notices are e-mailed through, if any).
    pub outbound: fengqiao_store::webhooks::OutboundConfig,
    /// Early-warning thresholds and reach (`[warnings]`).
    pub warnings: fengqiao_domain::alert::WarningRules,
    /// Hot spots, emerging patterns and bursting topics (`[analytics]`).
    pub analytics: fengqiao_domain::perception::AnalyticsConfig,
}

impl Default for Config {
    fn default() -> Self {
        let l = fengqiao_domain::LifecycleConfig::default();
        Config {
            listen: "127.0.0.1:8080".into(),
            data: PathBuf::from("./data"),
            database_url: String::new(),
            time_zone: "Asia/Shanghai".into(),
            audit_key_file: None,
            checkpoint_every: 1000,
            unreachable_attempts: l.unreachable_attempts,
            unreachable_min_channels: l.unreachable_min_channels,
            unreachable_min_span_hours: l.unreachable_min_span_hours,
            max_transfers: l.max_transfers,
            arbitration_hours: l.arbitration_hours,
            repeat_window_days: 90,
            score_weights: None,
            secure_cookies: false,
            working_hours: fengqiao_domain::calendar::CalendarSettings::default().working_hours,
            always_open: false,
            escalation: Default::default(),
            scheduler: Default::default(),
            map_tile_url: None,
            sms: Default::default(),
            mediation: Default::default(),
            outbound: Default::default(),
            warnings: Default::default(),
            analytics: Default::default(),
        }
    }
}

/// Secrets (a database password in the URL) never reach logs.
impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("listen", &self.listen)
            .field("data", &self.data)
            .field("database_url", &redact_url(&self.database_url))
            .field("time_zone", &self.time_zone)
            .finish_non_exhaustive()
    }
}

pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => format!("{}://***@{}", &url[..s], &url[at + 1..]),
        _ => url.to_string(),
    }
}

impl Config {
    /// Reads the file (if any) and the environment. Flags are applied by the caller.
    pub fn load(file: Option<&Path>, data_flag: Option<&Path>) -> anyhow::Result<Config> {
        let data = data_flag
            .map(Path::to_path_buf)
            .or_else(|| std::env::var_os("FENGQIAO_DATA").map(PathBuf::from))
            .unwrap_or_else(|| PathBuf::from("./data"));
        let path = file.map(Path::to_path_buf).unwrap_or_else(|| data.join("fengqiao.toml"));
        let mut cfg = if path.exists() {
            let text = std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
            toml::from_str::<Config>(&text).with_context(|| format!("in {}", path.display()))?
        } else if file.is_some() {
            bail!("config file {} does not exist", path.display());
        } else {
            Config::default()
        };
        cfg.data = data;
        let env = |k: &str| std::env::var(format!("FENGQIAO_{k}")).ok().filter(|v| !v.is_empty());
        if let Some(v) = env("LISTEN") {
            cfg.listen = v;
        }
        if let Some(v) = env("DATABASE_URL") {
            cfg.database_url = v;
        }
        if let Some(v) = env("TIME_ZONE") {
            cfg.time_zone = v;
        }
        if let Some(v) = env("AUDIT_KEY_FILE") {
            cfg.audit_key_file = Some(PathBuf::from(v));
        }
        if let Some(v) = env("MAP_TILE_URL") {
            cfg.map_tile_url = Some(v);
        }
        if let Some(v) = env("SMS_PROVIDER") {
            cfg.sms.provider = v;
        }
        if let (Some(v), Some(smtp)) = (env("SMTP_PASSWORD"), cfg.outbound.smtp.as_mut()) {
            smtp.password = Some(v);
        }
        // A bad template is a configuration error, reported before anything starts.
        cfg.map_tiles()?;
        cfg.sms_provider()?;
        if let Some(p) = cfg.analytics.problems().into_iter().next() {
            bail!("{p}");
        }
        Ok(cfg)
    }

    /// The configured SMS provider, checked (a bad gateway setting fails at start-up).
    pub fn sms_provider(&self) -> anyhow::Result<std::sync::Arc<dyn fengqiao_store::SmsProvider>> {
        Ok(match self.sms.provider.as_str() {
            "none" | "" => std::sync::Arc::new(fengqiao_store::residents::NoSms),
            "file" => std::sync::Arc::new(fengqiao_store::residents::FileSms::new(self.sms_file())),
            "http" => std::sync::Arc::new(fengqiao_web::sms_gateway::HttpSms::from_config(&self.sms).map_err(anyhow::Error::msg)?),
            other => bail!("sms.provider: file, http or none, not '{other}'"),
        })
    }

    /// Where the file provider writes: `sms.file`, else `DATA/sms.jsonl`.
    pub fn sms_file(&self) -> PathBuf {
        self.sms.file.clone().unwrap_or_else(|| self.data.join("sms.jsonl"))
    }

    /// The checked tile server, if one is configured.
    pub fn map_tiles(&self) -> anyhow::Result<Option<fengqiao_web::pages::MapTiles>> {
        match self.map_tile_url.as_deref().filter(|u| !u.trim().is_empty()) {
            None => Ok(None),
            Some(u) => fengqiao_web::pages::MapTiles::parse(u).map(Some).map_err(anyhow::Error::msg),
        }
    }

    pub fn database_url(&self) -> String {
        if self.database_url.is_empty() {
            format!("sqlite://{}", self.data.join("fengqiao.db").display())
        } else {
            self.database_url.clone()
        }
    }

    pub fn time_zone(&self) -> anyhow::Result<jiff::tz::TimeZone> {
        jiff::tz::TimeZone::get(&self.time_zone).with_context(|| format!("unknown time zone '{}'", self.time_zone))
    }

    pub fn audit_key_path(&self) -> PathBuf {
        self.audit_key_file.clone().unwrap_or_else(|| self.data.join("audit.key"))
    }

    pub fn checkpoint_file(&self) -> PathBuf {
        self.data.join("audit-checkpoints.jsonl")
    }

    pub fn service_config(&self, audit_key: Option<Vec<u8>>) -> fengqiao_store::ServiceConfig {
        let mut figures = fengqiao_domain::figures::FiguresConfig { repeat_window_days: self.repeat_window_days, ..Default::default() };
        if let Some(w) = &self.score_weights {
            figures.weights = w.clone();
        }
        fengqiao_store::ServiceConfig {
            lifecycle: fengqiao_domain::LifecycleConfig {
                unreachable_attempts: self.unreachable_attempts,
                unreachable_min_channels: self.unreachable_min_channels,
                unreachable_min_span_hours: self.unreachable_min_span_hours,
                max_transfers: self.max_transfers,
                arbitration_hours: self.arbitration_hours,
            },
            figures,
            checkpoint_every: self.checkpoint_every,
            audit_key,
            checkpoint_file: Some(self.checkpoint_file()),
            max_batch: 256,
            calendar: fengqiao_domain::calendar::CalendarSettings {
                time_zone: self.time_zone.clone(),
                working_hours: self.working_hours.clone(),
                always_open: self.always_open,
            },
            ladder: self.escalation.clone(),
            scheduler: self.scheduler.clone(),
            mediation: self.mediation.clone(),
            outbound: self.outbound.clone(),
            warnings: self.warnings.clone(),
            analytics: self.analytics.clone(),
        }
    }
}

#[cfg(test)]
mod outbound_tests {
    use super::Config;

    #[test]
    fn the_outbound_section_and_its_smtp_relay_parse() {
        let text = r#"
[outbound]
timeout_secs = 5
retry = { max_attempts = 4, first_delay_secs = 10, max_delay_secs = 600 }

[outbound.smtp]
host = "smtp.internal"
from = "noreply@fengqiao.example"
username = "fengqiao"
"#;
        let c: Config = toml::from_str(text).unwrap();
        let smtp = c.outbound.smtp.as_ref().unwrap();
        assert_eq!((smtp.host.as_str(), smtp.port, smtp.helo.as_str()), ("smtp.internal", 25, "fengqiao"));
        assert_eq!((c.outbound.timeout_secs, c.outbound.retry.max_attempts, c.outbound.batch), (5, 4, 200));
        assert_eq!(c.service_config(None).outbound, c.outbound);
        assert!(!format!("{smtp:?}").contains("fengqiao\""), "the account stays out of logs");
        assert!(
            toml::from_str::<Config>("[outbound.smtp]\nhost = \"x\"\nfrom = \"a@b\"\nsecret = \"typo\"\n").is_err(),
            "unknown keys are refused"
        );
        assert!(Config::default().outbound.smtp.is_none());
    }
}

#[cfg(test)]
mod warnings_tests {
    use super::Config;

    #[test]
    fn the_warnings_section_parses_with_defaults_for_what_it_leaves_out() {
        let c: Config = toml::from_str("[warnings]\nparties_min_cases = 4\nburst_factor = 3.0\n").unwrap();
        let w = c.service_config(None).warnings;
        assert_eq!((w.parties_min_cases, w.burst_factor, w.parties_window_days, w.every_minutes), (4, 3.0, 30, 60));
        assert!(toml::from_str::<Config>("[warnings]\nparty_min = 4\n").is_err(), "unknown keys are refused");
        let c: Config = toml::from_str("[warnings]\nburst_alpha = 0.01\n[analytics]\nweeks = 16\npermutations = 499\n").unwrap();
        let s = c.service_config(None);
        assert_eq!((s.warnings.burst_alpha, s.analytics.weeks, s.analytics.permutations, s.analytics.every_minutes), (0.01, 16, 499, 15));
        let bad: Config = toml::from_str("[analytics]\nweeks = 6\n").unwrap();
        assert!(bad.analytics.problems()[0].contains("analytics.weeks"));
    }
}
