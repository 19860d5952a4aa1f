//! CloudFormation and CDK-synthesized templates (JSON or YAML with short-form tags): each resource
//! of a type we know goes to its rule family; LAMBDA-001..004 and SG-001 live here because they
//! only exist as CloudFormation resources. Findings are named by the resource's logical id; the
//! CDK construct path (`Metadata."aws:cdk:path"`) is added to the message when present.

use super::node::{Entry, Node};
use super::{ecs, fail, iam, plaintext, secrets};
use crate::model::Misconfiguration;

/// Runtimes AWS has deprecated (no security patches). Newer deprecations are listed by their
/// announced date, all of which are in the past.
const DEPRECATED_RUNTIMES: &[&str] = &[
    "nodejs",
    "nodejs4.3",
    "nodejs4.3-edge",
    "nodejs6.10",
    "nodejs8.10",
    "nodejs10.x",
    "nodejs12.x",
    "nodejs14.x",
    "nodejs16.x",
    "nodejs18.x", // 2025-09-01
    "nodejs20.x", // 2026-04-30
    "python2.7",
    "python3.6",
    "python3.7",
    "python3.8",
    "python3.9", // 2025-12-15
    "java8",
    "go1.x",
    "ruby2.5",
    "ruby2.7",
    "ruby3.2", // 2026-03-31
    "dotnetcore1.0",
    "dotnetcore2.0",
    "dotnetcore2.1",
    "dotnetcore3.1",
    "dotnet5.0",
    "dotnet6",
    "dotnet7",
    "provided",
];

/// Audit every resource of a template.
pub fn audit_template(doc: &Node, out: &mut Vec<Misconfiguration>) {
    let Some(resources) = doc.get("Resources") else {
        return;
    };
    // SAM: `Globals.Function` supplies defaults for every `AWS::Serverless::Function`.
    let globals = doc.path_ci(&["Globals", "Function"]);
    for e in resources.entries() {
        audit_resource(e, globals, out);
    }
}

fn lines_of(e: &Entry) -> Option<(u32, u32)> {
    if e.key_line > 0 {
        Some((e.key_line, e.value.end_line.max(e.key_line)))
    } else {
        e.value.lines()
    }
}

fn audit_resource(e: &Entry, globals: Option<&Node>, out: &mut Vec<Misconfiguration>) {
    let id = e.key.as_str();
    let r = &e.value;
    let Some(ty) = r.get("Type").and_then(Node::as_str) else {
        return;
    };
    let props = r.get("Properties").unwrap_or(Node::null());
    let cdk = r
        .path_ci(&["Metadata", "aws:cdk:path"])
        .and_then(Node::as_str)
        .map(|p| format!(" (CDK path {p})"))
        .unwrap_or_default();
    let what = format!("{ty} '{id}'{cdk}");
    let lines = lines_of(e);
    match ty {
        "AWS::ECS::TaskDefinition" => ecs::audit_task(props, id, &what, out),
        "AWS::IAM::Policy" | "AWS::IAM::ManagedPolicy" => {
            if let Some(d) = props.get("PolicyDocument") {
                iam::audit_policy(d, Some(id), &what, out);
            }
        }
        "AWS::IAM::Role" | "AWS::IAM::User" | "AWS::IAM::Group" => {
            audit_principal_policies(props, id, &what, lines, out)
        }
        "AWS::Lambda::Function" => audit_function(props, None, id, &what, lines, out),
        "AWS::Serverless::Function" => {
            audit_function(props, globals, id, &what, lines, out);
            // SAM inline policy documents (`Policies: [{Statement: [...]}]`).
            let policies = props.get("Policies");
            let docs: Vec<&Node> = match policies {
                Some(p) if p.is_map() => vec![p],
                Some(p) => p.items().iter().collect(),
                None => Vec::new(),
            };
            for d in docs.into_iter().filter(|d| d.get("Statement").is_some()) {
                iam::audit_policy(d, Some(id), &format!("inline policy of {what}"), out);
            }
        }
        "AWS::Lambda::Permission" => audit_permission(props, id, &what, lines, out),
        "AWS::EC2::SecurityGroup" => audit_security_group(props, id, &what, lines, out),
        "AWS::EC2::SecurityGroupEgress" => audit_egress(props, id, &what, lines, out),
        _ => {}
    }
}

