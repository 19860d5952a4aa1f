//! Integration tests: `layerscan config` through the CLI, on the fixtures in `testdata/config/`
//! (copied into each test's sandbox so that targets are short relative paths).

use crate::common::{json, testdata, Sandbox};
use serde_json::Value;
use std::path::Path;

/// Every plaintext secret planted in the fixtures: none may ever reach stdout or stderr.
const PLANTED_SECRETS: &[&str] = &[
    "S3cr3t-Hunter2-Test",
    "S3cr3tHunter2Test",
    "AKIAIOSFODNN7EXAMPLE",
    "sk_live_",
    "xoxb-",
];

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let dest = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &dest);
        } else {
            std::fs::copy(e.path(), dest).unwrap();
        }
    }
}

/// A sandbox holding a copy of `testdata/config`.
fn sandbox() -> Sandbox {
    let sb = Sandbox::new();
    copy_dir(&testdata("config"), sb.path());
    sb
}

fn run(sb: &Sandbox, args: &[&str]) -> std::process::Output {
    sb.cmd()
        .arg("config")
        .args(["--format", "json"])
        .args(args)
        .output()
        .unwrap()
}

/// `(ID, Severity, Resource, StartLine, EndLine)` of every finding for `target`.
fn findings(report: &Value, target: &str) -> Vec<(String, String, String, u64, u64)> {
    let results = report["Results"].as_array().expect("Results");
    let mut out = Vec::new();
    let mut seen = false;
    for r in results.iter().filter(|r| r["Target"] == target) {
        seen = true;
        assert_eq!(r["Class"], "config");
        for m in r["Misconfigurations"]
            .as_array()
            .expect("Misconfigurations")
        {
            assert_eq!(m["Status"], "FAIL");
            assert!(!m["Title"].as_str().unwrap_or("").is_empty());
            assert!(!m["Resolution"].as_str().unwrap_or("").is_empty());
            let c = &m["CauseMetadata"];
            out.push((
                m["ID"].as_str().unwrap().to_owned(),
                m["Severity"].as_str().unwrap().to_owned(),
                c["Resource"].as_str().unwrap_or("").to_owned(),
                c["StartLine"].as_u64().unwrap_or(0),
                c["EndLine"].as_u64().unwrap_or(0),
            ));
        }
    }
    assert!(seen, "no result for {target} in {report:#}");
    out
}

fn result_type(report: &Value, target: &str) -> String {
    report["Results"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["Target"] == target)
        .and_then(|r| r["Type"].as_str())
        .unwrap_or("")
        .to_owned()
}

fn has(found: &[(String, String, String, u64, u64)], want: (&str, &str, &str, u64, u64)) -> bool {
    found
        .iter()
        .any(|f| (f.0.as_str(), f.1.as_str(), f.2.as_str(), f.3, f.4) == want)
}

fn assert_no_secrets(out: &std::process::Output) {
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    for s in PLANTED_SECRETS {
        assert!(!stdout.contains(s), "secret {s} on stdout");
        assert!(!stderr.contains(s), "secret {s} on stderr");
    }
}

