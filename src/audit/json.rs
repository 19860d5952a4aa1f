//! A small JSON reader that produces [`Node`]s with line numbers. serde_json keeps no positions, and
//! YAML parsers reject some valid JSON (keys over 1024 characters, some control escapes), so JSON
//! gets its own recursive descent here. Strings and numbers are decoded by serde_json on the exact
//! token, so escapes and number forms follow the spec; nesting is bounded.

use super::node::{Entry, Kind, Node, ParseError};

/// Deeper documents are refused (serde_json's own default limit).
const MAX_DEPTH: usize = 128;

struct Reader<'a> {
    text: &'a str,
    pos: usize,
    line: u32,
    line_start: usize,
}

/// Parse one JSON document. Errors carry the 1-based line and column.
pub fn parse(text: &str) -> Result<Node, ParseError> {
    let mut r = Reader {
        text,
        pos: 0,
        line: 1,
        line_start: 0,
    };
    r.skip_ws();
    let v = r.value(0)?;
    r.skip_ws();
    if r.pos < r.text.len() {
        return Err(r.error("trailing characters after the JSON value"));
    }
    Ok(v)
}

impl Reader<'_> {
    fn error(&self, message: &str) -> ParseError {
        let col = self
            .text
            .get(self.line_start..self.pos)
            .map_or(1, |s| s.chars().count() + 1);
        ParseError {
            line: Some(u64::from(self.line)),
            column: Some(col as u64),
            message: message.to_owned(),
        }
    }

    fn peek(&self) -> Option<u8> {
        self.text.as_bytes().get(self.pos).copied()
    }

    fn skip_ws(&mut self) {
        while let Some(b) = self.peek() {
            match b {
                b'\n' => {
                    self.pos += 1;
                    self.line = self.line.saturating_add(1);
                    self.line_start = self.pos;
                }
                b' ' | b'\t' | b'\r' => self.pos += 1,
                _ => break,
            }
        }
    }

    fn node(&self, line: u32, kind: Kind) -> Node {
        Node {
            tag: None,
            line,
            end_line: self.line,
            kind,
        }
    }

    fn value(&mut self, depth: usize) -> Result<Node, ParseError> {
        if depth > MAX_DEPTH {
            return Err(self.error("recursion limit exceeded"));
        }
        let line = self.line;
        match self.peek() {
            Some(b'{') => self.object(depth, line),
            Some(b'[') => self.array(depth, line),
            Some(b'"') => {
                let s = self.string()?;
                Ok(self.node(line, Kind::Str(s)))
            }
            Some(b't') => self.literal("true", line, Kind::Bool(true)),
            Some(b'f') => self.literal("false", line, Kind::Bool(false)),
            Some(b'n') => self.literal("null", line, Kind::Null),
            Some(b'-' | b'0'..=b'9') => self.number(line),
            Some(_) => Err(self.error("expected a JSON value")),
            None => Err(self.error("EOF while parsing a value")),
        }
    }

    fn literal(&mut self, word: &str, line: u32, kind: Kind) -> Result<Node, ParseError> {
        if self
            .text
            .get(self.pos..)
            .is_some_and(|t| t.starts_with(word))
        {
            self.pos += word.len();
            Ok(self.node(line, kind))
        } else {
            Err(self.error("expected a JSON value"))
        }
    }

    fn number(&mut self, line: u32) -> Result<Node, ParseError> {
        let start = self.pos;
        while let Some(b) = self.peek() {
            if b.is_ascii_digit() || matches!(b, b'-' | b'+' | b'.' | b'e' | b'E') {
                self.pos += 1;
            } else {
                break;
            }
        }
        let tok = self.text.get(start..self.pos).unwrap_or("");
        match serde_json::from_str::<serde_json::Number>(tok) {
            Ok(n) => {
                let kind = match n.as_i64() {
                    Some(i) => Kind::Int(i),
                    None => Kind::Float(n.as_f64().unwrap_or(0.0)),
                };
                Ok(self.node(line, kind))
            }
            Err(_) => {
                self.pos = start;
                Err(self.error("invalid number"))
            }
        }
    }

    /// A string token, decoded by serde_json.
    fn string(&mut self) -> Result<String, ParseError> {
        let start = self.pos;
        let bytes = self.text.as_bytes();
        let mut i = start + 1;
        loop {
            match bytes.get(i) {
                None => return Err(self.error("EOF while parsing a string")),
                Some(b'\\') => i += 2,
                Some(b'"') => break,
                Some(b'\n') => return Err(self.error("control character in a string")),
                Some(_) => i += 1,
            }
        }
        let tok = self.text.get(start..=i).unwrap_or("");
        match serde_json::from_str::<String>(tok) {
            Ok(s) => {
                self.pos = i + 1;
                Ok(s)
            }
            Err(_) => Err(self.error("invalid string")),
        }
    }

    fn object(&mut self, depth: usize, line: u32) -> Result<Node, ParseError> {
        self.pos += 1; // {
        let mut entries = Vec::new();
        self.skip_ws();
        if self.peek() == Some(b'}') {
            self.pos += 1;
            return Ok(self.node(line, Kind::Map(entries)));
        }
        loop {
            self.skip_ws();
            if self.peek() != Some(b'"') {
                return Err(self.error("expected a string key"));
            }
            let key_line = self.line;
            let key = self.string()?;
            self.skip_ws();
            if self.peek() != Some(b':') {
                return Err(self.error("expected ':'"));
            }
            self.pos += 1;
            self.skip_ws();
            let value = self.value(depth + 1)?;
            entries.push(Entry {
                key,
                key_line,
                value,
            });
            self.skip_ws();
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b'}') => {
                    self.pos += 1;
                    return Ok(self.node(line, Kind::Map(entries)));
                }
                _ => return Err(self.error("expected ',' or '}'")),
            }
        }
    }

    fn array(&mut self, depth: usize, line: u32) -> Result<Node, ParseError> {
        self.pos += 1; // [
        let mut items = Vec::new();
        self.skip_ws();
        if self.peek() == Some(b']') {
            self.pos += 1;
            return Ok(self.node(line, Kind::Seq(items)));
        }
        loop {
            self.skip_ws();
            items.push(self.value(depth + 1)?);
            self.skip_ws();
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b']') => {
                    self.pos += 1;
                    return Ok(self.node(line, Kind::Seq(items)));
                }
                _ => return Err(self.error("expected ',' or ']'")),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_and_lines() {
        let t = "{\n  \"a\": [1, -2.5e3, true, null],\n  \"b\": {\n    \"c\": \"x\\/y\\u00e9\\n\"\n  }\n}\n";
        let n = parse(t).unwrap();
        assert_eq!((n.line, n.end_line), (1, 6));
        let a = n.get("a").unwrap();
        assert_eq!(a.items().len(), 4);
        assert_eq!(a.items()[0].kind, Kind::Int(1));
        assert_eq!(a.items()[1].kind, Kind::Float(-2500.0));
        let b = n.get("b").unwrap();
        assert_eq!((b.line, b.end_line), (3, 5));
        assert_eq!(b.get("c").unwrap().as_str(), Some("x/y\u{e9}\n"));
        assert_eq!(n.entries()[1].key_line, 3);
    }

    #[test]
    fn long_keys_and_escaped_quotes() {
        let key = "k".repeat(5000);
        let t = format!("{{\"{key}\": \"a\\\"b\", \"x\": 1}}");
        let n = parse(&t).unwrap();
        assert_eq!(n.get(&key).unwrap().as_str(), Some("a\"b"));
    }

    #[test]
    fn errors_have_positions_and_depth_is_bounded() {
        let e = parse("{\n  \"a\": 1,\n}").unwrap_err();
        assert_eq!(e.line, Some(3));
        let e = parse("[1, 2").unwrap_err();
        assert_eq!(e.line, Some(1));
        assert!(parse("{\"a\": tru}").is_err());
        assert!(parse("{\"a\": 01x}").is_err());
        assert!(parse("[1] x").is_err());
        assert!(parse("\"unterminated").is_err());
        let deep = format!("{}1{}", "[".repeat(200), "]".repeat(200));
        assert!(parse(&deep).is_err());
        let ok = format!("{}1{}", "[".repeat(100), "]".repeat(100));
        assert!(parse(&ok).is_ok());
    }
}
