//! Config auditor: deployment settings that decide how much an attacker gets once a container is
//! compromised (root user, writable root filesystem, privileged mode, plaintext secrets, broad IAM,
//! unscoped Lambda invoke permissions).
//!
//! A file is recognised by its content ([`detect`]), parsed into a [`node::Node`] tree that keeps
//! line numbers and CloudFormation tags, and each document is handed to the rule family that knows
//! its shape. Every rule is listed once in [`RULES`] (ids and severities are a public contract:
//! users put the ids in ignore files).
//!
//! Choices the rule table leaves open:
//! - Secrets: references (`valueFrom`, `secretKeyRef`, `{{resolve:...}}`, Secrets Manager/SSM ARNs,
//!   `!Ref`/`!GetAtt`, `${VAR}`/`$(VAR)` templates, file paths), empty values, booleans and short
//!   numbers are not secrets; a literal weak password such as `changeme` is (see [`secrets`]).
//!   Messages name the variable and the reason, never the value.
//! - IAM: `NotAction` in an `Allow` statement is IAM-001 (it allows everything else); `Effect` is
//!   compared case-insensitively; `NotResource` counts as `Resource: "*"`. An attached
//!   `AdministratorAccess` managed policy is IAM-001 too.
//! - SG-001: a security group with no `SecurityGroupEgress` gets CloudFormation's default
//!   allow-all egress rule, so it fails too.
//! - POD-001 follows the table literally: `runAsNonRoot: true` or a non-zero `runAsUser` passes.
//! - ECS-006 for `pidMode`/`ipcMode: host` is reported on the task (family or logical id).
//! - Lines: per-container rules point at the container, secret rules at the variable, IAM rules at
//!   the statement, other CloudFormation rules at the resource.

use crate::model::{CauseMetadata, Misconfiguration, ScanResult, Severity};

pub mod cfn;
pub mod detect;
pub mod dockerfile;
pub mod ecs;
pub mod iam;
pub mod image;
pub mod json;
pub mod node;
pub mod pod;
pub mod secrets;

pub use detect::ConfigType;
pub use node::{Node, ParseError};

/// A rule: stable id, severity, one-line title and the fix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rule {
    pub id: &'static str,
    pub severity: Severity,
    pub title: &'static str,
    pub resolution: &'static str,
}

const fn rule(
    id: &'static str,
    severity: Severity,
    title: &'static str,
    resolution: &'static str,
) -> Rule {
    Rule {
        id,
        severity,
        title,
        resolution,
    }
}

use Severity::{Critical, High, Low, Medium};

