//! The EventBridge "ECR Image Action" event, parsed defensively.
//!
//! Events come from outside (a file, stdin, a Lambda payload), so nothing here trusts their shape:
//! the input is size-capped, read as a generic JSON value (serde_json bounds the nesting depth), and
//! every field is checked for type and form before it becomes part of a registry reference. Text
//! echoed back in a message is cleaned of control characters and truncated.
//!
//! Two outcomes are not errors: an event that is not an ECR push (another source or detail-type, a
//! DELETE, a failed push) is [`Parsed::Ignored`] with the reason. Only an event that claims to be an
//! ECR image action but lacks what a scan needs, or is not an EventBridge event at all, is an error.

use crate::source::registry::reference::{parse_digest, ImageRef};
use anyhow::{anyhow, bail};
use serde::Serialize;
use serde_json::{Map, Value};

/// EventBridge events are at most 256 KiB; anything much larger is not one.
pub const MAX_EVENT_BYTES: usize = 1 << 20;

/// A successful ECR push, with every field validated.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PushEvent {
    /// The registry's AWS account (12 digits).
    pub account: String,
    pub region: String,
    pub repository: String,
    /// `sha256:<hex>`.
    pub digest: String,
    /// The pushed tag, when the push had one.
    pub tag: Option<String>,
}

/// What an event asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Parsed {
    Push(PushEvent),
    /// Not something to scan; the reason is one line for stderr.
    Ignored(String),
}

impl PushEvent {
    /// The registry host for the event's account and region: `dkr.ecr` (or `dkr.ecr-fips`) under
    /// `amazonaws.com`, or `amazonaws.com.cn` in the China regions.
    pub fn registry_host(&self, fips: bool) -> String {
        let ecr = if fips { "ecr-fips" } else { "ecr" };
        let suffix = if self.region.starts_with("cn-") {
            "amazonaws.com.cn"
        } else {
            "amazonaws.com"
        };
        format!("{}.dkr.{ecr}.{}.{suffix}", self.account, self.region)
    }

    /// `<account>.dkr.ecr.<region>.amazonaws.com/<repository>@<digest>`.
    pub fn reference(&self, fips: bool) -> String {
        format!(
            "{}/{}@{}",
            self.registry_host(fips),
            self.repository,
            self.digest
        )
    }
}

/// Text from the event, safe to echo: no control characters, at most 80 characters.
fn shown(s: &str) -> String {
    crate::report::truncate(&crate::report::clean(s), 80)
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// A required string field of `obj` (`path` names it in messages).
fn string_field<'a>(obj: &'a Map<String, Value>, key: &str, path: &str) -> anyhow::Result<&'a str> {
    match obj.get(key) {
        Some(Value::String(s)) => Ok(s),
        Some(other) => bail!("`{path}` must be a string, found {}", type_name(other)),
        None => bail!("`{path}` is missing"),
    }
}

/// Parse an event. `Err` means the input is not a usable event (exit 2); see the module docs.
pub fn parse(bytes: &[u8]) -> anyhow::Result<Parsed> {
    if bytes.len() > MAX_EVENT_BYTES {
        bail!(
            "the event is {} bytes, larger than any EventBridge event ({MAX_EVENT_BYTES} bytes at most here)",
            bytes.len()
        );
    }
    let value: Value =
        serde_json::from_slice(bytes).map_err(|e| anyhow!("the event is not valid JSON ({e})"))?;
    parse_value(&value)
}

