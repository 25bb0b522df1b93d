//! `fengqiao api-key`: create, revoke and list the API keys of client applications (the
//! Open311 interface). A new key is printed once, as the last word of the output.

use std::io::Write;

use anyhow::anyhow;
use clap::Subcommand;
use fengqiao_store::Service;

#[derive(Subcommand)]
pub enum ApiKeyCmd {
    /// Create a key and print it (last word of the output); only its SHA-256 is stored.
    Create {
        /// A short name recorded on every case the key creates (a-z, 0-9, '-', '_', '.').
        #[arg(long)]
        name: String,
        /// What the key may do: submit (new requests) and/or update (push status changes).
        #[arg(long = "scope", default_values_t = vec!["submit".to_string()])]
        scopes: Vec<String>,
        /// The handling unit whose system pushes updates with this key.
        #[arg(long)]
        unit: Option<String>,
        /// Requests a minute (default 600).
        #[arg(long)]
        rate_per_minute: Option<u32>,
    },
    /// Revoke a key by name; it stops working at once in this process and within 30 s in
    /// running servers.
    Revoke { name: String },
    /// List keys (never the keys themselves).
    List,
}

pub async fn run(svc: &Service, cmd: ApiKeyCmd, out: &mut impl Write) -> anyhow::Result<()> {
    let now = svc.now();
    match cmd {
        ApiKeyCmd::Create { name, scopes, unit, rate_per_minute } => {
            if let Some(u) = &unit
                && !svc.reference().units.contains_key(u)
            {
                return Err(anyhow!("--unit: no unit '{u}'"));
            }
            let (key, secret) = fengqiao_web::open311::make_key(&name, &scopes, unit, rate_per_minute, now).map_err(|e| anyhow!("{e}"))?;
            svc.store.create_api_key(&key, "system:cli", now).await.map_err(|e| anyhow!("{e}"))?;
            let scopes: Vec<&str> = key.scopes.iter().map(|s| s.as_str()).collect();
            writeln!(out, "API key {name} created (scopes: {}); key: {secret}", scopes.join(","))?;
        }
        ApiKeyCmd::Revoke { name } => {
            if !svc.store.revoke_api_key(&name, "system:cli", now).await.map_err(|e| anyhow!("{e}"))? {
                return Err(anyhow!("no live API key named '{name}'"));
            }
            writeln!(out, "API key {name} revoked")?;
        }
        ApiKeyCmd::List => {
            writeln!(out, "name\tscopes\tunit\trate_per_minute\tcreated_at\trevoked_at")?;
            for k in svc.store.api_keys().await.map_err(|e| anyhow!("{e}"))? {
                let scopes: Vec<&str> = k.scopes.iter().map(|s| s.as_str()).collect();
                writeln!(
                    out,
                    "{}\t{}\t{}\t{}\t{}\t{}",
                    k.name,
                    scopes.join(","),
                    k.unit.map(|u| u.0).unwrap_or_default(),
                    k.rate_per_minute.unwrap_or(fengqiao_web::open311::DEFAULT_RATE_PER_MINUTE),
                    k.created_at.to_rfc3339(),
                    k.revoked_at.map(|t| t.to_rfc3339()).unwrap_or_default()
                )?;
            }
        }
    }
    Ok(())
}