/// Every rule the auditor knows (the table of issue 5).
pub const RULES: &[Rule] = &[
    rule("ECS-001", High, "Container may run as root", "Set `user` to a non-root UID (e.g. \"1000:1000\")."),
    rule("ECS-002", High, "Root filesystem is writable", "Set `readonlyRootFilesystem: true`; mount volumes for paths that must be written."),
    rule("ECS-003", Critical, "Container runs privileged", "Remove `privileged: true`."),
    rule("ECS-004", Critical, "Secret in plaintext environment", "Move the value to Secrets Manager or SSM Parameter Store and reference it from `secrets` (`valueFrom`)."),
    rule("ECS-005", Low, "No log configuration", "Add a `logConfiguration` (e.g. the awslogs driver)."),
    rule("ECS-006", High, "Extra Linux capabilities or host namespaces", "Remove `linuxParameters.capabilities.add` and `pidMode`/`ipcMode: host`."),
    rule("ECS-007", Low, "Image not pinned by digest", "Reference the image by digest (`repo@sha256:...`)."),
    rule("POD-001", High, "Container may run as root", "Set `securityContext.runAsNonRoot: true` and a non-zero `runAsUser`."),
    rule("POD-002", Medium, "Privilege escalation allowed", "Set `securityContext.allowPrivilegeEscalation: false`."),
    rule("POD-003", High, "Root filesystem is writable", "Set `securityContext.readOnlyRootFilesystem: true`; mount an emptyDir for paths that must be written."),
    rule("POD-004", Critical, "Container runs privileged", "Remove `securityContext.privileged: true`."),
    rule("POD-005", Medium, "Linux capabilities not dropped", "Set `securityContext.capabilities.drop: [ALL]` and add back only what is needed (never SYS_ADMIN, NET_ADMIN, ...)."),
    rule("POD-006", Critical, "Secret in plaintext environment", "Use `valueFrom.secretKeyRef` (Kubernetes) or a Secret Manager reference (Cloud Run) instead of `value`."),
    rule("POD-007", Low, "No resource limits", "Set `resources.limits` for cpu and memory."),
    rule("CLOUDRUN-001", Medium, "Service reachable from the internet", "Set the `run.googleapis.com/ingress` annotation to `internal` or `internal-and-cloud-load-balancing`."),
    rule("CLOUDRUN-002", Medium, "Default service account", "Run the service as a dedicated, least-privilege service account (`spec.template.spec.serviceAccountName`)."),
    rule("IMG-001", High, "Image runs as root", "Add a non-root `USER` to the image (e.g. `USER 1000:1000`)."),
    rule("IMG-002", Critical, "Secret in image environment", "Do not bake secrets into the image: pass them at run time from a secret store."),
    rule("DOCKERFILE-001", High, "Image runs as root", "End the final stage with a non-root `USER` (e.g. `USER 1000:1000`)."),
    rule("IAM-001", Critical, "Policy allows every action", "Replace `Action: \"*\"` (or `NotAction`) with the actions the principal needs."),
    rule("IAM-002", High, "Service-wide wildcard on every resource", "List the actions needed and scope `Resource` to specific ARNs."),
    rule("IAM-003", High, "iam:PassRole on every resource", "Scope `iam:PassRole` to the ARNs of the roles that may be passed."),
    rule("LAMBDA-001", High, "Unscoped Lambda invoke permission", "Give a specific principal, and for service principals a `SourceArn` (and `SourceAccount`)."),
    rule("LAMBDA-002", Critical, "Secret in plaintext function environment", "Read the secret at run time from Secrets Manager or SSM (or a `{{resolve:secretsmanager:...}}` reference)."),
    rule("LAMBDA-003", Low, "Function not attached to a VPC", "Set `VpcConfig` with private subnets and security groups."),
    rule("LAMBDA-004", Medium, "Deprecated Lambda runtime", "Move to a supported runtime version."),
    rule("SG-001", Medium, "Unrestricted egress", "Restrict `SecurityGroupEgress` to the destinations and ports the workload needs."),
];

/// Look up a rule by id.
pub fn rule_by_id(id: &str) -> Option<&'static Rule> {
    RULES.iter().find(|r| r.id == id)
}

/// Build a failed check. `lines` are 1-based `(start, end)` when known.
pub fn fail(
    id: &str,
    resource: &str,
    message: String,
    lines: Option<(u32, u32)>,
) -> Misconfiguration {
    let r = rule_by_id(id);
    // Messages quote the file (a value, a line): capped, so a finding's size does not grow with
    // the length of one line of input.
    let message = crate::limits::message(message);
    let resource = crate::limits::cap(resource, crate::limits::MAX_PACKAGE_FIELD);
    Misconfiguration {
        id: id.to_owned(),
        title: r.map_or_else(|| id.to_owned(), |r| r.title.to_owned()),
        severity: r.map_or(Severity::Unknown, |r| r.severity),
        message,
        resolution: r.map_or_else(String::new, |r| r.resolution.to_owned()),
        status: "FAIL".to_owned(),
        cause_metadata: CauseMetadata {
            resource: (!resource.is_empty()).then(|| resource.clone().into_owned()),
            start_line: lines.map(|l| l.0),
            end_line: lines.map(|l| l.1),
        },
    }
}

/// The plaintext text of a setting, or `None` when the value is computed at deploy time
/// (`!Ref`, `!GetAtt`, `{"Fn::ImportValue": ...}`) or is not a scalar. `!Sub "..."` and
/// `{"Fn::Sub": "..."}` give their template string: its literal parts are written in the file.
pub fn plaintext(n: &Node) -> Option<String> {
    match n.tag.as_deref() {
        Some("!Sub") => return n.as_str().map(str::to_owned),
        Some(t) if t.starts_with('!') && t != "!!str" => return None,
        _ => {}
    }
    if n.is_map() {
        return n.get("Fn::Sub").and_then(|s| s.as_str()).map(str::to_owned);
    }
    if n.is_intrinsic() {
        return None;
    }
    n.scalar_text()
}