/// [`parse`] on an already decoded JSON value (the Lambda payload).
pub fn parse_value(value: &Value) -> anyhow::Result<Parsed> {
    let Value::Object(top) = value else {
        bail!(
            "the event must be a JSON object (an EventBridge event), found {}",
            type_name(value)
        );
    };
    let not_eventbridge = |e: anyhow::Error| {
        anyhow!(
            "not an EventBridge event: {e:#} (expected an \"ECR Image Action\" event from \"aws.ecr\")"
        )
    };
    let source = string_field(top, "source", "source").map_err(not_eventbridge)?;
    let detail_type = string_field(top, "detail-type", "detail-type").map_err(not_eventbridge)?;
    if source != "aws.ecr" || detail_type != "ECR Image Action" {
        return Ok(Parsed::Ignored(format!(
            "the event is {:?} from {:?}, not an \"ECR Image Action\" from \"aws.ecr\"",
            shown(detail_type),
            shown(source)
        )));
    }
    let bad = |e: anyhow::Error| anyhow!("malformed ECR Image Action event: {e:#}");
    let detail = match top.get("detail") {
        Some(Value::Object(d)) => d,
        Some(other) => {
            return Err(bad(anyhow!(
                "`detail` must be an object, found {}",
                type_name(other)
            )));
        }
        None => return Err(bad(anyhow!("`detail` is missing"))),
    };
    let action = string_field(detail, "action-type", "detail.action-type").map_err(bad)?;
    let result = string_field(detail, "result", "detail.result").map_err(bad)?;
    if action != "PUSH" {
        return Ok(Parsed::Ignored(format!(
            "action-type is {:?}, only PUSH events are scanned",
            shown(action)
        )));
    }
    if result != "SUCCESS" {
        return Ok(Parsed::Ignored(format!(
            "the push did not succeed (result {:?})",
            shown(result)
        )));
    }

    let account = string_field(top, "account", "account").map_err(bad)?;
    if account.len() != 12 || !account.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad(anyhow!(
            "`account` must be a 12-digit AWS account id, found {:?}",
            shown(account)
        )));
    }
    let region = string_field(top, "region", "region").map_err(bad)?;
    if !crate::source::remote_zip::valid_region(region) {
        return Err(bad(anyhow!(
            "`region` is not an AWS region name: {:?}",
            shown(region)
        )));
    }
    let repository =
        string_field(detail, "repository-name", "detail.repository-name").map_err(bad)?;
    let digest = string_field(detail, "image-digest", "detail.image-digest").map_err(bad)?;
    let digest = parse_digest(digest).map_err(|_| {
        bad(anyhow!(
            "`detail.image-digest` must be sha256:<64 lowercase hex digits>, found {:?}",
            shown(digest)
        ))
    })?;
    let tag = match detail.get("image-tag") {
        None | Some(Value::Null) => None,
        Some(Value::String(t)) if t.is_empty() => None,
        Some(Value::String(t)) => Some(t.clone()),
        Some(other) => {
            return Err(bad(anyhow!(
                "`detail.image-tag` must be a string, found {}",
                type_name(other)
            )));
        }
    };
    let event = PushEvent {
        account: account.to_string(),
        region: region.to_string(),
        repository: repository.to_string(),
        digest,
        tag,
    };
    // The reference parser is the authority on repository names (and the tag's form).
    let with_tag = match &event.tag {
        Some(t) => format!(
            "{}/{}:{t}@{}",
            event.registry_host(false),
            event.repository,
            event.digest
        ),
        None => event.reference(false),
    };
    let parsed = ImageRef::parse(&with_tag).map_err(|_| {
        let what = if ImageRef::parse(&event.reference(false)).is_ok() {
            format!(
                "`detail.image-tag` is not a valid tag: {:?}",
                shown(event.tag.as_deref().unwrap_or(""))
            )
        } else {
            format!(
                "`detail.repository-name` is not a valid repository name: {:?}",
                shown(&event.repository)
            )
        };
        bad(anyhow!(what))
    })?;
    if parsed.repository != event.repository {
        return Err(bad(anyhow!(
            "`detail.repository-name` is not a valid repository name: {:?}",
            shown(&event.repository)
        )));
    }
    Ok(Parsed::Push(event))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const D: &str = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    fn push() -> Value {
        json!({
            "version": "0",
            "id": "13cde686-328b-6117-af20-0e5566167482",
            "detail-type": "ECR Image Action",
            "source": "aws.ecr",
            "account": "123456789012",
            "time": "2019-11-16T01:54:34Z",
            "region": "us-west-2",
            "resources": [],
            "detail": {
                "result": "SUCCESS",
                "repository-name": "team/app",
                "image-digest": D,
                "action-type": "PUSH",
                "image-tag": "v1"
            }
        })
    }

    fn parse_json(v: &Value) -> anyhow::Result<Parsed> {
        parse(v.to_string().as_bytes())
    }

    #[test]
    fn a_push_becomes_a_reference() {
        let Parsed::Push(e) = parse_json(&push()).unwrap() else {
            panic!("not a push")
        };
        assert_eq!(e.tag.as_deref(), Some("v1"));
        assert_eq!(
            e.reference(false),
            format!("123456789012.dkr.ecr.us-west-2.amazonaws.com/team/app@{D}")
        );
        assert_eq!(
            e.registry_host(true),
            "123456789012.dkr.ecr-fips.us-west-2.amazonaws.com"
        );
        // Every host form we build is one the registry code recognises as ECR, in its region.
        for (region, fips) in [
            ("us-west-2", false),
            ("us-gov-west-1", true),
            ("cn-north-1", false),
        ] {
            let e = PushEvent {
                region: region.into(),
                ..e.clone()
            };
            let host = crate::source::registry::EcrHost::parse(&e.registry_host(fips))
                .unwrap_or_else(|| panic!("{}", e.registry_host(fips)));
            assert_eq!((host.region.as_str(), host.fips), (region, fips));
        }
        let cn = PushEvent {
            region: "cn-northwest-1".into(),
            ..e
        };
        assert!(cn.registry_host(false).ends_with(".amazonaws.com.cn"));
    }

    #[test]
    fn tag_may_be_missing_or_null() {
        for tag in [None, Some(Value::Null), Some(json!(""))] {
            let mut v = push();
            let d = v["detail"].as_object_mut().unwrap();
            match tag {
                None => {
                    d.remove("image-tag");
                }
                Some(t) => {
                    d.insert("image-tag".into(), t);
                }
            }
            let Parsed::Push(e) = parse_json(&v).unwrap() else {
                panic!()
            };
            assert_eq!(e.tag, None);
        }
    }

    #[test]
    fn other_events_are_ignored_with_a_reason() {
        let mut v = push();
        v["detail"]["action-type"] = json!("DELETE");
        assert!(matches!(parse_json(&v).unwrap(), Parsed::Ignored(r) if r.contains("DELETE")));
        let mut v = push();
        v["detail"]["result"] = json!("FAILURE");
        assert!(matches!(parse_json(&v).unwrap(), Parsed::Ignored(r) if r.contains("FAILURE")));
        let mut v = push();
        v["detail-type"] = json!("ECR Image Scan");
        assert!(
            matches!(parse_json(&v).unwrap(), Parsed::Ignored(r) if r.contains("ECR Image Scan"))
        );
        let v = json!({"source": "aws.s3", "detail-type": "Object Created", "detail": {}});
        assert!(matches!(parse_json(&v).unwrap(), Parsed::Ignored(_)));
        // Ignored before the push-only fields are looked at.
        let v = json!({"source": "aws.ecr", "detail-type": "ECR Image Action",
                       "detail": {"action-type": "DELETE", "result": "SUCCESS"}});
        assert!(matches!(parse_json(&v).unwrap(), Parsed::Ignored(_)));
    }

    #[test]
    fn malformed_events_say_which_field() {
        let cases: Vec<(Value, &str)> = vec![
            (json!([]), "JSON object"),
            (
                json!({"detail-type": "ECR Image Action"}),
                "`source` is missing",
            ),
            (
                json!({"source": 5, "detail-type": "x"}),
                "`source` must be a string",
            ),
            (
                {
                    let mut v = push();
                    v["detail"] = json!("x");
                    v
                },
                "`detail` must be an object",
            ),
            (
                {
                    let mut v = push();
                    v.as_object_mut().unwrap().remove("detail");
                    v
                },
                "`detail` is missing",
            ),
            (
                {
                    let mut v = push();
                    v["account"] = json!(123456789012u64);
                    v
                },
                "`account` must be a string",
            ),
            (
                {
                    let mut v = push();
                    v["account"] = json!("12345");
                    v
                },
                "12-digit",
            ),
            (
                {
                    let mut v = push();
                    v["region"] = json!("../evil");
                    v
                },
                "region",
            ),
            (
                {
                    let mut v = push();
                    v["detail"]["image-digest"] = json!("sha256:abc");
                    v
                },
                "image-digest",
            ),
            (
                {
                    let mut v = push();
                    v["detail"]["image-digest"] = json!(null);
                    v
                },
                "image-digest",
            ),
            (
                {
                    let mut v = push();
                    v["detail"]["repository-name"] = json!("Team/App");
                    v
                },
                "repository-name",
            ),
            (
                {
                    let mut v = push();
                    v["detail"]["repository-name"] = json!("a/../b@x");
                    v
                },
                "repository-name",
            ),
            (
                {
                    let mut v = push();
                    v["detail"]["image-tag"] = json!(7);
                    v
                },
                "image-tag",
            ),
            (
                {
                    let mut v = push();
                    v["detail"]["image-tag"] = json!("bad tag!");
                    v
                },
                "image-tag",
            ),
            (
                {
                    let mut v = push();
                    v["detail"]["action-type"] = json!(["PUSH"]);
                    v
                },
                "action-type",
            ),
        ];
        for (v, want) in cases {
            let e = parse_json(&v).expect_err(&v.to_string());
            let msg = format!("{e:#}");
            assert!(msg.contains(want), "{v}: {msg}");
        }
        let e = parse(b"{not json").unwrap_err();
        assert!(format!("{e:#}").contains("not valid JSON"), "{e:#}");
        let e = parse(b"").unwrap_err();
        assert!(format!("{e:#}").contains("not valid JSON"), "{e:#}");
    }

    #[test]
    fn huge_fields_are_not_echoed_whole() {
        let mut v = push();
        let huge = "A".repeat(200_000);
        v["detail"]["repository-name"] = json!(huge);
        let msg = format!("{:#}", parse_json(&v).unwrap_err());
        assert!(msg.len() < 1000, "{} bytes", msg.len());
        let big = vec![b' '; MAX_EVENT_BYTES + 1];
        assert!(parse(&big).is_err());
        // Deep nesting is refused by serde_json's recursion limit, not a stack overflow.
        let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
        assert!(parse(deep.as_bytes()).is_err());
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(512))]

        /// Arbitrary bytes never panic.
        #[test]
        fn any_bytes(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..512)) {
            let _ = parse(&bytes);
        }

        /// Any value in any field of a real push event never panics, and a `Push` that comes out
        /// always builds a reference the registry parser accepts.
        #[test]
        fn any_field_value(
            path in proptest::sample::select(vec![
                "/source", "/detail-type", "/account", "/region", "/detail",
                "/detail/result", "/detail/action-type", "/detail/repository-name",
                "/detail/image-digest", "/detail/image-tag",
            ]),
            value in arb_json(),
        ) {
            let mut v = push();
            if let Some(slot) = v.pointer_mut(path) {
                *slot = value;
            }
            if let Ok(Parsed::Push(e)) = parse_value(&v) {
                proptest::prop_assert!(ImageRef::parse(&e.reference(false)).is_ok());
            }
        }
    }

    fn arb_json() -> impl proptest::strategy::Strategy<Value = Value> {
        use proptest::prelude::*;
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(|n| json!(n)),
            any::<f64>().prop_map(|f| json!(f)),
            ".{0,40}".prop_map(Value::String),
            "[a-z0-9/._-]{0,300}".prop_map(Value::String),
            "sha256:[0-9a-f]{60,68}".prop_map(Value::String),
        ];
        leaf.prop_recursive(3, 16, 4, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                proptest::collection::btree_map(".{0,8}", inner, 0..4)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }
}
