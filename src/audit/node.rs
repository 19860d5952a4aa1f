//! A YAML/JSON document tree that keeps what the rules need and `serde_json::Value` loses: the
//! source line of every node (for `CauseMetadata`) and CloudFormation short-form tags (`!Ref`,
//! `!Sub`, ...), which tell a reference apart from a literal value.
//!
//! YAML goes through serde-saphyr, with its budgets bounding depth, node count and alias expansion;
//! JSON through [`super::json`], which keeps exact lines and bounds nesting too.

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_saphyr::{Spanned, Tagged};
use std::fmt;

/// One node of a parsed document.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    /// The tag as written (`!Ref`, `!Sub`), when there is one.
    pub tag: Option<String>,
    /// 1-based first line of the node; 0 when unknown.
    pub line: u32,
    /// 1-based last line of the node and its children; 0 when unknown.
    pub end_line: u32,
    pub kind: Kind,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Kind {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Seq(Vec<Node>),
    Map(Vec<Entry>),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    pub key: String,
    /// Line of the key (0 when unknown).
    pub key_line: u32,
    pub value: Node,
}

/// A parse failure, with the position when the parser gave one. The message never quotes the
/// input (no snippet), so a secret on the bad line is not echoed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    pub line: Option<u64>,
    pub column: Option<u64>,
    pub message: String,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

static NULL: Node = Node {
    tag: None,
    line: 0,
    end_line: 0,
    kind: Kind::Null,
};

impl Node {
    pub fn null() -> &'static Node {
        &NULL
    }

    /// The value under `key` (exact match; the last one wins, as most loaders do).
    pub fn get(&self, key: &str) -> Option<&Node> {
        self.entries()
            .iter()
            .rev()
            .find(|e| e.key == key)
            .map(|e| &e.value)
    }

    /// The value under `key`, ignoring ASCII case: ECS keys are camelCase in the API and PascalCase
    /// in CloudFormation (`readonlyRootFilesystem` / `ReadonlyRootFilesystem`).
    pub fn get_ci(&self, key: &str) -> Option<&Node> {
        self.entries()
            .iter()
            .rev()
            .find(|e| e.key.eq_ignore_ascii_case(key))
            .map(|e| &e.value)
    }

    /// The entry (key line included) under `key`, ignoring ASCII case.
    pub fn entry_ci(&self, key: &str) -> Option<&Entry> {
        self.entries()
            .iter()
            .rev()
            .find(|e| e.key.eq_ignore_ascii_case(key))
    }

    /// Follow a path of keys (case-insensitive).
    pub fn path_ci(&self, keys: &[&str]) -> Option<&Node> {
        let mut cur = self;
        for k in keys {
            cur = cur.get_ci(k)?;
        }
        Some(cur)
    }

    pub fn entries(&self) -> &[Entry] {
        match &self.kind {
            Kind::Map(m) => m,
            _ => &[],
        }
    }

    pub fn items(&self) -> &[Node] {
        match &self.kind {
            Kind::Seq(s) => s,
            _ => &[],
        }
    }

    pub fn is_map(&self) -> bool {
        matches!(self.kind, Kind::Map(_))
    }

    pub fn is_null(&self) -> bool {
        matches!(self.kind, Kind::Null)
    }

    /// The string value of a scalar string node (any tag).
    pub fn as_str(&self) -> Option<&str> {
        match &self.kind {
            Kind::Str(s) => Some(s),
            _ => None,
        }
    }

    /// A scalar as text: strings, numbers and booleans (`user: 1000` and `user: "1000"` alike).
    pub fn scalar_text(&self) -> Option<String> {
        match &self.kind {
            Kind::Str(s) => Some(s.clone()),
            Kind::Int(i) => Some(i.to_string()),
            Kind::Float(f) => Some(f.to_string()),
            Kind::Bool(b) => Some(b.to_string()),
            _ => None,
        }
    }

    /// A boolean, also from the strings `"true"`/`"false"` (CloudFormation JSON often quotes them).
    pub fn as_bool(&self) -> Option<bool> {
        match &self.kind {
            Kind::Bool(b) => Some(*b),
            Kind::Str(s) if s.eq_ignore_ascii_case("true") => Some(true),
            Kind::Str(s) if s.eq_ignore_ascii_case("false") => Some(false),
            _ => None,
        }
    }

    pub fn as_i64(&self) -> Option<i64> {
        match &self.kind {
            Kind::Int(i) => Some(*i),
            Kind::Float(f) if f.fract() == 0.0 && f.abs() < 9.0e15 => Some(*f as i64),
            Kind::Str(s) => s.trim().parse().ok(),
            _ => None,
        }
    }

    /// A string or each string of a list (IAM `Action: "s3:*"` or `Action: [...]`).
    pub fn strings(&self) -> Vec<&str> {
        match &self.kind {
            Kind::Str(s) => vec![s.as_str()],
            Kind::Seq(items) => items.iter().filter_map(|n| n.as_str()).collect(),
            _ => Vec::new(),
        }
    }

    /// True for a CloudFormation intrinsic: a short-form tag (`!Ref x`) or the long form
    /// (`{"Ref": x}`, `{"Fn::Sub": ...}`): the value is computed at deploy time, not written here.
    pub fn is_intrinsic(&self) -> bool {
        if self
            .tag
            .as_deref()
            .is_some_and(|t| t.starts_with('!') && t != "!!str")
        {
            return true;
        }
        match &self.kind {
            Kind::Map(m) if m.len() == 1 => m.first().is_some_and(|e| {
                e.key == "Ref" || e.key == "Condition" || e.key.starts_with("Fn::")
            }),
            _ => false,
        }
    }

    /// `(start, end)` lines, or `None` when the parser gave no positions.
    pub fn lines(&self) -> Option<(u32, u32)> {
        (self.line > 0).then_some((self.line, self.end_line.max(self.line)))
    }

    pub(crate) fn finish(&mut self) -> u32 {
        let mut end = self.line.max(self.end_line);
        match &mut self.kind {
            Kind::Seq(items) => {
                for n in items {
                    end = end.max(n.finish());
                }
            }
            Kind::Map(entries) => {
                for e in entries {
                    end = end.max(e.key_line).max(e.value.finish());
                }
            }
            _ => {}
        }
        self.end_line = end;
        end
    }
}