#[test]
fn hardened_examples_pass_their_rules() {
    let sb = sandbox();
    let out = run(
        &sb,
        &[
            "ecs/hardened-fargate.json",
            "cloudrun/hardened-service.yaml",
        ],
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report = json(&out);
    assert_eq!(report["ArtifactType"], "config");
    assert_eq!(
        result_type(&report, "ecs/hardened-fargate.json"),
        "ecs-task-definition"
    );
    assert_eq!(
        result_type(&report, "cloudrun/hardened-service.yaml"),
        "cloudrun"
    );
    let ecs = findings(&report, "ecs/hardened-fargate.json");
    let run = findings(&report, "cloudrun/hardened-service.yaml");
    for id in ["ECS-001", "ECS-002", "ECS-003", "ECS-004"] {
        assert!(!ecs.iter().any(|f| f.0 == id), "{id} in {ecs:?}");
    }
    for id in [
        "POD-001",
        "POD-002",
        "POD-003",
        "POD-004",
        "CLOUDRUN-001",
        "CLOUDRUN-002",
    ] {
        assert!(!run.iter().any(|f| f.0 == id), "{id} in {run:?}");
    }
    // The references go further: they pass every rule.
    assert!(ecs.is_empty(), "{ecs:?}");
    assert!(run.is_empty(), "{run:?}");
}

#[test]
fn bad_task_definition_fails_each_ecs_rule() {
    let sb = sandbox();
    let out = run(&sb, &["ecs/bad-taskdef.json"]);
    assert_eq!(out.status.code(), Some(0));
    let report = json(&out);
    let f = findings(&report, "ecs/bad-taskdef.json");
    let t = "ecs/bad-taskdef.json";
    assert_eq!(result_type(&report, t), "ecs-task-definition");
    for want in [
        ("ECS-001", "HIGH", "worker", 7, 12),
        ("ECS-002", "HIGH", "worker", 7, 12),
        ("ECS-005", "LOW", "worker", 7, 12),
        ("ECS-007", "LOW", "worker", 7, 12),
        ("ECS-001", "HIGH", "agent", 13, 26),
        ("ECS-003", "CRITICAL", "agent", 13, 26),
        ("ECS-004", "CRITICAL", "agent", 21, 21),
        ("ECS-004", "CRITICAL", "agent", 22, 22),
        ("ECS-006", "HIGH", "agent", 24, 24),
        ("ECS-006", "HIGH", "legacy-worker", 5, 5),
    ] {
        assert!(has(&f, want), "missing {want:?} in {f:?}");
    }
    // Read-only root, logs and a digest-pinned image keep `agent` clear of those rules.
    for id in ["ECS-002", "ECS-005", "ECS-007"] {
        assert!(
            !f.iter().any(|x| x.0 == id && x.2 == "agent"),
            "{id}: {f:?}"
        );
    }
    // A plain setting is not a secret.
    assert_eq!(f.iter().filter(|x| x.0 == "ECS-004").count(), 2);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("DB_PASSWORD") && text.contains("redacted"));
    assert_no_secrets(&out);
}

#[test]
fn bad_cloud_run_services_fail_pod_and_cloudrun_rules() {
    let sb = sandbox();
    let out = run(&sb, &["cloudrun/bad-service.yaml"]);
    let report = json(&out);
    let f = findings(&report, "cloudrun/bad-service.yaml");
    for want in [
        ("CLOUDRUN-001", "MEDIUM", "public-api", 6, 6),
        ("CLOUDRUN-002", "MEDIUM", "public-api", 10, 10),
        ("POD-001", "HIGH", "api", 12, 21),
        ("POD-002", "MEDIUM", "api", 12, 21),
        ("POD-003", "HIGH", "api", 12, 21),
        ("POD-004", "CRITICAL", "api", 12, 21),
        ("POD-005", "MEDIUM", "api", 12, 21),
        ("POD-006", "CRITICAL", "api", 15, 16),
        ("POD-007", "LOW", "api", 12, 21),
        // Second document: no ingress annotation, no service account, runAsUser 0.
        ("CLOUDRUN-001", "MEDIUM", "no-annotations", 26, 26),
        ("CLOUDRUN-002", "MEDIUM", "no-annotations", 30, 33),
        ("POD-001", "HIGH", "containers[0]", 31, 33),
    ] {
        assert!(has(&f, want), "missing {want:?} in {f:?}");
    }
    assert!(!f.iter().any(|x| x.0 == "POD-004" && x.2 == "containers[0]"));
    assert_no_secrets(&out);
}

