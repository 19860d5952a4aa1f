//! IAM policy documents: IAM-001..003. Used for standalone policy files and for the policies inside
//! CloudFormation (`AWS::IAM::Policy`, `AWS::IAM::ManagedPolicy`, inline `Policies` of roles, users
//! and groups). Only `Effect: Allow` statements grant anything; `NotAction` allows everything but
//! the listed actions, so it counts as broad as `*`.

use super::fail;
use super::node::Node;
use crate::model::Misconfiguration;

/// A standalone policy document (top-level `Statement`).
pub fn audit_standalone(doc: &Node, out: &mut Vec<Misconfiguration>) {
    if let Some(d) = super::detect::policy_document(doc) {
        audit_policy(d, None, "the policy document", out);
    }
}

/// Audit a policy document. `resource` names the finding (a CloudFormation logical id); without
/// one, each statement is named by its `Sid` or `Statement[i]`.
pub fn audit_policy(
    doc: &Node,
    resource: Option<&str>,
    what: &str,
    out: &mut Vec<Misconfiguration>,
) {
    let Some(stmts) = doc.get("Statement") else {
        return;
    };
    let list: Vec<&Node> = if stmts.is_map() {
        vec![stmts]
    } else {
        stmts.items().iter().collect()
    };
    for (i, st) in list.into_iter().enumerate() {
        let label = st
            .get("Sid")
            .and_then(Node::as_str)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .unwrap_or_else(|| format!("Statement[{i}]"));
        let named = if label.starts_with("Statement[") {
            label.clone()
        } else {
            format!("Statement '{label}'")
        };
        let res = resource.map_or_else(|| label.clone(), str::to_owned);
        audit_statement(st, &res, &format!("{named} of {what}"), out);
    }
}

/// Does an IAM action pattern (`iam:Pass*`, `*`) match the action `iam:PassRole`?
pub fn action_matches(pattern: &str, action: &str) -> bool {
    // Iterative wildcard matching (linear backtracking to the last `*`): no exponential blow-up on
    // hostile patterns such as `*a*a*a*...`.
    let p: Vec<u8> = pattern.bytes().map(|b| b.to_ascii_lowercase()).collect();
    let a: Vec<u8> = action.bytes().map(|b| b.to_ascii_lowercase()).collect();
    let (mut pi, mut ai) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    while ai < a.len() {
        match (p.get(pi), a.get(ai)) {
            (Some(b'*'), _) => {
                star = Some((pi, ai));
                pi += 1;
            }
            (Some(&pc), Some(&ac)) if pc == b'?' || pc == ac => {
                pi += 1;
                ai += 1;
            }
            _ => match star {
                Some((sp, sa)) => {
                    pi = sp + 1;
                    ai = sa + 1;
                    star = Some((sp, sa + 1));
                }
                None => return false,
            },
        }
    }
    p.get(pi..)
        .is_some_and(|rest| rest.iter().all(|&c| c == b'*'))
}

fn audit_statement(st: &Node, resource: &str, what: &str, out: &mut Vec<Misconfiguration>) {
    let effect = st.get("Effect").and_then(Node::as_str).unwrap_or("");
    if !effect.trim().eq_ignore_ascii_case("allow") {
        return;
    }
    let lines = st.lines();
    let actions = st.get("Action").map(Node::strings).unwrap_or_default();
    let all_resources = st.get("NotResource").is_some()
        || st
            .get("Resource")
            .is_some_and(|r| r.strings().iter().any(|s| s.trim() == "*"));

    if st.get("NotAction").is_some() {
        out.push(fail(
            "IAM-001",
            resource,
            format!("{what} allows every action except those in NotAction"),
            lines,
        ));
        return;
    }
    if actions.iter().any(|a| matches!(a.trim(), "*" | "*:*")) {
        out.push(fail(
            "IAM-001",
            resource,
            format!("{what} allows Action \"*\""),
            lines,
        ));
        return;
    }
    if !all_resources {
        return;
    }
    let service_wide: Vec<&str> = actions
        .iter()
        .copied()
        .filter(|a| {
            a.split_once(':')
                .is_some_and(|(svc, act)| !svc.is_empty() && act == "*")
        })
        .collect();
    if !service_wide.is_empty() {
        out.push(fail(
            "IAM-002",
            resource,
            format!(
                "{what} allows {} on Resource \"*\"",
                service_wide.join(", ")
            ),
            lines,
        ));
    }
    if actions
        .iter()
        .any(|a| action_matches(a.trim(), "iam:PassRole"))
    {
        out.push(fail(
            "IAM-003",
            resource,
            format!("{what} allows iam:PassRole on Resource \"*\""),
            lines,
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::node::parse_documents;

    fn ids(json: &str) -> Vec<(String, String)> {
        let d = parse_documents(json).unwrap();
        let mut out = Vec::new();
        audit_standalone(&d[0], &mut out);
        out.into_iter()
            .map(|m| (m.id, m.cause_metadata.resource.unwrap_or_default()))
            .collect()
    }

    #[test]
    fn patterns() {
        assert!(action_matches("iam:PassRole", "iam:PassRole"));
        assert!(action_matches("IAM:pass*", "iam:PassRole"));
        assert!(action_matches("iam:*", "iam:PassRole"));
        assert!(!action_matches("iam:Get*", "iam:PassRole"));
        assert!(!action_matches("s3:*", "iam:PassRole"));
        assert!(action_matches("*", "iam:PassRole"));
        assert!(action_matches("i?m:*Role", "iam:PassRole"));
        assert!(!action_matches("iam:PassRol", "iam:PassRole"));
        assert!(!action_matches("", "iam:PassRole"));
        // Hostile pattern: must return quickly.
        let hostile = format!("{}x", "*a".repeat(5000));
        assert!(!action_matches(&hostile, &"a".repeat(64)));
    }

    #[test]
    fn statements() {
        assert_eq!(
            ids(r#"{"Statement": {"Effect": "Allow", "Action": "*", "Resource": "*"}}"#),
            vec![("IAM-001".into(), "Statement[0]".into())]
        );
        assert_eq!(
            ids(
                r#"{"Statement": [{"Sid": "S", "Effect": "Allow", "Action": ["s3:*", "sqs:SendMessage"], "Resource": "*"}]}"#
            ),
            vec![("IAM-002".into(), "S".into())]
        );
        assert_eq!(
            ids(
                r#"{"Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "arn:aws:s3:::b/*"}]}"#
            ),
            vec![]
        );
        assert_eq!(
            ids(r#"{"Statement": [{"Effect": "Deny", "Action": "*", "Resource": "*"}]}"#),
            vec![]
        );
        assert_eq!(
            ids(r#"{"Statement": [{"Effect": "Allow", "NotAction": "iam:*", "Resource": "*"}]}"#),
            vec![("IAM-001".into(), "Statement[0]".into())]
        );
        assert_eq!(
            ids(
                r#"{"Statement": [{"Effect": "Allow", "Action": "iam:PassRole", "Resource": ["*"]}]}"#
            ),
            vec![("IAM-003".into(), "Statement[0]".into())]
        );
        assert_eq!(
            ids(
                r#"{"Statement": [{"Effect": "Allow", "Action": "iam:PassRole", "Resource": "arn:aws:iam::1:role/x"}]}"#
            ),
            vec![]
        );
    }
}