/// Inline `Policies` of a role, user or group, and the AdministratorAccess managed policy.
fn audit_principal_policies(
    props: &Node,
    id: &str,
    what: &str,
    lines: Option<(u32, u32)>,
    out: &mut Vec<Misconfiguration>,
) {
    for p in props.get("Policies").map(Node::items).unwrap_or(&[]) {
        let pname = p.get("PolicyName").and_then(plaintext).unwrap_or_default();
        if let Some(d) = p.get("PolicyDocument") {
            let what = format!("inline policy '{pname}' of {what}");
            iam::audit_policy(d, Some(id), &what, out);
        }
    }
    for arn in props
        .get("ManagedPolicyArns")
        .map(Node::items)
        .unwrap_or(&[])
    {
        let admin =
            plaintext(arn).is_some_and(|a| a.ends_with(":iam::aws:policy/AdministratorAccess"));
        if admin {
            out.push(fail(
                "IAM-001",
                id,
                format!(
                    "{what} attaches the AdministratorAccess managed policy, \
                     which allows Action \"*\""
                ),
                arn.lines().or(lines),
            ));
        }
    }
}

fn audit_security_group(
    props: &Node,
    id: &str,
    what: &str,
    lines: Option<(u32, u32)>,
    out: &mut Vec<Misconfiguration>,
) {
    match props.get("SecurityGroupEgress") {
        None => out.push(fail(
            "SG-001",
            id,
            format!(
                "{what} declares no SecurityGroupEgress, so CloudFormation adds the default \
                 rule allowing all egress to 0.0.0.0/0"
            ),
            lines,
        )),
        Some(rules) => {
            for rule in rules.items() {
                audit_egress(rule, id, what, rule.lines().or(lines), out);
            }
        }
    }
}

fn audit_function(
    props: &Node,
    globals: Option<&Node>,
    id: &str,
    what: &str,
    lines: Option<(u32, u32)>,
    out: &mut Vec<Misconfiguration>,
) {
    let prop = |keys: &[&str]| {
        props
            .path_ci(keys)
            .or_else(|| globals.and_then(|g| g.path_ci(keys)))
    };
    // LAMBDA-002: the function's variables, then the globals it does not override.
    let own = props.path_ci(&["Environment", "Variables"]);
    let inherited = globals.and_then(|g| g.path_ci(&["Environment", "Variables"]));
    let mut vars: Vec<&Entry> = own
        .map(|v| v.entries().iter().collect())
        .unwrap_or_default();
    for g in inherited.map(Node::entries).unwrap_or(&[]) {
        if !vars.iter().any(|v| v.key == g.key) {
            vars.push(g);
        }
    }
    // LAMBDA-002
    {
        for v in vars {
            let Some(value) = plaintext(&v.value) else {
                continue;
            };
            if let Some(kind) = secrets::classify(&v.key, &value) {
                let l = if v.key_line > 0 {
                    Some((v.key_line, v.value.end_line.max(v.key_line)))
                } else {
                    lines
                };
                out.push(fail(
                    "LAMBDA-002",
                    id,
                    format!(
                        "{what} sets {} in its plaintext environment ({}; value redacted)",
                        v.key,
                        kind.describe()
                    ),
                    l,
                ));
            }
        }
    }
    // LAMBDA-003
    let subnets = prop(&["VpcConfig", "SubnetIds"]);
    if subnets.is_none_or(|s| !s.is_intrinsic() && s.items().is_empty()) {
        out.push(fail(
            "LAMBDA-003",
            id,
            format!("{what} is not attached to a VPC (no VpcConfig.SubnetIds)"),
            lines,
        ));
    }
    // LAMBDA-004
    let runtime = prop(&["Runtime"]);
    if let Some(rt) = runtime.and_then(plaintext) {
        let rt = rt.trim().to_ascii_lowercase();
        if DEPRECATED_RUNTIMES.contains(&rt.as_str()) {
            out.push(fail(
                "LAMBDA-004",
                id,
                format!("{what} uses the deprecated runtime {rt}"),
                runtime.and_then(Node::lines).or(lines),
            ));
        }
    }
}

