//! Pod specs: Kubernetes workloads (Pod, Deployment, StatefulSet, DaemonSet, ReplicaSet, Job,
//! CronJob) and Cloud Run / Knative services, whose `spec.template.spec` is a pod spec too.
//! POD-001..007 apply to every container (init containers included), with a container's
//! `securityContext` overriding the pod's; CLOUDRUN-001/002 apply to the service.

use super::node::Node;
use super::secrets;
use super::{fail, plaintext};
use crate::model::Misconfiguration;

/// Capabilities that give a container (near) host-level power.
const DANGEROUS_CAPS: &[&str] = &[
    "ALL",
    "SYS_ADMIN",
    "NET_ADMIN",
    "SYS_PTRACE",
    "SYS_MODULE",
    "SYS_RAWIO",
    "SYS_BOOT",
    "SYS_TIME",
    "DAC_READ_SEARCH",
    "NET_RAW",
    "BPF",
    "PERFMON",
    "MAC_ADMIN",
    "MAC_OVERRIDE",
    "SETFCAP",
];

/// Audit one Kubernetes or Knative document.
pub fn audit_document(doc: &Node, out: &mut Vec<Misconfiguration>) {
    let kind = doc.get("kind").and_then(Node::as_str).unwrap_or("");
    if kind == "List" {
        for item in doc.get("items").map(Node::items).unwrap_or(&[]) {
            audit_document(item, out);
        }
        return;
    }
    let api = doc.get("apiVersion").and_then(Node::as_str).unwrap_or("");
    let name = doc
        .path_ci(&["metadata", "name"])
        .and_then(plaintext)
        .unwrap_or_else(|| kind.to_owned());
    let knative = api.starts_with("serving.knative.dev/") && kind == "Service";
    // Cloud Run jobs: job → execution template → task template.
    let run_job = api.starts_with("run.googleapis.com/") && kind == "Job";
    let spec = if knative {
        doc.path_ci(&["spec", "template", "spec"])
    } else if run_job {
        doc.path_ci(&["spec", "template", "spec", "template", "spec"])
    } else {
        match kind {
            "Pod" => doc.get("spec"),
            "CronJob" => doc.path_ci(&["spec", "jobTemplate", "spec", "template", "spec"]),
            _ => doc.path_ci(&["spec", "template", "spec"]),
        }
    };
    let what = if knative {
        format!("Cloud Run service '{name}'")
    } else if run_job {
        format!("Cloud Run job '{name}'")
    } else {
        format!("{kind} '{name}'")
    };
    if let Some(spec) = spec {
        audit_pod_spec(spec, &what, out);
    }
    if knative {
        audit_ingress(doc, &name, &what, out);
    }
    if knative || run_job {
        audit_service_account(doc, spec, &name, &what, out);
    }
}

/// CLOUDRUN-001: services only (jobs take no requests).
fn audit_ingress(doc: &Node, name: &str, what: &str, out: &mut Vec<Misconfiguration>) {
    let doc_lines = doc.lines();
    let annotations = doc.path_ci(&["metadata", "annotations"]);
    let ingress = annotations.and_then(|a| {
        a.entries()
            .iter()
            .rev()
            .find(|e| e.key == "run.googleapis.com/ingress")
    });
    match ingress {
        None => out.push(fail(
            "CLOUDRUN-001",
            name,
            format!("{what} has no run.googleapis.com/ingress annotation, so it accepts traffic from the internet"),
            doc.get("metadata").and_then(Node::lines).or(doc_lines),
        )),
        Some(e) => {
            let v = plaintext(&e.value).unwrap_or_default();
            if v.trim().eq_ignore_ascii_case("all") || v.trim().is_empty() {
                out.push(fail(
                    "CLOUDRUN-001",
                    name,
                    format!("{what} allows ingress from all sources (run.googleapis.com/ingress: all)"),
                    Some((e.key_line, e.key_line)).filter(|l| l.0 > 0),
                ));
            }
        }
    }
}

