//! The image config of a scanned image: IMG-001 (user), IMG-002 (secrets baked into `Env`).
//! Accepts the OCI/Docker config blob (`{"config": {"User": ..., "Env": [...]}}`) and the
//! `docker inspect` shape (`{"Config": {...}}`).

use super::ecs::is_root_user;
use super::{fail, secrets};
use crate::model::Misconfiguration;
use serde_json::Value;

/// `None` when `config` is not an image config object.
pub fn audit(config: &Value) -> Option<Vec<Misconfiguration>> {
    let obj = config.as_object()?;
    let section = obj
        .get("config")
        .or_else(|| obj.get("Config"))
        .unwrap_or(config);
    let mut out = Vec::new();
    let user = section.get("User").and_then(Value::as_str).unwrap_or("");
    if is_root_user(user) {
        let why = if user.trim().is_empty() {
            "sets no User, so containers run as root".to_owned()
        } else {
            format!("runs as root (User \"{}\")", user.trim())
        };
        out.push(fail(
            "IMG-001",
            "Config.User",
            format!("The image config {why}"),
            None,
        ));
    }
    for entry in section
        .get("Env")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[])
    {
        let Some(kv) = entry.as_str() else { continue };
        let (name, value) = kv.split_once('=').unwrap_or((kv, ""));
        if let Some(kind) = secrets::classify(name, value) {
            out.push(fail(
                "IMG-002",
                name,
                format!(
                    "The image config sets {name} in Env ({}; value redacted)",
                    kind.describe()
                ),
                None,
            ));
        }
    }
    Some(out)
}

/// A copy of an image config with secret-like `Env` values and secrets in `history[].created_by`
/// replaced by `<redacted>`, for reports that echo the config (`Metadata.ImageConfig`).
pub fn redacted(config: &Value) -> Value {
    let mut v = config.clone();
    for section in ["config", "Config", "container_config", "ContainerConfig"] {
        if let Some(env) = v
            .get_mut(section)
            .and_then(|s| s.get_mut("Env"))
            .and_then(Value::as_array_mut)
        {
            for e in env.iter_mut() {
                let Some(kv) = e.as_str() else { continue };
                let (name, value) = kv.split_once('=').unwrap_or((kv, ""));
                if secrets::classify(name, value).is_some() {
                    *e = Value::String(format!("{name}=<redacted>"));
                }
            }
        }
        if let Some(cmd) = v
            .get_mut(section)
            .and_then(|s| s.get_mut("Cmd"))
            .and_then(Value::as_array_mut)
        {
            for c in cmd.iter_mut() {
                if let Some(s) = c.as_str() {
                    *c = Value::String(secrets::redact_text(s));
                }
            }
        }
    }
    if let Some(history) = v.get_mut("history").and_then(Value::as_array_mut) {
        for h in history.iter_mut() {
            if let Some(cb) = h.get_mut("created_by") {
                if let Some(s) = cb.as_str() {
                    *cb = Value::String(secrets::redact_text(s));
                }
            }
        }
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_and_env() {
        let cfg = serde_json::json!({"architecture": "amd64", "config": {"User": "", "Env": ["PATH=/usr/bin", "AWS_ACCESS_KEY_ID=AKIAIOSFODNN7EXAMPLE", "API_TOKEN=abc123def456"]}});
        let got = audit(&cfg).unwrap();
        let ids: Vec<(&str, Option<&str>)> = got
            .iter()
            .map(|m| (m.id.as_str(), m.cause_metadata.resource.as_deref()))
            .collect();
        assert_eq!(
            ids,
            vec![
                ("IMG-001", Some("Config.User")),
                ("IMG-002", Some("AWS_ACCESS_KEY_ID")),
                ("IMG-002", Some("API_TOKEN"))
            ]
        );
        for m in &got {
            assert!(
                !m.message.contains("AKIAIOSFODNN7EXAMPLE") && !m.message.contains("abc123def456")
            );
        }
        let ok = serde_json::json!({"config": {"User": "1000:1000", "Env": ["PATH=/usr/bin"]}});
        assert_eq!(audit(&ok).unwrap(), vec![]);
        let docker = serde_json::json!({"Config": {"User": "root"}});
        assert_eq!(audit(&docker).unwrap().len(), 1);
        assert!(audit(&serde_json::json!("x")).is_none());
    }

    #[test]
    fn redacted_copy_for_reports() {
        let cfg = serde_json::json!({
            "config": {"User": "app", "Env": ["PATH=/usr/bin", "DB_PASSWORD=hunter2-xyz"]},
            "history": [{"created_by": "/bin/sh -c #(nop) ENV DB_PASSWORD=hunter2-xyz"}, {"created_by": "COPY . /app"}]
        });
        let r = redacted(&cfg);
        let text = r.to_string();
        assert!(!text.contains("hunter2-xyz"), "{text}");
        assert_eq!(r["config"]["Env"][0], "PATH=/usr/bin");
        assert_eq!(r["config"]["Env"][1], "DB_PASSWORD=<redacted>");
        assert_eq!(r["history"][1]["created_by"], "COPY . /app");
    }
}