#[test]
fn kubernetes_deployment_and_cronjob() {
    let sb = sandbox();
    let out = run(&sb, &["k8s"]);
    assert_eq!(out.status.code(), Some(0));
    let report = json(&out);
    let d = findings(&report, "k8s/deployment.yaml");
    assert_eq!(result_type(&report, "k8s/deployment.yaml"), "kubernetes");
    // The init container overrides the pod's non-root settings; the app container inherits them.
    assert!(has(&d, ("POD-001", "HIGH", "migrate", 30, 37)), "{d:?}");
    assert!(has(&d, ("POD-006", "CRITICAL", "migrate", 36, 37)), "{d:?}");
    assert!(!d.iter().any(|x| x.2 == "web"), "{d:?}");
    let c = findings(&report, "k8s/cronjob.yaml");
    for want in [
        ("POD-001", "HIGH", "report", 13, 22),
        ("POD-004", "CRITICAL", "report", 13, 22),
        ("POD-006", "CRITICAL", "report", 16, 17),
        ("POD-007", "LOW", "report", 13, 22),
    ] {
        assert!(has(&c, want), "missing {want:?} in {c:?}");
    }
    assert_eq!(c.iter().filter(|x| x.0 == "POD-006").count(), 1, "{c:?}");
    assert_no_secrets(&out);
}

#[test]
fn cdk_template_wildcards_and_unscoped_permission() {
    let sb = sandbox();
    let t = "cfn/cdk.out/OrdersStack.template.json";
    let out = run(&sb, &["cfn/cdk.out"]);
    assert_eq!(out.status.code(), Some(0));
    let report = json(&out);
    assert_eq!(result_type(&report, t), "cloudformation");
    let f = findings(&report, t);
    let policy = "HandlerServiceRoleDefaultPolicyCBD0CC91";
    for want in [
        ("IAM-002", "HIGH", policy, 42, 49),
        ("IAM-001", "CRITICAL", policy, 50, 54),
        ("IAM-003", "HIGH", policy, 55, 59),
        (
            "LAMBDA-001",
            "HIGH",
            "OrdersApiHandlerPermission5A6C42C1",
            125,
            140,
        ),
        ("LAMBDA-002", "CRITICAL", "Handler886CB40B", 101, 101),
        ("LAMBDA-003", "LOW", "Handler886CB40B", 87, 124),
        ("LAMBDA-004", "MEDIUM", "Handler886CB40B", 112, 112),
        ("SG-001", "MEDIUM", "WorkerSecurityGroup2B4C7E91", 186, 190),
        ("ECS-007", "LOW", "worker", 204, 232),
    ] {
        assert!(has(&f, want), "missing {want:?} in {f:?}");
    }
    // The permission with a SourceArn is scoped; the resolve reference is not a plaintext secret;
    // the PascalCase task definition passes the user and read-only checks.
    assert!(
        !f.iter().any(|x| x.2 == "OrdersApiScopedPermission0C7D1E2B"),
        "{f:?}"
    );
    assert_eq!(f.iter().filter(|x| x.0 == "LAMBDA-002").count(), 1, "{f:?}");
    assert!(
        !f.iter().any(|x| x.0 == "ECS-001" || x.0 == "ECS-002"),
        "{f:?}"
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("OrdersStack/Handler/Resource"),
        "CDK path in messages"
    );
    // manifest.json is not a config format: skipped and counted.
    assert!(String::from_utf8_lossy(&out.stderr).contains("skipped 1 file"));
    assert_no_secrets(&out);
}