/// CLOUDRUN-002: services and jobs.
fn audit_service_account(
    doc: &Node,
    spec: Option<&Node>,
    name: &str,
    what: &str,
    out: &mut Vec<Misconfiguration>,
) {
    let doc_lines = doc.lines();
    let sa = spec.and_then(|s| s.entry_ci("serviceAccountName"));
    let sa_value = sa.and_then(|e| plaintext(&e.value)).unwrap_or_default();
    let sa_value = sa_value.trim();
    if sa_value.is_empty()
        || sa_value == "default"
        || sa_value.ends_with("-compute@developer.gserviceaccount.com")
    {
        let why = if sa_value.is_empty() {
            "sets no serviceAccountName, so it runs as the default compute service account"
                .to_owned()
        } else {
            format!("runs as the default service account \"{sa_value}\"")
        };
        let lines = match sa {
            Some(e) if e.key_line > 0 => Some((e.key_line, e.key_line)),
            _ => spec.and_then(Node::lines).or(doc_lines),
        };
        out.push(fail("CLOUDRUN-002", name, format!("{what} {why}"), lines));
    }
}

/// The effective security-context field: the container's, else the pod's.
fn effective<'a>(container: &'a Node, pod: Option<&'a Node>, key: &str) -> Option<&'a Node> {
    container
        .path_ci(&["securityContext", key])
        .filter(|n| !n.is_null())
        .or_else(|| pod.and_then(|p| p.get_ci(key)).filter(|n| !n.is_null()))
}

fn audit_pod_spec(spec: &Node, what: &str, out: &mut Vec<Misconfiguration>) {
    let pod_sc = spec.get_ci("securityContext");
    for list in ["initContainers", "containers", "ephemeralContainers"] {
        let Some(containers) = spec.get(list) else {
            continue;
        };
        for (i, c) in containers.items().iter().enumerate() {
            let name = c
                .get("name")
                .and_then(plaintext)
                .unwrap_or_else(|| format!("{list}[{i}]"));
            audit_container(c, pod_sc, &name, what, out);
        }
    }
}

