//! ECS task definitions: ECS-001..007. One code path for the three shapes users have: the
//! `register-task-definition` input, the `describe-task-definition` output (`{"taskDefinition": ...}`)
//! and `AWS::ECS::TaskDefinition` properties in CloudFormation (PascalCase keys, hence the
//! case-insensitive lookups).

use super::node::Node;
use super::secrets;
use super::{fail, plaintext};
use crate::model::Misconfiguration;

/// Audit a standalone task definition document.
pub fn audit_document(doc: &Node, out: &mut Vec<Misconfiguration>) {
    if super::detect::is_container_definitions(doc) {
        audit_containers(doc, "container definitions", out);
        return;
    }
    let td = doc.get("taskDefinition").unwrap_or(doc);
    let family = td
        .get_ci("family")
        .and_then(plaintext)
        .unwrap_or_else(|| "task-definition".to_owned());
    audit_task(td, &family, &format!("Task definition '{family}'"), out);
}

/// Audit one task definition. `task_resource` names the task for task-level rules (family or
/// CloudFormation logical id); `what` is how messages refer to it.
pub fn audit_task(td: &Node, task_resource: &str, what: &str, out: &mut Vec<Misconfiguration>) {
    // Task-level host namespaces.
    for key in ["pidMode", "ipcMode"] {
        if let Some(e) = td.entry_ci(key) {
            if plaintext(&e.value).is_some_and(|v| v.eq_ignore_ascii_case("host")) {
                out.push(fail(
                    "ECS-006",
                    task_resource,
                    format!(
                        "{what} shares the host's {} namespace ({key}: host)",
                        if key == "pidMode" { "PID" } else { "IPC" }
                    ),
                    Some((e.key_line, e.value.end_line.max(e.key_line))).filter(|l| l.0 > 0),
                ));
            }
        }
    }
    if let Some(containers) = td.get_ci("containerDefinitions") {
        audit_containers(containers, what, out);
    }
}

fn audit_containers(containers: &Node, what: &str, out: &mut Vec<Misconfiguration>) {
    for (i, c) in containers.items().iter().enumerate() {
        let name = c
            .get_ci("name")
            .and_then(plaintext)
            .unwrap_or_else(|| format!("containerDefinitions[{i}]"));
        audit_container(c, &name, what, out);
    }
}

fn audit_container(c: &Node, name: &str, what: &str, out: &mut Vec<Misconfiguration>) {
    let lines = c.lines();
    let who = format!("Container '{name}' in {}", lower_first(what));

    // ECS-001: no user, or root.
    match c.get_ci("user") {
        None => out.push(fail(
            "ECS-001",
            name,
            format!("{who} sets no `user`, so it runs as the image's user (root unless the image says otherwise)"),
            lines,
        )),
        Some(u) => {
            if let Some(user) = plaintext(u) {
                if is_root_user(&user) {
                    out.push(fail(
                        "ECS-001",
                        name,
                        format!("{who} runs as root (user \"{}\")", user.trim()),
                        lines,
                    ));
                }
            }
        }
    }

    // ECS-002
    if c.get_ci("readonlyRootFilesystem").and_then(Node::as_bool) != Some(true) {
        out.push(fail(
            "ECS-002",
            name,
            format!("{who} does not set readonlyRootFilesystem: true"),
            lines,
        ));
    }

    // ECS-003
    if c.get_ci("privileged").and_then(Node::as_bool) == Some(true) {
        out.push(fail(
            "ECS-003",
            name,
            format!("{who} runs privileged"),
            lines,
        ));
    }

    // ECS-004: plaintext environment.
    if let Some(env) = c.get_ci("environment") {
        for item in env.items() {
            let Some(var) = item.get_ci("name").and_then(plaintext) else {
                continue;
            };
            let Some(value) = item.get_ci("value").and_then(plaintext) else {
                continue;
            };
            if let Some(kind) = secrets::classify(&var, &value) {
                out.push(fail(
                    "ECS-004",
                    name,
                    format!(
                        "{who} sets {var} in plaintext `environment` ({}; value redacted)",
                        kind.describe()
                    ),
                    item.lines().or(lines),
                ));
            }
        }
    }

    // ECS-005
    if c.get_ci("logConfiguration").is_none_or(Node::is_null) {
        out.push(fail(
            "ECS-005",
            name,
            format!("{who} has no logConfiguration"),
            lines,
        ));
    }

    // ECS-006: added capabilities.
    if let Some(add) = c.path_ci(&["linuxParameters", "capabilities", "add"]) {
        let caps: Vec<String> = add.items().iter().filter_map(plaintext).collect();
        if !caps.is_empty() {
            out.push(fail(
                "ECS-006",
                name,
                format!("{who} adds Linux capabilities: {}", caps.join(", ")),
                add.lines().or(lines),
            ));
        }
    }

    // ECS-007
    if let Some(image) = c.get_ci("image").and_then(plaintext) {
        if !image.contains("@sha256:") {
            out.push(fail(
                "ECS-007",
                name,
                format!("{who} uses image \"{image}\", which is not pinned by digest"),
                lines,
            ));
        }
    }
}