/// The result of auditing one file.
#[derive(Debug)]
pub enum FileAudit {
    /// One result per config type found in the file (a YAML stream can mix Kubernetes and Cloud
    /// Run documents).
    Results(Vec<ScanResult>),
    /// No document of a known format.
    Unknown,
}

/// Audit one file's text. `target` names it in the report; `file_name` (the last path component)
/// only helps recognise Dockerfiles, whose syntax no parser would reject.
pub fn audit_text(target: &str, file_name: &str, text: &str) -> Result<FileAudit, ParseError> {
    // A UTF-8 byte-order mark (editors on Windows) is not content.
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    if detect::is_dockerfile(file_name, text) {
        let found = dockerfile::audit(text);
        return Ok(FileAudit::Results(vec![result(
            target,
            ConfigType::Dockerfile,
            found,
        )]));
    }
    let strict_json = file_name.to_ascii_lowercase().ends_with(".json");
    let docs = node::parse_with(text, strict_json)?;
    let mut by_type: Vec<(ConfigType, Vec<Misconfiguration>)> = Vec::new();
    for doc in &docs {
        let Some(kind) = detect::detect(doc) else {
            continue;
        };
        let mut found = Vec::new();
        match kind {
            ConfigType::EcsTaskDefinition => ecs::audit_document(doc, &mut found),
            ConfigType::CloudRun | ConfigType::Kubernetes => pod::audit_document(doc, &mut found),
            ConfigType::CloudFormation => cfn::audit_template(doc, &mut found),
            ConfigType::IamPolicy => iam::audit_standalone(doc, &mut found),
            ConfigType::Dockerfile | ConfigType::ImageConfig => {}
        }
        match by_type.iter_mut().find(|(t, _)| *t == kind) {
            Some((_, v)) => v.extend(found),
            None => by_type.push((kind, found)),
        }
    }
    if by_type.is_empty() {
        return Ok(FileAudit::Unknown);
    }
    Ok(FileAudit::Results(
        by_type
            .into_iter()
            .map(|(t, found)| result(target, t, found))
            .collect(),
    ))
}

fn result(target: &str, kind: ConfigType, mut found: Vec<Misconfiguration>) -> ScanResult {
    found.sort_by(|a, b| {
        (
            a.cause_metadata.start_line,
            &a.id,
            &a.cause_metadata.resource,
        )
            .cmp(&(
                b.cause_metadata.start_line,
                &b.id,
                &b.cause_metadata.resource,
            ))
    });
    ScanResult {
        target: target.to_owned(),
        class: "config".to_owned(),
        kind: kind.as_str().to_owned(),
        packages: None,
        vulnerabilities: None,
        misconfigurations: Some(found),
    }
}

/// Audit an image's config (`Config.User`, `Config.Env`): IMG-001, IMG-002. `None` when there is no
/// config to audit.
pub fn image_config(target: &str, config: &serde_json::Value) -> Option<ScanResult> {
    let found = image::audit(config)?;
    Some(result(target, ConfigType::ImageConfig, found))
}

/// The image config with secrets redacted, for reports that echo it (`Metadata.ImageConfig`):
/// "never a credential in any output" covers the config's `Env` and history too.
pub fn redacted_image_config(config: &serde_json::Value) -> serde_json::Value {
    image::redacted(config)
}