#[test]
fn cloudformation_yaml_with_short_form_tags() {
    let sb = sandbox();
    let out = run(&sb, &["cfn/short-tags.yaml"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report = json(&out);
    let f = findings(&report, "cfn/short-tags.yaml");
    for want in [
        ("IAM-002", "HIGH", "DeployRole", 32, 36),
        ("IAM-003", "HIGH", "DeployRole", 32, 36),
        ("LAMBDA-002", "CRITICAL", "Processor", 64, 64),
        ("LAMBDA-001", "HIGH", "PublicInvoke", 66, 72),
    ] {
        assert!(has(&f, want), "missing {want:?} in {f:?}");
    }
    // `!Ref DbPassword` and `!Sub "{{resolve:...}}"` are references; `!Split`/`!ImportValue`
    // subnets attach the function to a VPC; a scoped S3 permission passes.
    assert_eq!(f.iter().filter(|x| x.0 == "LAMBDA-002").count(), 1, "{f:?}");
    assert!(
        !f.iter()
            .any(|x| x.0 == "LAMBDA-003" || x.2 == "BucketInvoke"),
        "{f:?}"
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("LEGACY_API_KEY"));
    assert_no_secrets(&out);
}

#[test]
fn standalone_iam_policy() {
    let sb = sandbox();
    let out = run(&sb, &["iam/admin-policy.json"]);
    let report = json(&out);
    assert_eq!(result_type(&report, "iam/admin-policy.json"), "iam-policy");
    let f = findings(&report, "iam/admin-policy.json");
    assert_eq!(
        f,
        vec![
            (
                "IAM-001".into(),
                "CRITICAL".into(),
                "Everything".into(),
                10,
                15
            ),
            ("IAM-002".into(), "HIGH".into(), "AllOfS3".into(), 16, 21),
            (
                "IAM-003".into(),
                "HIGH".into(),
                "PassAnyRole".into(),
                22,
                27
            ),
        ]
    );
}

#[test]
fn dockerfiles_good_and_bad() {
    let sb = sandbox();
    let out = run(&sb, &["docker"]);
    let report = json(&out);
    assert!(findings(&report, "docker/Dockerfile.good").is_empty());
    assert_eq!(result_type(&report, "docker/Dockerfile.good"), "dockerfile");
    let bad = findings(&report, "docker/Dockerfile.bad");
    assert_eq!(bad.len(), 1, "{bad:?}");
    assert_eq!(
        (
            bad[0].0.as_str(),
            bad[0].1.as_str(),
            bad[0].2.as_str(),
            bad[0].3
        ),
        (
            "DOCKERFILE-001",
            "HIGH",
            "gcr.io/distroless/base-debian12",
            6
        )
    );
    let root = findings(&report, "docker/root.dockerfile");
    assert_eq!(root.len(), 1, "{root:?}");
    assert_eq!((root[0].0.as_str(), root[0].3), ("DOCKERFILE-001", 5));
}

#[test]
fn format_comes_from_content_not_name() {
    let sb = sandbox();
    std::fs::copy(
        sb.path().join("ecs/bad-taskdef.json"),
        sb.path().join("deploy-settings"),
    )
    .unwrap();
    std::fs::copy(
        sb.path().join("k8s/cronjob.yaml"),
        sb.path().join("job.txt"),
    )
    .unwrap();
    std::fs::write(
        sb.path().join("build-image"),
        "# syntax=docker/dockerfile:1\nARG BASE=alpine\nFROM ${BASE}\nRUN true\n",
    )
    .unwrap();
    let out = run(&sb, &["deploy-settings", "job.txt", "build-image"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report = json(&out);
    assert_eq!(
        result_type(&report, "deploy-settings"),
        "ecs-task-definition"
    );
    assert_eq!(result_type(&report, "job.txt"), "kubernetes");
    assert_eq!(result_type(&report, "build-image"), "dockerfile");
    assert!(findings(&report, "build-image")
        .iter()
        .any(|f| f.0 == "DOCKERFILE-001"));
}

#[test]
fn whole_tree_never_prints_a_secret_in_any_format() {
    let sb = sandbox();
    for format in ["json", "table", "sarif"] {
        let out = sb
            .cmd()
            .args(["config", "--format", format, "."])
            .output()
            .unwrap();
        assert_eq!(
            out.status.code(),
            Some(0),
            "{format}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(!out.stdout.is_empty());
        assert_no_secrets(&out);
    }
}

#[test]
fn invalid_yaml_named_on_the_command_line_is_an_error_with_file_and_line() {
    let sb = Sandbox::new();
    std::fs::write(
        sb.path().join("broken.yaml"),
        "apiVersion: v1\nkind: Pod\nspec: [containers\n  password: S3cr3t-Hunter2-Test\n",
    )
    .unwrap();
    let out = sb
        .cmd()
        .args(["config", "-f", "json", "broken.yaml"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty(), "partial report on stdout");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("broken.yaml:"), "{stderr}");
    assert!(stderr.contains("invalid YAML"), "{stderr}");
    let line: u64 = stderr
        .split("broken.yaml:")
        .nth(1)
        .and_then(|s| s.split(':').next())
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no line number in {stderr}"));
    assert!((3..=5).contains(&line), "{stderr}");
    assert_no_secrets(&out);
}

#[test]
fn invalid_json_named_on_the_command_line_is_an_error_with_file_and_line() {
    let sb = Sandbox::new();
    std::fs::write(
        sb.path().join("taskdef.json"),
        "{\n  \"family\": \"x\",\n  \"containerDefinitions\": [\n    {\"name\": \"a\",}\n  ]\n}\n",
    )
    .unwrap();
    let out = sb
        .cmd()
        .args(["config", "-f", "json", "taskdef.json"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("taskdef.json:4:"), "{stderr}");
    assert!(stderr.contains("invalid JSON"), "{stderr}");
}

#[test]
fn invalid_file_inside_a_directory_is_a_warning_and_the_scan_goes_on() {
    let sb = sandbox();
    std::fs::write(
        sb.path().join("k8s/zz-broken.yaml"),
        "kind: Pod\nspec: {containers: [\n",
    )
    .unwrap();
    let out = run(&sb, &["k8s"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("zz-broken.yaml:"), "{stderr}");
    let report = json(&out);
    let warnings = report["Warnings"].as_array().expect("Warnings");
    assert!(
        warnings
            .iter()
            .any(|w| w.as_str().unwrap_or("").contains("zz-broken.yaml:")),
        "{warnings:?}"
    );
    // The other files were still audited.
    assert!(!findings(&report, "k8s/cronjob.yaml").is_empty());
    assert!(!findings(&report, "k8s/deployment.yaml").is_empty());
}

#[test]
fn unknown_files_are_skipped_and_counted() {
    let sb = Sandbox::new();
    std::fs::write(
        sb.path().join("README.md"),
        "# hello\n\nfrom here on: text\n",
    )
    .unwrap();
    std::fs::write(
        sb.path().join("package.json"),
        "{\"name\": \"x\", \"version\": \"1.0.0\"}",
    )
    .unwrap();
    std::fs::create_dir_all(sb.path().join("node_modules/x")).unwrap();
    std::fs::copy(
        testdata("config/k8s/cronjob.yaml"),
        sb.path().join("node_modules/x/job.yaml"),
    )
    .unwrap();
    let out = sb
        .cmd()
        .args(["config", "-f", "json", "."])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let report = json(&out);
    assert_eq!(
        report["Results"].as_array().map(Vec::len),
        Some(0),
        "{report:#}"
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("skipped 2 file"));
    // Named explicitly, an unknown file is still skipped, not an error.
    let out = sb
        .cmd()
        .args(["config", "-f", "json", "README.md"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
}

#[test]
fn deeply_nested_yaml_is_bounded() {
    let sb = Sandbox::new();
    let flow = format!("a: {}1{}\n", "[".repeat(50_000), "]".repeat(50_000));
    std::fs::write(sb.path().join("flow.yaml"), flow).unwrap();
    let block: String = (0..1_000)
        .map(|i| format!("{}k:\n", " ".repeat(i)))
        .collect();
    std::fs::write(sb.path().join("block.yaml"), block).unwrap();
    let json_deep = format!("{}1{}", "[".repeat(50_000), "]".repeat(50_000));
    std::fs::write(sb.path().join("deep.json"), json_deep).unwrap();
    for f in ["flow.yaml", "block.yaml", "deep.json"] {
        let out = sb.cmd().args(["config", "-f", "json", f]).output().unwrap();
        assert_eq!(
            out.status.code(),
            Some(2),
            "{f}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(String::from_utf8_lossy(&out.stderr).contains(f));
    }
}

#[test]
fn severity_filter_exit_code_and_ignore_file() {
    let sb = sandbox();
    let out = sb
        .cmd()
        .args([
            "config",
            "-f",
            "json",
            "--severity",
            "CRITICAL",
            "--exit-code",
            "1",
            "ecs/bad-taskdef.json",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let report = json(&out);
    let f = findings(&report, "ecs/bad-taskdef.json");
    assert!(!f.is_empty());
    assert!(f.iter().all(|x| x.1 == "CRITICAL"), "{f:?}");

    // The hardened reference has nothing at any severity.
    let out = sb
        .cmd()
        .args([
            "config",
            "-f",
            "json",
            "--severity",
            "CRITICAL,HIGH",
            "--exit-code",
            "1",
            "ecs/hardened-fargate.json",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));

    // Ignoring the CRITICAL ids leaves nothing at CRITICAL.
    std::fs::write(sb.path().join(".layerscanignore"), "ECS-003\nECS-004\n").unwrap();
    let out = sb
        .cmd()
        .args([
            "config",
            "-f",
            "json",
            "--severity",
            "CRITICAL",
            "--exit-code",
            "1",
            "ecs/bad-taskdef.json",
        ])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn yaml_ignore_file_by_id_and_path() {
    let sb = sandbox();
    std::fs::write(
        sb.path().join("ignore.yaml"),
        "misconfigurations:\n  - id: POD-006\n    paths: [\"k8s/cronjob.yaml\"]\n    statement: webhook rotated\n",
    )
    .unwrap();
    let out = run(&sb, &["--ignorefile", "ignore.yaml", "k8s"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report = json(&out);
    assert!(!findings(&report, "k8s/cronjob.yaml")
        .iter()
        .any(|f| f.0 == "POD-006"));
    // Same id, other path: still reported.
    assert!(findings(&report, "k8s/deployment.yaml")
        .iter()
        .any(|f| f.0 == "POD-006"));
}

#[test]
fn terraform_container_definitions_and_cli_policy_output() {
    let sb = sandbox();
    std::fs::write(
        sb.path().join("policy-version.json"),
        "{\n  \"PolicyVersion\": {\n    \"Document\": {\n      \"Version\": \"2012-10-17\",\n      \"Statement\": [\n        {\"Effect\": \"Allow\", \"NotAction\": \"iam:*\", \"Resource\": \"*\"}\n      ]\n    },\n    \"VersionId\": \"v3\",\n    \"IsDefaultVersion\": true\n  }\n}\n",
    )
    .unwrap();
    let out = run(
        &sb,
        &[
            "ecs/terraform-container-definitions.json",
            "policy-version.json",
        ],
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report = json(&out);
    let t = "ecs/terraform-container-definitions.json";
    assert_eq!(result_type(&report, t), "ecs-task-definition");
    let f = findings(&report, t);
    for id in ["ECS-001", "ECS-002", "ECS-005", "ECS-007"] {
        assert!(
            has(
                &f,
                (
                    id,
                    if id == "ECS-001" || id == "ECS-002" {
                        "HIGH"
                    } else {
                        "LOW"
                    },
                    "web",
                    2,
                    7
                )
            ),
            "{id}: {f:?}"
        );
    }
    let p = findings(&report, "policy-version.json");
    assert_eq!(
        p,
        vec![(
            "IAM-001".into(),
            "CRITICAL".into(),
            "Statement[0]".into(),
            6,
            6
        )]
    );
}

#[cfg(unix)]
#[test]
fn links_to_files_are_followed_once_and_devices_are_not_read() {
    let sb = sandbox();
    std::fs::create_dir_all(sb.path().join("prod")).unwrap();
    std::os::unix::fs::symlink(
        "../ecs/bad-taskdef.json",
        sb.path().join("prod/taskdef.json"),
    )
    .unwrap();
    std::os::unix::fs::symlink("/dev/zero", sb.path().join("prod/zero.yaml")).unwrap();
    std::os::unix::fs::symlink("..", sb.path().join("prod/loop")).unwrap();
    let out = run(&sb, &["prod", "prod/taskdef.json"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report = json(&out);
    let results = report["Results"].as_array().unwrap();
    assert_eq!(results.len(), 1, "{report:#}");
    assert_eq!(results[0]["Target"], "prod/taskdef.json");
    assert!(!findings(&report, "prod/taskdef.json").is_empty());
}

#[test]
fn missing_path_is_an_error() {
    let sb = Sandbox::new();
    let out = sb.cmd().args(["config", "nope.yaml"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty());
    assert!(String::from_utf8_lossy(&out.stderr).contains("nope.yaml"));
}

/// A one-layer docker-archive whose image config runs as root with secrets in `Env`.
fn root_image_with_secret_env() -> Vec<u8> {
    use sha2::{Digest, Sha256};
    let sha = |b: &[u8]| hex::encode(Sha256::digest(b));
    let add = |b: &mut tar::Builder<Vec<u8>>, path: &str, data: &[u8]| {
        let mut h = tar::Header::new_gnu();
        h.set_mode(0o644);
        h.set_size(data.len() as u64);
        h.set_entry_type(tar::EntryType::Regular);
        b.append_data(&mut h, path, data).unwrap();
    };
    let mut layer = tar::Builder::new(Vec::new());
    add(&mut layer, "app/main.py", b"print('hi')\n");
    let layer = layer.into_inner().unwrap();
    let config = serde_json::to_vec(&serde_json::json!({
        "architecture": "amd64",
        "os": "linux",
        "config": {
            "User": "",
            "Env": [
                "PATH=/usr/local/bin:/usr/bin",
                "AWS_ACCESS_KEY_ID=AKIAIOSFODNN7EXAMPLE",
                "DB_PASSWORD=S3cr3t-Hunter2-Test",
                "LOG_LEVEL=info"
            ]
        },
        "rootfs": {"type": "layers", "diff_ids": [format!("sha256:{}", sha(&layer))]},
        "history": [{"created_by": "COPY app /app"}]
    }))
    .unwrap();
    let config_name = format!("{}.json", sha(&config));
    let layer_name = format!("{}/layer.tar", sha(&layer));
    let mut b = tar::Builder::new(Vec::new());
    add(&mut b, &layer_name, &layer);
    add(&mut b, &config_name, &config);
    let manifest =
        serde_json::json!([{"Config": config_name, "RepoTags": ["app:1"], "Layers": [layer_name]}]);
    add(
        &mut b,
        "manifest.json",
        &serde_json::to_vec(&manifest).unwrap(),
    );
    b.into_inner().unwrap()
}

#[test]
fn image_scan_audits_the_image_config() {
    let sb = Sandbox::new();
    std::fs::write(sb.path().join("app.tar"), root_image_with_secret_env()).unwrap();
    let out = sb
        .cmd()
        .args(["image", "app.tar", "--format", "json", "--offline"])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report = json(&out);
    let result = report["Results"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["Type"] == "image-config")
        .unwrap_or_else(|| panic!("no image-config result in {report:#}"));
    assert_eq!(result["Class"], "config");
    let found: Vec<(String, String, String)> = result["Misconfigurations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["ID"].as_str().unwrap().to_owned(),
                m["Severity"].as_str().unwrap().to_owned(),
                m["CauseMetadata"]["Resource"]
                    .as_str()
                    .unwrap_or("")
                    .to_owned(),
            )
        })
        .collect();
    assert_eq!(
        found,
        vec![
            ("IMG-001".into(), "HIGH".into(), "Config.User".into()),
            (
                "IMG-002".into(),
                "CRITICAL".into(),
                "AWS_ACCESS_KEY_ID".into()
            ),
            ("IMG-002".into(), "CRITICAL".into(), "DB_PASSWORD".into()),
        ]
    );
    // The findings themselves never carry the values.
    let findings_text = result.to_string();
    for s in PLANTED_SECRETS {
        assert!(!findings_text.contains(s), "{s} in {findings_text}");
    }
}
