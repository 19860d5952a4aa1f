//! Line numbers of lockfile entries, for `Locations` (SARIF regions point at them).
//!
//! serde keeps no positions, so a second, tiny pass over the text finds them: for JSON, a scanner
//! that knows only strings, brackets and commas and records the lines each object value spans
//! under the key path that leads to it; for yarn and pnpm, the top-level and second-level keys of
//! an indentation-based file. Both are linear and never fail: on text they do not understand they
//! just find fewer spans.

use std::collections::HashMap;

/// For every object that is the value of a key whose parent key satisfies `want_parent`, the key
/// path (from the root, e.g. `["packages", "node_modules/a"]`) → its first and last line.
pub fn json_object_spans(
    text: &str,
    want_parent: impl Fn(&str) -> bool,
) -> HashMap<Vec<String>, (u32, u32)> {
    let bytes = text.as_bytes();
    let mut out = HashMap::new();
    // One frame per open container: the key that led to it (objects only), its start line, and
    // whether it is recorded.
    struct Frame {
        key: Option<String>,
        line: u32,
        record: bool,
    }
    let mut stack: Vec<Frame> = Vec::new();
    let mut path: Vec<String> = Vec::new();
    let mut pending_key: Option<String> = None;
    let mut last_string: Option<String> = None;
    let mut line: u32 = 1;
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'\n' => line += 1,
            b'"' => {
                let start = i + 1;
                let mut j = start;
                let mut escaped = false;
                while j < bytes.len() {
                    match bytes[j] {
                        b'\\' if !escaped => escaped = true,
                        b'"' if !escaped => break,
                        b'\n' => {
                            line += 1;
                            escaped = false
                        }
                        _ => escaped = false,
                    }
                    j += 1;
                }
                // Keys we care about hold no escapes; a lossy copy is fine for the rest.
                last_string = Some(
                    text.get(start..j.min(bytes.len()))
                        .unwrap_or("")
                        .to_string(),
                );
                i = j;
            }
            b':' => pending_key = last_string.take(),
            b'{' | b'[' => {
                let key = pending_key.take();
                let record = bytes[i] == b'{'
                    && key.is_some()
                    && path.last().is_some_and(|p| want_parent(p));
                if let Some(k) = &key {
                    path.push(k.clone());
                }
                stack.push(Frame { key, line, record });
                if stack.len() > 256 {
                    // Deeper than any lockfile: stop rather than grow.
                    break;
                }
            }
            b'}' | b']' => {
                if let Some(f) = stack.pop() {
                    if f.key.is_some() {
                        if f.record {
                            out.insert(path.clone(), (f.line, line));
                        }
                        path.pop();
                    }
                }
                pending_key = None;
            }
            b',' => {
                pending_key = None;
                last_string = None;
            }
            _ => {}
        }
        i += 1;
    }
    out
}

/// For a YAML-like file (pnpm) or a yarn lockfile: the entries at `indent` spaces under the
/// top-level section `section` (or at the top level, with `section` None), key as written
/// (quotes removed, trailing `:` removed) → first and last non-blank line.
pub fn indented_key_spans(
    text: &str,
    section: Option<&str>,
    indent: usize,
) -> Vec<(String, (u32, u32))> {
    let mut out: Vec<(String, (u32, u32))> = Vec::new();
    let mut in_section = section.is_none();
    let mut current: Option<(String, u32, u32)> = None;
    for (n, raw) in text.lines().enumerate() {
        let n = n as u32 + 1;
        let line = raw.trim_end();
        if line.trim_start().is_empty() || line.trim_start().starts_with('#') {
            continue;
        }
        let ind = line.len() - line.trim_start_matches(' ').len();
        if ind == 0 && section.is_some() {
            if let Some((k, a, b)) = current.take() {
                out.push((k, (a, b)));
            }
            in_section = section.is_some_and(|s| line.strip_suffix(':') == Some(s));
            continue;
        }
        if !in_section {
            continue;
        }
        if ind == indent && line.ends_with(':') {
            if let Some((k, a, b)) = current.take() {
                out.push((k, (a, b)));
            }
            let key = line[ind..line.len() - 1].trim();
            current = Some((unquote(key).to_string(), n, n));
        } else if ind > indent {
            if let Some(c) = current.as_mut() {
                c.2 = n;
            }
        } else if let Some((k, a, b)) = current.take() {
            out.push((k, (a, b)));
        }
    }
    if let Some((k, a, b)) = current.take() {
        out.push((k, (a, b)));
    }
    out
}

pub fn unquote(s: &str) -> &str {
    let s = s.trim();
    for q in ['"', '\''] {
        if let Some(inner) = s.strip_prefix(q).and_then(|s| s.strip_suffix(q)) {
            return inner;
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_spans() {
        let text = "{\n  \"packages\": {\n    \"\": {\n      \"name\": \"x\"\n    },\n    \"node_modules/a\": {\n      \"version\": \"1.0.0\",\n      \"bin\": {\"a\": \"x{\"}\n    }\n  }\n}\n";
        let spans = json_object_spans(text, |p| p == "packages");
        assert_eq!(
            spans.get(&vec!["packages".into(), "".into()]),
            Some(&(3, 5))
        );
        assert_eq!(
            spans.get(&vec!["packages".into(), "node_modules/a".into()]),
            Some(&(6, 9))
        );
        assert_eq!(spans.len(), 2);
    }

    #[test]
    fn json_spans_never_fail() {
        for text in [
            "",
            "{",
            "}}}",
            "{\"a\":{\"b\":{",
            "\"unterminated",
            "[[[[",
            "{\"p\\\"\": {}}",
        ] {
            let _ = json_object_spans(text, |_| true);
        }
        let deep = "[".repeat(100_000);
        assert!(json_object_spans(&deep, |_| true).is_empty());
    }

    #[test]
    fn indented_spans() {
        let text = "lockfileVersion: '9.0'\n\npackages:\n\n  '@a/b@1.0.0':\n    resolution: {x: y}\n\n  c@2.0.0:\n    resolution: {}\n    engines: {node: '>=8'}\nsnapshots:\n  c@2.0.0: {}\n";
        let spans = indented_key_spans(text, Some("packages"), 2);
        assert_eq!(
            spans,
            vec![
                ("@a/b@1.0.0".to_string(), (5, 6)),
                ("c@2.0.0".to_string(), (8, 10))
            ]
        );
    }
}