fn clamp_line(l: u64) -> u32 {
    u32::try_from(l).unwrap_or(u32::MAX)
}

/// Bytes of tree one parse may build (nodes, strings, keys), counted as they are made. YAML
/// aliases replay a subtree without copying the input, so a small file can expand to gigabytes
/// (a "billion laughs"); serde-saphyr's budgets count events, this counts what they cost us. The
/// allocator's own overhead roughly doubles it: the parse stays under 64 MiB.
pub const MAX_TREE_BYTES: usize = 32 << 20;

thread_local! {
    static TREE_BYTES: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

fn reset_tree_budget() {
    TREE_BYTES.with(|b| b.set(0));
}

fn charge<E: de::Error>(bytes: usize) -> Result<(), E> {
    TREE_BYTES.with(|b| {
        let total = b.get().saturating_add(bytes);
        b.set(total);
        if total > MAX_TREE_BYTES {
            Err(E::custom(format!(
                "the document expands to more than {} MiB (aliases repeated too often?)",
                MAX_TREE_BYTES >> 20
            )))
        } else {
            Ok(())
        }
    })
}

impl<'de> Deserialize<'de> for Node {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s: Spanned<Tagged<Kind>> = Spanned::deserialize(d)?;
        let Tagged(kind, tag) = s.value;
        charge::<D::Error>(std::mem::size_of::<Node>() + tag.as_ref().map_or(0, String::len))?;
        Ok(Node {
            tag,
            line: clamp_line(s.referenced.line()),
            end_line: 0,
            kind,
        })
    }
}

struct KindVisitor;