fn audit_container(
    c: &Node,
    pod_sc: Option<&Node>,
    name: &str,
    what: &str,
    out: &mut Vec<Misconfiguration>,
) {
    let lines = c.lines();
    let who = format!("Container '{name}' of {what}");

    // POD-001
    let non_root = effective(c, pod_sc, "runAsNonRoot").and_then(Node::as_bool) == Some(true);
    let uid = effective(c, pod_sc, "runAsUser").and_then(Node::as_i64);
    if !non_root && uid.is_none_or(|u| u == 0) {
        let why = match uid {
            Some(0) => "runs as root (runAsUser: 0)",
            _ => "may run as root (runAsNonRoot is not true and runAsUser is not set)",
        };
        out.push(fail("POD-001", name, format!("{who} {why}"), lines));
    }

    // POD-002
    if effective(c, pod_sc, "allowPrivilegeEscalation").and_then(Node::as_bool) != Some(false) {
        out.push(fail(
            "POD-002",
            name,
            format!("{who} does not set allowPrivilegeEscalation: false"),
            lines,
        ));
    }

    // POD-003
    if effective(c, pod_sc, "readOnlyRootFilesystem").and_then(Node::as_bool) != Some(true) {
        out.push(fail(
            "POD-003",
            name,
            format!("{who} does not set readOnlyRootFilesystem: true"),
            lines,
        ));
    }

    // POD-004
    if effective(c, pod_sc, "privileged").and_then(Node::as_bool) == Some(true) {
        out.push(fail(
            "POD-004",
            name,
            format!("{who} runs privileged"),
            lines,
        ));
    }

    // POD-005
    let caps = effective(c, pod_sc, "capabilities");
    let norm = |s: String| {
        let u = s.trim().to_ascii_uppercase();
        u.strip_prefix("CAP_").map(str::to_owned).unwrap_or(u)
    };
    let dropped: Vec<String> = caps
        .and_then(|c| c.get("drop"))
        .map(|d| d.items().iter().filter_map(plaintext).map(norm).collect())
        .unwrap_or_default();
    let added: Vec<String> = caps
        .and_then(|c| c.get("add"))
        .map(|d| d.items().iter().filter_map(plaintext).map(norm).collect())
        .unwrap_or_default();
    let dangerous: Vec<&str> = added
        .iter()
        .map(String::as_str)
        .filter(|a| DANGEROUS_CAPS.contains(a))
        .collect();
    let mut problems = Vec::new();
    if !dropped.iter().any(|d| d == "ALL") {
        problems.push("does not drop ALL capabilities".to_owned());
    }
    if !dangerous.is_empty() {
        problems.push(format!(
            "adds dangerous capabilities: {}",
            dangerous.join(", ")
        ));
    }
    if !problems.is_empty() {
        out.push(fail(
            "POD-005",
            name,
            format!("{who} {}", problems.join(" and ")),
            lines,
        ));
    }

    // POD-006
    for item in c.get("env").map(Node::items).unwrap_or(&[]) {
        if item.get("valueFrom").is_some() {
            continue;
        }
        let Some(var) = item.get("name").and_then(plaintext) else {
            continue;
        };
        let Some(value) = item.get("value").and_then(plaintext) else {
            continue;
        };
        if let Some(kind) = secrets::classify(&var, &value) {
            out.push(fail(
                "POD-006",
                name,
                format!(
                    "{who} sets {var} as a plaintext env value ({}; value redacted)",
                    kind.describe()
                ),
                item.lines().or(lines),
            ));
        }
    }

    // POD-007
    let limits = c.path_ci(&["resources", "limits"]);
    if limits.is_none_or(|l| l.entries().is_empty()) {
        out.push(fail(
            "POD-007",
            name,
            format!("{who} sets no resource limits"),
            lines,
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::node::parse_documents;

    fn ids(yaml: &str) -> Vec<(String, String)> {
        let docs = parse_documents(yaml).unwrap();
        let mut out = Vec::new();
        for d in &docs {
            audit_document(d, &mut out);
        }
        out.into_iter()
            .map(|m| (m.id, m.cause_metadata.resource.unwrap_or_default()))
            .collect()
    }

    #[test]
    fn container_overrides_pod_and_init_containers_count() {
        let y = "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  securityContext: {runAsNonRoot: true, runAsUser: 1000}\n  initContainers:\n  - name: init\n    securityContext: {runAsNonRoot: false, runAsUser: 0}\n  containers:\n  - name: app\n    securityContext:\n      allowPrivilegeEscalation: false\n      readOnlyRootFilesystem: true\n      capabilities: {drop: [ALL]}\n    resources: {limits: {memory: 128Mi}}\n";
        let got = ids(y);
        assert!(got.contains(&("POD-001".into(), "init".into())), "{got:?}");
        assert!(!got.iter().any(|(_, r)| r == "app"), "{got:?}");
    }

    #[test]
    fn cronjob_pod_spec_is_found() {
        let y = "apiVersion: batch/v1\nkind: CronJob\nmetadata: {name: nightly}\nspec:\n  jobTemplate:\n    spec:\n      template:\n        spec:\n          containers:\n          - name: job\n            securityContext: {privileged: true, capabilities: {add: [CAP_SYS_ADMIN]}}\n";
        let got = ids(y);
        for id in [
            "POD-001", "POD-002", "POD-003", "POD-004", "POD-005", "POD-007",
        ] {
            assert!(got.contains(&(id.into(), "job".into())), "{id} {got:?}");
        }
        assert_eq!(got.iter().filter(|(i, _)| i == "POD-005").count(), 1);
    }

    #[test]
    fn cloud_run_job() {
        let y = "apiVersion: run.googleapis.com/v1\nkind: Job\nmetadata: {name: etl}\nspec:\n  template:\n    spec:\n      template:\n        spec:\n          containers:\n          - name: etl\n            image: x\n";
        let got = ids(y);
        assert!(
            got.contains(&("CLOUDRUN-002".into(), "etl".into())),
            "{got:?}"
        );
        assert!(got.contains(&("POD-001".into(), "etl".into())), "{got:?}");
        assert!(!got.iter().any(|(i, _)| i == "CLOUDRUN-001"), "{got:?}");
    }

    #[test]
    fn kubectl_list_output() {
        let y = "apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: Pod\n  metadata: {name: one}\n  spec:\n    containers:\n    - name: a\n      securityContext: {privileged: true}\n- apiVersion: v1\n  kind: ConfigMap\n  metadata: {name: cm}\n";
        let got = ids(y);
        assert!(got.contains(&("POD-004".into(), "a".into())), "{got:?}");
    }
}