/// Free text (a layer's `created_by`) with secret-like `NAME=value` values and credential-shaped
/// strings replaced by `<redacted>`.
pub fn redact_text(text: &str) -> String {
    secrets::redact_text(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rule_table_is_complete_and_unique() {
        let ids: Vec<&str> = RULES.iter().map(|r| r.id).collect();
        let mut sorted = ids.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(sorted.len(), ids.len());
        assert_eq!(ids.len(), 27);
        assert_eq!(
            rule_by_id("ECS-003").map(|r| r.severity),
            Some(Severity::Critical)
        );
        assert_eq!(
            rule_by_id("SG-001").map(|r| r.severity),
            Some(Severity::Medium)
        );
        assert_eq!(
            rule_by_id("LAMBDA-003").map(|r| r.severity),
            Some(Severity::Low)
        );
    }

    #[test]
    fn plaintext_skips_references() {
        let d = node::parse_documents(
            "a: !Ref P\nb: !Sub 'x-${P}'\nc: {\"Fn::GetAtt\": [R, Arn]}\nd: plain\ne: 5\n",
        )
        .unwrap();
        let doc = &d[0];
        assert_eq!(plaintext(doc.get("a").unwrap()), None);
        assert_eq!(plaintext(doc.get("b").unwrap()).as_deref(), Some("x-${P}"));
        assert_eq!(plaintext(doc.get("c").unwrap()), None);
        assert_eq!(plaintext(doc.get("d").unwrap()).as_deref(), Some("plain"));
        assert_eq!(plaintext(doc.get("e").unwrap()).as_deref(), Some("5"));
    }

    #[test]
    fn byte_order_mark_and_crlf() {
        let Ok(FileAudit::Results(r)) =
            audit_text("b", "build", "\u{feff}FROM alpine\r\nUSER root\r\n")
        else {
            panic!("not a Dockerfile");
        };
        let m = r[0].misconfigurations.as_deref().unwrap_or_default();
        assert_eq!(m.len(), 1);
        assert_eq!(m[0].cause_metadata.start_line, Some(2));
        let Ok(FileAudit::Results(r)) = audit_text(
            "t",
            "t.json",
            "\u{feff}{\"containerDefinitions\": [{\"name\": \"a\"}]}",
        ) else {
            panic!("not a task definition");
        };
        assert_eq!(r[0].kind, "ecs-task-definition");
    }

    #[test]
    fn unknown_documents_are_unknown() {
        assert!(matches!(
            audit_text("x.yaml", "x.yaml", "a: 1\n"),
            Ok(FileAudit::Unknown)
        ));
        assert!(matches!(
            audit_text("x.json", "x.json", "[1, 2]"),
            Ok(FileAudit::Unknown)
        ));
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_text_never_panics(text in "(?s).{0,300}", name in "[A-Za-z.]{0,12}") {
            let _ = audit_text("t", &name, &text);
        }

        #[test]
        fn arbitrary_yamlish_never_panics(text in "([ \\-]{0,6}(\\[|\\]|\\{|\\}|!Ref |!Sub |[a-zA-Z]{1,8}|: |, |\n|\"|'|&a |\\*a |---\n)){0,60}") {
            let _ = audit_text("t", "t.yaml", &text);
        }

        /// Whatever the variable is called and whatever it holds, its value never reaches a message.
        #[test]
        fn secret_values_never_reach_messages(
            var in "([A-Z]{1,5}_)?(PASSWORD|TOKEN|SECRET|API_KEY|AUTH|apiKey|Passwd)(_PROD|_V2|_VALUE)?",
            value in "[A-Za-z0-9][A-Za-z0-9+/]{9,39}",
        ) {
            let td = serde_json::json!({"family": "f", "containerDefinitions": [{"name": "c",
                "environment": [{"name": var, "value": value}]}]}).to_string();
            let k8s = format!("apiVersion: v1\nkind: Pod\nmetadata: {{name: p}}\nspec:\n  containers:\n  - name: c\n    env:\n    - name: {var}\n      value: \"{value}\"\n");
            for (file, text) in [("td.json", td), ("pod.yaml", k8s)] {
                let Ok(FileAudit::Results(results)) = audit_text(file, file, &text) else {
                    panic!("{file} not audited");
                };
                let mut flagged = false;
                for m in results.iter().flat_map(|r| r.misconfigurations.iter().flatten()) {
                    proptest::prop_assert!(!m.message.contains(&value));
                    proptest::prop_assert!(!m.title.contains(&value));
                    proptest::prop_assert!(m.cause_metadata.resource.as_deref() != Some(value.as_str()));
                    flagged |= m.id == "ECS-004" || m.id == "POD-006";
                }
                proptest::prop_assert!(flagged, "{} not flagged in {}", var, file);
            }
        }
    }
}
