//! Dockerfiles: DOCKERFILE-001. What counts is the user of the *final* stage: a `USER` in a builder
//! stage does not carry over, unless the final stage is built `FROM` that stage. Findings are named
//! by the final stage (`AS name`), else by its base image.

use super::ecs::is_root_user;
use super::fail;
use crate::model::Misconfiguration;

#[derive(Debug, Default)]
struct Stage {
    name: Option<String>,
    base: String,
    from_line: u32,
    /// Last `USER` of the stage and its line.
    user: Option<(String, u32)>,
}

/// Logical instructions with their first line: continuation lines (`\`) joined, comments dropped.
fn instructions(text: &str) -> Vec<(u32, String)> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut start = 0u32;
    for (i, raw) in text.lines().enumerate() {
        let lineno = u32::try_from(i + 1).unwrap_or(u32::MAX);
        let t = raw.trim();
        if t.starts_with('#') && cur.is_empty() {
            continue;
        }
        if cur.is_empty() {
            if t.is_empty() {
                continue;
            }
            start = lineno;
        }
        if let Some(body) = t.strip_suffix('\\') {
            cur.push_str(body);
            cur.push(' ');
        } else {
            cur.push_str(t);
            out.push((start, std::mem::take(&mut cur)));
        }
    }
    if !cur.trim().is_empty() {
        out.push((start, cur));
    }
    out
}

/// Audit a Dockerfile's text.
pub fn audit(text: &str) -> Vec<Misconfiguration> {
    let mut stages: Vec<Stage> = Vec::new();
    for (line, ins) in instructions(text) {
        let mut words = ins.split_whitespace();
        let Some(op) = words.next() else { continue };
        if op.eq_ignore_ascii_case("FROM") {
            let args: Vec<&str> = words.filter(|w| !w.starts_with("--")).collect();
            let base = args.first().copied().unwrap_or("").to_owned();
            let name = match (args.get(1), args.get(2)) {
                (Some(a), Some(n)) if a.eq_ignore_ascii_case("AS") => Some(n.to_ascii_lowercase()),
                _ => None,
            };
            stages.push(Stage {
                name,
                base,
                from_line: line,
                user: None,
            });
        } else if op.eq_ignore_ascii_case("USER") {
            let user = words.next().unwrap_or("").to_owned();
            if let Some(s) = stages.last_mut() {
                s.user = Some((user, line));
            }
        }
    }
    let Some(last) = stages.last() else {
        return vec![fail(
            "DOCKERFILE-001",
            "Dockerfile",
            "The Dockerfile has no FROM and no USER instruction".to_owned(),
            None,
        )];
    };
    // The effective user: the final stage's, else the stage it is built from (by name).
    let mut stage = last;
    let mut hops = 0;
    let user = loop {
        if let Some(u) = &stage.user {
            break Some(u);
        }
        let base = stage.base.to_ascii_lowercase();
        match stages
            .iter()
            .find(|s| s.name.as_deref() == Some(base.as_str()))
        {
            Some(parent) if hops < stages.len() && !std::ptr::eq(parent, stage) => {
                stage = parent;
                hops += 1;
            }
            _ => break None,
        }
    };
    let resource = last.name.clone().unwrap_or_else(|| last.base.clone());
    match user {
        None => vec![fail(
            "DOCKERFILE-001",
            &resource,
            format!(
                "The final stage (FROM {}) sets no USER, so the container runs as root",
                last.base
            ),
            Some((last.from_line, last.from_line)),
        )],
        Some((u, line)) if is_root_user(u) => vec![fail(
            "DOCKERFILE-001",
            &resource,
            format!("The final stage's last USER is root (USER {u})"),
            Some((*line, *line)),
        )],
        Some(_) => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(text: &str) -> Vec<Option<u32>> {
        audit(text)
            .into_iter()
            .map(|m| m.cause_metadata.start_line)
            .collect()
    }

    #[test]
    fn final_stage_decides() {
        assert_eq!(lines("FROM alpine\nRUN true\n"), vec![Some(1)]);
        assert_eq!(lines("FROM alpine\nUSER app\nUSER root\n"), vec![Some(3)]);
        assert_eq!(lines("FROM alpine\nUSER 0:0\n"), vec![Some(2)]);
        assert!(lines("FROM alpine\nUSER root\nRUN x\nUSER 1000:1000\n").is_empty());
        assert_eq!(
            lines("FROM golang AS build\nUSER 1000\nFROM alpine\n"),
            vec![Some(3)]
        );
        assert!(lines("FROM alpine AS base\nUSER app\nFROM base\nCOPY a b\n").is_empty());
        assert!(
            lines("# c\nFROM --platform=linux/amd64 alpine \\\n  AS x\nUSER \\\n  nobody\n")
                .is_empty()
        );
        assert_eq!(lines("FROM a AS a\nFROM a AS b\n").len(), 1);
    }
}