fn audit_permission(
    props: &Node,
    id: &str,
    what: &str,
    lines: Option<(u32, u32)>,
    out: &mut Vec<Misconfiguration>,
) {
    let Some(principal) = props.get("Principal").and_then(plaintext) else {
        return;
    };
    let principal = principal.trim();
    let scoped = props.get("SourceArn").is_some_and(|n| !n.is_null())
        || props.get("SourceAccount").is_some_and(|n| !n.is_null());
    if principal == "*" {
        out.push(fail(
            "LAMBDA-001",
            id,
            format!("{what} lets any principal (\"*\") invoke the function"),
            lines,
        ));
    } else if (principal.ends_with(".amazonaws.com") || principal.ends_with(".amazonaws.com.cn"))
        && !scoped
    {
        out.push(fail(
            "LAMBDA-001",
            id,
            format!(
                "{what} lets {principal} invoke the function on behalf of any account or \
                 resource (no SourceArn or SourceAccount)"
            ),
            lines,
        ));
    }
}

fn audit_egress(
    rule: &Node,
    id: &str,
    what: &str,
    lines: Option<(u32, u32)>,
    out: &mut Vec<Misconfiguration>,
) {
    let cidr4 = rule.get("CidrIp").and_then(plaintext);
    let cidr6 = rule.get("CidrIpv6").and_then(plaintext);
    let open = match (
        cidr4.as_deref().map(str::trim),
        cidr6.as_deref().map(str::trim),
    ) {
        (Some("0.0.0.0/0"), _) => "0.0.0.0/0",
        (_, Some("::/0")) => "::/0",
        _ => return,
    };
    let proto = rule
        .get("IpProtocol")
        .and_then(plaintext)
        .unwrap_or_default();
    let all_protocols = matches!(proto.trim().to_ascii_lowercase().as_str(), "-1" | "all");
    let from = rule.get("FromPort").and_then(Node::as_i64);
    let to = rule.get("ToPort").and_then(Node::as_i64);
    let all_ports = matches!((from, to), (Some(f), Some(t)) if f <= 0 && t >= 65535)
        || matches!((from, to), (Some(-1), Some(-1)));
    if all_protocols || all_ports {
        out.push(fail(
            "SG-001",
            id,
            format!("{what} allows egress to {open} on all ports"),
            lines,
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::node::parse_documents;

    fn ids(t: &str) -> Vec<(String, String)> {
        let d = parse_documents(t).unwrap();
        let mut out = Vec::new();
        audit_template(&d[0], &mut out);
        out.into_iter()
            .map(|m| (m.id, m.cause_metadata.resource.unwrap_or_default()))
            .collect()
    }

    #[test]
    fn lambda_permission() {
        let t = "Resources:\n  P1:\n    Type: AWS::Lambda::Permission\n    Properties: {Action: lambda:InvokeFunction, FunctionName: !Ref F, Principal: apigateway.amazonaws.com}\n  P2:\n    Type: AWS::Lambda::Permission\n    Properties: {Action: lambda:InvokeFunction, FunctionName: !Ref F, Principal: apigateway.amazonaws.com, SourceArn: !Sub 'arn:aws:execute-api:${AWS::Region}:${AWS::AccountId}:${Api}/*'}\n  P3:\n    Type: AWS::Lambda::Permission\n    Properties: {Action: lambda:InvokeFunction, FunctionName: !Ref F, Principal: '*'}\n";
        assert_eq!(
            ids(t),
            vec![
                ("LAMBDA-001".into(), "P1".into()),
                ("LAMBDA-001".into(), "P3".into())
            ]
        );
    }

    #[test]
    fn security_groups() {
        let t = r#"{"Resources": {
          "Open": {"Type": "AWS::EC2::SecurityGroup", "Properties": {"SecurityGroupEgress": [{"CidrIp": "0.0.0.0/0", "IpProtocol": "-1"}]}},
          "Default": {"Type": "AWS::EC2::SecurityGroup", "Properties": {"GroupDescription": "x"}},
          "Https": {"Type": "AWS::EC2::SecurityGroup", "Properties": {"SecurityGroupEgress": [{"CidrIp": "0.0.0.0/0", "IpProtocol": "tcp", "FromPort": 443, "ToPort": 443}]}},
          "V6": {"Type": "AWS::EC2::SecurityGroupEgress", "Properties": {"CidrIpv6": "::/0", "IpProtocol": "tcp", "FromPort": 0, "ToPort": 65535}}
        }}"#;
        assert_eq!(
            ids(t),
            vec![
                ("SG-001".into(), "Open".into()),
                ("SG-001".into(), "Default".into()),
                ("SG-001".into(), "V6".into())
            ]
        );
    }

    #[test]
    fn functions() {
        let t = "Resources:\n  Fn:\n    Type: AWS::Lambda::Function\n    Properties:\n      Runtime: python3.8\n      Environment:\n        Variables:\n          API_KEY: abcdef123456\n          DB_PASSWORD: !Ref DbPassword\n          TABLE: !Ref Table\n  Ok:\n    Type: AWS::Lambda::Function\n    Properties:\n      Runtime: python3.12\n      VpcConfig: {SubnetIds: [subnet-1], SecurityGroupIds: [sg-1]}\n";
        assert_eq!(
            ids(t),
            vec![
                ("LAMBDA-002".into(), "Fn".into()),
                ("LAMBDA-003".into(), "Fn".into()),
                ("LAMBDA-004".into(), "Fn".into())
            ]
        );
    }

    #[test]
    fn sam_globals_apply_to_serverless_functions() {
        let t = "Transform: AWS::Serverless-2016-10-31\nGlobals:\n  Function:\n    Runtime: nodejs14.x\n    Environment:\n      Variables:\n        API_KEY: abcdef123456\nResources:\n  A:\n    Type: AWS::Serverless::Function\n    Properties: {Handler: x}\n  B:\n    Type: AWS::Serverless::Function\n    Properties:\n      Runtime: python3.12\n      VpcConfig: {SubnetIds: [s]}\n      Environment: {Variables: {API_KEY: !Ref K}}\n";
        assert_eq!(
            ids(t),
            vec![
                ("LAMBDA-002".into(), "A".into()),
                ("LAMBDA-003".into(), "A".into()),
                ("LAMBDA-004".into(), "A".into()),
            ]
        );
    }

    #[test]
    fn pascal_case_task_definition_and_sam_policies() {
        let t = r#"{"Resources": {
          "Td": {"Type": "AWS::ECS::TaskDefinition", "Properties": {"ContainerDefinitions": [{
            "Name": "app", "Image": "x@sha256:00", "User": "1000", "ReadonlyRootFilesystem": "true",
            "LogConfiguration": {"LogDriver": "awslogs"},
            "Environment": [{"Name": "API_KEY", "Value": "abcdef123456"}, {"Name": "DB_PASSWORD", "Value": {"Ref": "Pw"}}]}]}},
          "Fn": {"Type": "AWS::Serverless::Function", "Properties": {"Runtime": "python3.12", "VpcConfig": {"SubnetIds": ["s"]},
            "Policies": [{"Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}, "AWSLambdaBasicExecutionRole"]}}
        }}"#;
        assert_eq!(
            ids(t),
            vec![
                ("ECS-004".into(), "app".into()),
                ("IAM-001".into(), "Fn".into())
            ]
        );
    }
}