impl<'de> Visitor<'de> for KindVisitor {
    type Value = Kind;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any YAML value")
    }
    fn visit_unit<E>(self) -> Result<Kind, E> {
        Ok(Kind::Null)
    }
    fn visit_none<E>(self) -> Result<Kind, E> {
        Ok(Kind::Null)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Kind, D::Error> {
        Kind::deserialize(d)
    }
    fn visit_bool<E>(self, b: bool) -> Result<Kind, E> {
        Ok(Kind::Bool(b))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Kind, E> {
        Ok(Kind::Int(v))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Kind, E> {
        Ok(i64::try_from(v).map_or(Kind::Float(v as f64), Kind::Int))
    }
    fn visit_i128<E>(self, v: i128) -> Result<Kind, E> {
        Ok(i64::try_from(v).map_or(Kind::Float(v as f64), Kind::Int))
    }
    fn visit_u128<E>(self, v: u128) -> Result<Kind, E> {
        Ok(i64::try_from(v).map_or(Kind::Float(v as f64), Kind::Int))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Kind, E> {
        Ok(Kind::Float(v))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Kind, E> {
        charge::<E>(v.len())?;
        Ok(Kind::Str(v.to_owned()))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<Kind, E> {
        charge::<E>(v.len())?;
        Ok(Kind::Str(v))
    }
    fn visit_bytes<E: de::Error>(self, v: &[u8]) -> Result<Kind, E> {
        charge::<E>(v.len())?;
        Ok(Kind::Str(String::from_utf8_lossy(v).into_owned()))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut a: A) -> Result<Kind, A::Error> {
        let mut items = Vec::new();
        while let Some(n) = a.next_element::<Node>()? {
            items.push(n);
        }
        Ok(Kind::Seq(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut a: A) -> Result<Kind, A::Error> {
        let mut entries = Vec::new();
        while let Some(k) = a.next_key::<Spanned<KeyText>>()? {
            charge::<A::Error>(std::mem::size_of::<Entry>() + k.value.0.len())?;
            let value = a.next_value::<Node>()?;
            entries.push(Entry {
                key: k.value.0,
                key_line: clamp_line(k.referenced.line()),
                value,
            });
        }
        Ok(Kind::Map(entries))
    }
}

impl<'de> Deserialize<'de> for Kind {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(KindVisitor)
    }
}

/// A mapping key as text (`1: x` and `true: y` are legal YAML keys).
struct KeyText(String);

impl<'de> Deserialize<'de> for KeyText {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = KeyText;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a scalar mapping key")
            }
            fn visit_str<E>(self, v: &str) -> Result<KeyText, E> {
                Ok(KeyText(v.to_owned()))
            }
            fn visit_string<E>(self, v: String) -> Result<KeyText, E> {
                Ok(KeyText(v))
            }
            fn visit_bool<E>(self, v: bool) -> Result<KeyText, E> {
                Ok(KeyText(v.to_string()))
            }
            fn visit_i64<E>(self, v: i64) -> Result<KeyText, E> {
                Ok(KeyText(v.to_string()))
            }
            fn visit_u64<E>(self, v: u64) -> Result<KeyText, E> {
                Ok(KeyText(v.to_string()))
            }
            fn visit_f64<E>(self, v: f64) -> Result<KeyText, E> {
                Ok(KeyText(v.to_string()))
            }
            fn visit_unit<E>(self) -> Result<KeyText, E> {
                Ok(KeyText(String::new()))
            }
            fn visit_none<E>(self) -> Result<KeyText, E> {
                Ok(KeyText(String::new()))
            }
            fn visit_map<A: MapAccess<'de>>(self, _a: A) -> Result<KeyText, A::Error> {
                Err(de::Error::custom("complex mapping keys are not supported"))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, _a: A) -> Result<KeyText, A::Error> {
                Err(de::Error::custom("complex mapping keys are not supported"))
            }
        }
        d.deserialize_any(V)
    }
}

fn options() -> serde_saphyr::Options {
    let mut budget = serde_saphyr::Budget::default();
    // Config files are small; these bound a hostile file (deep nesting, node and alias bombs).
    // Each level costs a few deserializer frames: keep well below what a 2 MiB thread stack holds.
    budget.max_depth = 64;
    budget.flow_nesting_limit = 64;
    budget.max_nodes = 1_000_000;
    budget.max_documents = 1_024;
    let mut opts = serde_saphyr::Options::default();
    opts.budget = Some(budget);
    opts.duplicate_keys = serde_saphyr::DuplicateKeyPolicy::LastWins;
    opts
}

fn saphyr_error(e: &serde_saphyr::Error) -> ParseError {
    let loc = e.location();
    let plain = e.without_snippet().to_string();
    let first = plain
        .lines()
        .next()
        .unwrap_or("invalid YAML")
        .trim_start_matches("error: ");
    // The position is reported separately (`file:line:col:`); drop it from the text.
    let first = first.split_once(": ").map_or(first, |(head, rest)| {
        if head.starts_with("line ") {
            rest
        } else {
            first
        }
    });
    let message = first
        .rfind(" at line ")
        .and_then(|i| first.get(..i))
        .unwrap_or(first)
        .to_owned();
    ParseError {
        line: loc.map(|l| l.line()).filter(|l| *l > 0),
        column: loc.map(|l| l.column()).filter(|c| *c > 0),
        message,
    }
}

/// Stack for the parsing thread: the recursive descent costs far more per nesting level in a debug
/// build than a test thread's 2 MiB allow; the depth budget bounds it, this makes room for it.
const PARSE_STACK_BYTES: usize = 64 * 1024 * 1024;

/// Parse every document of a YAML stream (or one JSON document). Empty documents are dropped.
pub fn parse_documents(text: &str) -> Result<Vec<Node>, ParseError> {
    parse_with(text, false)
}

/// Like [`parse_documents`]; with `strict_json` (a `.json` file) the text must also be valid JSON,
/// not merely YAML flow syntax (which accepts trailing commas and missing values).
pub fn parse_with(text: &str, strict_json: bool) -> Result<Vec<Node>, ParseError> {
    if strict_json {
        if let Err(je) = serde_json::from_str::<serde::de::IgnoredAny>(text) {
            return Err(json_error(&je));
        }
    }
    std::thread::scope(|s| {
        match std::thread::Builder::new()
            .name("config-parse".to_owned())
            .stack_size(PARSE_STACK_BYTES)
            .spawn_scoped(s, || parse_documents_here(text))
        {
            Ok(h) => h.join().unwrap_or_else(|_| {
                Err(ParseError {
                    line: None,
                    column: None,
                    message: "the parser failed on this input".to_owned(),
                })
            }),
            // No thread available: parse here (the depth budget still applies).
            Err(_) => parse_documents_here(text),
        }
    })
}

fn parse_documents_here(text: &str) -> Result<Vec<Node>, ParseError> {
    reset_tree_budget();
    let looks_json = matches!(text.trim_start().as_bytes().first(), Some(b'{' | b'['));
    // JSON first, with exact lines; a document that is not JSON may still be YAML flow
    // (`{a: 1}`), and when neither accepts it the JSON error is the useful one.
    let json_err = if looks_json {
        match super::json::parse(text) {
            Ok(mut doc) => {
                doc.finish();
                return Ok(if doc.is_null() { Vec::new() } else { vec![doc] });
            }
            Err(e) => Some(e),
        }
    } else {
        None
    };
    match serde_saphyr::from_str_multiple_with_options::<Node, Vec<Node>>(text, options()) {
        Ok(mut docs) => {
            docs.retain(|d| !d.is_null());
            for d in &mut docs {
                d.finish();
            }
            Ok(docs)
        }
        Err(e) => Err(json_err.unwrap_or_else(|| saphyr_error(&e))),
    }
}

fn json_error(je: &serde_json::Error) -> ParseError {
    // serde_json's Display appends " at line L column C"; keep the message part.
    let s = je.to_string();
    let message = match s.rfind(" at line ") {
        Some(i) => s.get(..i).unwrap_or(&s).to_owned(),
        None => s,
    };
    ParseError {
        line: Some(je.line() as u64).filter(|l| *l > 0),
        column: Some(je.column() as u64).filter(|c| *c > 0),
        message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_cloudformation_short_form_tags_and_lines() {
        let y = "Resources:\n  Fn:\n    Type: AWS::Lambda::Function\n    Properties:\n      Role: !GetAtt Role.Arn\n      Code: !Sub \"s3://${B}/x\"\n      Env: !Join [\":\", [a, !Ref B]]\n      Cond: !If\n        - C\n        - x\n        - y\n";
        let docs = parse_documents(y).unwrap();
        assert_eq!(docs.len(), 1);
        let props = docs[0].path_ci(&["Resources", "Fn", "Properties"]).unwrap();
        let role = props.get("Role").unwrap();
        assert_eq!(role.tag.as_deref(), Some("!GetAtt"));
        assert_eq!(role.as_str(), Some("Role.Arn"));
        assert_eq!(role.line, 5);
        assert!(role.is_intrinsic());
        let join = props.get("Env").unwrap();
        assert_eq!(join.tag.as_deref(), Some("!Join"));
        assert_eq!(join.items().len(), 2);
        let fnode = docs[0].path_ci(&["Resources", "Fn"]).unwrap();
        assert_eq!(fnode.lines(), Some((3, 11)));
        let e = docs[0].get("Resources").unwrap().entry_ci("fn").unwrap();
        assert_eq!(e.key_line, 2);
    }

    #[test]
    fn long_form_intrinsics_are_references() {
        let docs =
            parse_documents(r#"{"a": {"Ref": "P"}, "b": {"Fn::GetAtt": ["R", "Arn"]}, "c": "x"}"#)
                .unwrap();
        assert!(docs[0].get("a").unwrap().is_intrinsic());
        assert!(docs[0].get("b").unwrap().is_intrinsic());
        assert!(!docs[0].get("c").unwrap().is_intrinsic());
    }

    #[test]
    fn multi_document_streams_and_errors_with_lines() {
        let docs = parse_documents("a: 1\n---\nb: 2\n---\n").unwrap();
        assert_eq!(docs.len(), 2);
        assert_eq!(docs[1].get("b").unwrap().line, 3);
        let err = parse_documents("a: 1\n---\nb: [2\n").unwrap_err();
        assert_eq!(err.line, Some(3));
        let err = parse_with("{\n  \"a\": 1,\n  \"b\": \n}\n", true).unwrap_err();
        assert_eq!(err.line, Some(4));
        let err =
            parse_documents("{\"family\": \"x\",\n \"containerDefinitions\": [\n").unwrap_err();
        assert_eq!(err.line, Some(3));
    }

    #[test]
    fn errors_do_not_quote_the_input() {
        let err = parse_documents("password: [hunter2-very-secret\n").unwrap_err();
        assert!(!err.message.contains("hunter2"), "{}", err.message);
    }

    #[test]
    fn deep_nesting_is_bounded() {
        let deep = format!("{}1{}", "[".repeat(10_000), "]".repeat(10_000));
        assert!(parse_documents(&deep).is_err());
        let deep_block: String = (0..500).map(|i| format!("{}k:\n", " ".repeat(i))).collect();
        assert!(parse_documents(&deep_block).is_err());
    }

    #[test]
    fn nesting_up_to_the_limit_loads() {
        let ok = format!("{}1{}", "[".repeat(60), "]".repeat(60));
        assert!(parse_documents(&ok).is_ok());
        let block: String = (0..60).map(|i| format!("{}k:\n", "  ".repeat(i))).collect();
        assert!(parse_documents(&block).is_ok());
    }

    #[test]
    fn tab_indented_json_loads_with_lines() {
        let docs = parse_documents("{\n\t\"a\": {\n\t\t\"b\": 1\n\t}\n}\n").unwrap();
        assert_eq!(docs[0].path_ci(&["a", "b"]).unwrap().line, 3);
    }
}
