//! Which format is this document? Decided from content: users keep task definitions in
//! `taskdef.json`, `td-prod.json` or `deploy/app.json`, and CDK writes `Stack.template.json`.
//! Only Dockerfiles also use the file name, because almost any text file would parse as one.

use super::node::Node;

/// The `Type` of a config result.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConfigType {
    EcsTaskDefinition,
    CloudRun,
    Kubernetes,
    CloudFormation,
    IamPolicy,
    Dockerfile,
    ImageConfig,
}

impl ConfigType {
    pub fn as_str(self) -> &'static str {
        match self {
            ConfigType::EcsTaskDefinition => "ecs-task-definition",
            ConfigType::CloudRun => "cloudrun",
            ConfigType::Kubernetes => "kubernetes",
            ConfigType::CloudFormation => "cloudformation",
            ConfigType::IamPolicy => "iam-policy",
            ConfigType::Dockerfile => "dockerfile",
            ConfigType::ImageConfig => "image-config",
        }
    }
}

/// Kubernetes kinds whose pod spec we audit.
pub const WORKLOAD_KINDS: &[&str] = &[
    "Pod",
    "Deployment",
    "StatefulSet",
    "DaemonSet",
    "ReplicaSet",
    "Job",
    "CronJob",
];

/// The format of one parsed document, or `None` when it is none we audit.
pub fn detect(doc: &Node) -> Option<ConfigType> {
    if is_container_definitions(doc) {
        return Some(ConfigType::EcsTaskDefinition);
    }
    if !doc.is_map() {
        return None;
    }
    // CloudFormation / CDK / SAM: `Resources` whose entries have `Type: AWS::...`.
    if let Some(res) = doc.get("Resources") {
        let typed = res.entries().iter().any(|e| {
            e.value
                .get("Type")
                .and_then(Node::as_str)
                .is_some_and(|t| t.starts_with("AWS::"))
        });
        if typed {
            return Some(ConfigType::CloudFormation);
        }
    }
    // ECS: register-task-definition input, or describe-task-definition output.
    let td = doc.get("taskDefinition").unwrap_or(doc);
    if td
        .get_ci("containerDefinitions")
        .is_some_and(|c| !c.items().is_empty() || matches!(c.kind, super::node::Kind::Seq(_)))
    {
        return Some(ConfigType::EcsTaskDefinition);
    }
    let api = doc.get("apiVersion").and_then(Node::as_str).unwrap_or("");
    let kind = doc.get("kind").and_then(Node::as_str).unwrap_or("");
    if api.starts_with("serving.knative.dev/") && kind == "Service"
        || api.starts_with("run.googleapis.com/") && kind == "Job"
    {
        return Some(ConfigType::CloudRun);
    }
    if !api.is_empty() && WORKLOAD_KINDS.contains(&kind) {
        return Some(ConfigType::Kubernetes);
    }
    if kind == "List"
        && doc
            .get("items")
            .is_some_and(|i| i.items().iter().any(|d| detect(d).is_some()))
    {
        // `kubectl get -o yaml` output: a list of objects.
        return doc
            .get("items")
            .and_then(|i| i.items().iter().find_map(detect));
    }
    // A standalone IAM policy document (`aws iam get-policy-version` gives it under `Document`).
    if policy_document(doc).is_some() {
        return Some(ConfigType::IamPolicy);
    }
    None
}

/// A bare `containerDefinitions` array (Terraform's `container_definitions = file(...)`): a list
/// whose items all have a `name` and an `image`. Kubernetes never has a top-level list.
pub fn is_container_definitions(doc: &Node) -> bool {
    let items = doc.items();
    !items.is_empty()
        && items
            .iter()
            .all(|c| c.get_ci("name").is_some() && c.get_ci("image").is_some())
}

/// The policy document of a standalone IAM file: the document itself (top-level `Statement`), or
/// the `Document` of `aws iam get-policy-version` / the `PolicyDocument` of `get-role-policy`.
pub fn policy_document(doc: &Node) -> Option<&Node> {
    [
        Some(doc),
        doc.path_ci(&["PolicyVersion", "Document"]),
        doc.get("PolicyDocument"),
    ]
    .into_iter()
    .flatten()
    .find(|d| d.get("Statement").is_some())
}

/// Is this a Dockerfile? By name (`Dockerfile`, `Dockerfile.prod`, `app.dockerfile`,
/// `Containerfile`), or by content: the first instruction (after comments, parser directives and
/// `ARG`s) is `FROM` written in upper case.
pub fn is_dockerfile(file_name: &str, text: &str) -> bool {
    let lower = file_name.to_ascii_lowercase();
    if lower.starts_with("dockerfile")
        || lower.starts_with("containerfile")
        || lower.ends_with(".dockerfile")
        || lower.ends_with(".containerfile")
    {
        return true;
    }
    for line in text.lines() {
        let t = line.trim();
        if t.is_empty() || t.starts_with('#') {
            continue;
        }
        let mut words = t.split_whitespace();
        let first = words.next().unwrap_or("");
        if first == "ARG" {
            continue;
        }
        // Upper case only: instructions are case-insensitive, but prose starting with "from"
        // must not pass for a Dockerfile.
        return first == "FROM" && words.next().is_some();
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::node::parse_documents;

    fn kind(text: &str) -> Option<ConfigType> {
        parse_documents(text).ok()?.first().and_then(detect)
    }

    #[test]
    fn formats_from_content() {
        assert_eq!(
            kind(r#"{"family": "x", "containerDefinitions": [{"name": "a"}]}"#),
            Some(ConfigType::EcsTaskDefinition)
        );
        assert_eq!(
            kind(r#"{"taskDefinition": {"containerDefinitions": [{"name": "a"}]}}"#),
            Some(ConfigType::EcsTaskDefinition)
        );
        assert_eq!(
            kind("Resources:\n  R:\n    Type: AWS::SNS::Topic\n"),
            Some(ConfigType::CloudFormation)
        );
        assert_eq!(
            kind("apiVersion: serving.knative.dev/v1\nkind: Service\n"),
            Some(ConfigType::CloudRun)
        );
        assert_eq!(
            kind("apiVersion: batch/v1\nkind: CronJob\n"),
            Some(ConfigType::Kubernetes)
        );
        assert_eq!(kind("apiVersion: v1\nkind: Service\n"), None);
        assert_eq!(
            kind(r#"{"Version": "2012-10-17", "Statement": []}"#),
            Some(ConfigType::IamPolicy)
        );
        assert_eq!(kind("name: x\n"), None);
        assert_eq!(
            kind(r#"[{"name": "app", "image": "nginx"}, {"name": "log", "image": "fluentbit"}]"#),
            Some(ConfigType::EcsTaskDefinition)
        );
        assert_eq!(kind(r#"[{"name": "app"}]"#), None);
        assert_eq!(
            kind(r#"{"PolicyVersion": {"Document": {"Statement": []}, "VersionId": "v1"}}"#),
            Some(ConfigType::IamPolicy)
        );
        assert_eq!(kind("Resources:\n  R:\n    Type: Custom::X\n"), None);
    }

    #[test]
    fn dockerfiles() {
        assert!(is_dockerfile("Dockerfile.prod", ""));
        assert!(is_dockerfile("api.dockerfile", ""));
        assert!(is_dockerfile(
            "build",
            "# syntax=docker/dockerfile:1\nARG V=1\nFROM alpine:${V}\n"
        ));
        assert!(!is_dockerfile("notes.txt", "from here on\nwe go\n"));
        assert!(!is_dockerfile("x.yaml", "FROM: alpine\n"));
    }
}