/// "Task definition 'x'" → "task definition 'x'" (CloudFormation types stay as they are).
fn lower_first(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) if !s.starts_with("AWS::") => f.to_lowercase().chain(c).collect(),
        _ => s.to_owned(),
    }
}

/// `root`, `0`, `0:<gid>`, `root:<group>`, or empty.
pub fn is_root_user(user: &str) -> bool {
    let u = user.trim();
    let name = u.split(':').next().unwrap_or("").trim();
    name.is_empty() || name == "root" || name.chars().all(|c| c == '0')
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::node::parse_documents;

    fn ids(json: &str) -> Vec<(String, Option<String>)> {
        let docs = parse_documents(json).unwrap();
        let mut out = Vec::new();
        audit_document(&docs[0], &mut out);
        out.into_iter()
            .map(|m| (m.id, m.cause_metadata.resource))
            .collect()
    }

    #[test]
    fn root_users() {
        for u in ["", "root", "0", "0:0", "0:1000", "root:root", " 0 "] {
            assert!(is_root_user(u), "{u:?}");
        }
        for u in ["1000", "1000:1000", "app", "nobody:nogroup", "10"] {
            assert!(!is_root_user(u), "{u:?}");
        }
    }

    #[test]
    fn hardened_container_passes() {
        let td = r#"{"family": "web", "containerDefinitions": [{
            "name": "app", "image": "123.dkr.ecr.eu-west-1.amazonaws.com/app@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
            "user": "1000:1000", "readonlyRootFilesystem": true, "privileged": false,
            "environment": [{"name": "LOG_LEVEL", "value": "info"}],
            "secrets": [{"name": "DB_PASSWORD", "valueFrom": "arn:aws:secretsmanager:eu-west-1:123:secret:db"}],
            "logConfiguration": {"logDriver": "awslogs"}}]}"#;
        assert_eq!(ids(td), vec![]);
    }

    #[test]
    fn bad_container_fails_every_rule() {
        let td = r#"{"taskDefinition": {"family": "web", "pidMode": "host", "containerDefinitions": [{
            "name": "app", "image": "nginx:latest", "user": "0:0", "privileged": true,
            "environment": [{"name": "DB_PASSWORD", "value": "hunter2"}],
            "linuxParameters": {"capabilities": {"add": ["SYS_ADMIN"]}}}]}}"#;
        let got = ids(td);
        for id in [
            "ECS-001", "ECS-002", "ECS-003", "ECS-004", "ECS-005", "ECS-007",
        ] {
            assert!(
                got.contains(&(id.to_owned(), Some("app".to_owned()))),
                "{id}: {got:?}"
            );
        }
        assert!(got.contains(&("ECS-006".to_owned(), Some("web".to_owned()))));
        assert!(got.contains(&("ECS-006".to_owned(), Some("app".to_owned()))));
    }

    #[test]
    fn bare_container_definitions_array() {
        let got = ids(r#"[{"name": "app", "image": "nginx:1", "user": "root"}]"#);
        assert!(
            got.contains(&("ECS-001".to_owned(), Some("app".to_owned()))),
            "{got:?}"
        );
    }
}
