//! Is a plaintext setting a secret? Two independent signals: the variable's *name* says it holds a
//! secret (`DB_PASSWORD`, `apiKey`), or the *value* has the shape of a known credential (an AWS
//! access key id, a PEM private key, a GitHub/GitLab/Slack/Stripe token, a JWT, a URL with
//! `user:password@`). The value is never returned, logged or formatted: callers get a reason only.
//!
//! Not secrets: empty values, references to a secret store (`{{resolve:secretsmanager:...}}`,
//! Secrets Manager/SSM ARNs), CloudFormation intrinsics (checked by the caller), template
//! placeholders (`${VAR}`, `$(VAR)`, `<password>`, `REPLACE_ME`, masked `****`), booleans and short
//! numbers (`AUTH_ENABLED=true`, `TOKEN_TTL=3600`), and names that describe a secret rather than
//! hold one (`*_ARN`, `*_NAME`, `*_FILE`, `*_PATH`, ...). A literal weak password such as
//! `changeme` *is* reported: if it is deployed, it is the password.

use regex::Regex;
use std::sync::LazyLock;

/// Why a value was judged secret-like.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecretKind {
    /// The name says it holds a secret.
    Name,
    AwsAccessKeyId,
    PrivateKey,
    GithubToken,
    GitlabToken,
    SlackToken,
    StripeKey,
    Jwt,
    UrlCredentials,
}

impl SecretKind {
    pub fn describe(self) -> &'static str {
        match self {
            SecretKind::Name => "its name marks it as a secret",
            SecretKind::AwsAccessKeyId => "the value is an AWS access key id",
            SecretKind::PrivateKey => "the value is a PEM private key",
            SecretKind::GithubToken => "the value is a GitHub token",
            SecretKind::GitlabToken => "the value is a GitLab token",
            SecretKind::SlackToken => "the value is a Slack token",
            SecretKind::StripeKey => "the value is a Stripe live key",
            SecretKind::Jwt => "the value is a JSON Web Token",
            SecretKind::UrlCredentials => "the value is a URL with an embedded password",
        }
    }
}

static VALUE_PATTERNS: LazyLock<Vec<(SecretKind, Regex)>> = LazyLock::new(|| {
    let p = |k, r: &str| Regex::new(r).ok().map(|re| (k, re));
    [
        p(SecretKind::AwsAccessKeyId, r"\b(?:AKIA|ASIA)[A-Z0-9]{16}\b"),
        p(
            SecretKind::PrivateKey,
            r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----",
        ),
        p(
            SecretKind::GithubToken,
            r"\b(?:gh[pousr]_[A-Za-z0-9]{30,}|github_pat_[A-Za-z0-9_]{20,})",
        ),
        p(SecretKind::GitlabToken, r"\bglpat-[A-Za-z0-9_\-]{20,}"),
        p(SecretKind::SlackToken, r"\bxox[abpr]-[A-Za-z0-9\-]{10,}"),
        p(SecretKind::StripeKey, r"\b[sr]k_live_[A-Za-z0-9]{16,}"),
        p(
            SecretKind::Jwt,
            r"\beyJ[A-Za-z0-9_\-]{8,}\.eyJ[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,}",
        ),
        p(
            SecretKind::UrlCredentials,
            r"[A-Za-z][A-Za-z0-9+.\-]*://[^\s:/@]*:([^\s/@]+)@",
        ),
    ]
    .into_iter()
    .flatten()
    .collect()
});

static TEMPLATE_REF: LazyLock<Option<Regex>> =
    LazyLock::new(|| Regex::new(r"\$\{[^}]*\}|\$\([^)]*\)|\{\{[^}]*\}\}").ok());

/// Words of a name: `DB_PASSWORD` → `db password`, `apiKey` → `api key`.
fn words(name: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut prev_lower = false;
    for ch in name.chars() {
        if !ch.is_ascii_alphanumeric() {
            if !cur.is_empty() {
                out.push(std::mem::take(&mut cur));
            }
            prev_lower = false;
            continue;
        }
        if ch.is_ascii_uppercase() && prev_lower && !cur.is_empty() {
            out.push(std::mem::take(&mut cur));
        }
        prev_lower = ch.is_ascii_lowercase() || ch.is_ascii_digit();
        cur.push(ch.to_ascii_lowercase());
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

/// Does the name say it holds a secret?
pub fn is_secret_name(name: &str) -> bool {
    let w = words(name);
    let Some(last) = w.last() else {
        return false;
    };
    // `PWD` alone is the shell's working directory, not a password.
    if w.len() == 1 && last == "pwd" {
        return false;
    }
    // Names that describe a secret without holding it.
    const DESCRIPTIVE: &[&str] = &[
        "arn",
        "name",
        "file",
        "path",
        "dir",
        "url",
        "uri",
        "endpoint",
        "host",
        "port",
        "ttl",
        "expiry",
        "expiration",
        "timeout",
        "enabled",
        "disabled",
        "enable",
        "type",
        "mode",
        "length",
        "len",
        "region",
        "header",
        "id",
        "policy",
        "version",
        "issuer",
        "audience",
        "scope",
        "scopes",
        "method",
        "provider",
        "strategy",
        "algorithm",
        "user",
        "username",
        "required",
        "location",
        "prefix",
        "ref",
        "kind",
        "count",
        "size",
        "algo",
        "algorithms",
        "rotation",
        "days",
        "interval",
        "seconds",
        "secs",
        "minutes",
        "hours",
        "retries",
        "attempts",
        "format",
        "encoding",
        "domain",
        "realm",
        "generator",
    ];
    if DESCRIPTIVE.contains(&last.as_str()) {
        return false;
    }
    let has = |s: &str| w.iter().any(|x| x == s);
    let pair = |a: &str, b: &str| {
        w.windows(2)
            .any(|p| matches!(p, [x, y] if x == a && y == b))
    };
    has("password")
        || has("passwd")
        || has("pwd")
        || has("pass")
        || has("passphrase")
        || has("secret")
        || has("token")
        || has("apikey")
        || has("credential")
        || has("credentials")
        || has("auth")
        || has("authorization")
        || has("bearer")
        || has("privatekey")
        || pair("api", "key")
        || pair("private", "key")
        || pair("access", "key")
        || pair("secret", "key")
        || pair("signing", "key")
        || pair("encryption", "key")
        || pair("client", "secret")
        || pair("master", "key")
        || pair("session", "key")
        || w.iter()
            .any(|x| x.ends_with("password") || x.ends_with("token") || x.ends_with("secret"))
}

/// Values that stand for a secret rather than being one.
fn is_placeholder(value: &str) -> bool {
    let v = value.trim();
    if v.is_empty() {
        return true;
    }
    let lower = v.to_ascii_lowercase();
    if lower.starts_with("{{resolve:")
        || lower.starts_with("arn:aws:secretsmanager:")
        || lower.starts_with("arn:aws:ssm:")
        || lower.starts_with("arn:aws:kms:")
        || lower.starts_with("projects/") && lower.contains("/secrets/")
    {
        return true;
    }
    // Whole value is template references (`${DB_PASSWORD}`, `$(TOKEN)`, `{{ .Values.x }}`).
    if let Some(re) = TEMPLATE_REF.as_ref() {
        let rest = re.replace_all(v, "");
        if rest.trim().chars().all(|c| !c.is_ascii_alphanumeric()) {
            return true;
        }
    }
    if v.starts_with('<') && v.ends_with('>') {
        return true;
    }
    // A file the secret is read from (`GOOGLE_APPLICATION_CREDENTIALS=/var/secrets/key.json`).
    let path_chars = |p: &str| {
        p.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '/' | '.' | '_' | '-'))
    };
    let path = v
        .strip_prefix("file://")
        .or_else(|| v.strip_prefix("./"))
        .or_else(|| v.strip_prefix('/'));
    if path.is_some_and(|p| path_chars(p) && (p.contains('/') || p.contains('.'))) {
        return true;
    }
    if v.chars()
        .all(|c| c == '*' || c == 'x' || c == 'X' || c == '.' || c == '-')
    {
        return true;
    }
    if matches!(
        lower.as_str(),
        "true"
            | "false"
            | "yes"
            | "no"
            | "on"
            | "off"
            | "null"
            | "none"
            | "nil"
            | "undefined"
            | "replace_me"
            | "replaceme"
            | "todo"
            | "tbd"
            | "placeholder"
            | "redacted"
            | "<redacted>"
            | "dummy"
            | "example"
    ) {
        return true;
    }
    // Short numbers are settings (`TOKEN_TTL=3600`, `PASSWORD_MIN=8`), not secrets.
    v.len() <= 6 && v.chars().all(|c| c.is_ascii_digit())
}

/// Does the value itself have the shape of a credential?
pub fn secret_value_kind(value: &str) -> Option<SecretKind> {
    for (kind, re) in VALUE_PATTERNS.iter() {
        if let Some(c) = re.captures(value) {
            if *kind == SecretKind::UrlCredentials {
                // `postgres://user:${DB_PASSWORD}@host` is a template, not a password.
                let pw = c.get(1).map_or("", |m| m.as_str());
                if pw.starts_with('$') || pw.starts_with('{') || pw.starts_with('<') {
                    continue;
                }
            }
            return Some(*kind);
        }
    }
    None
}

/// Is a plaintext `name=value` setting secret-like? `None` when it is not (or is a reference).
pub fn classify(name: &str, value: &str) -> Option<SecretKind> {
    if let Some(kind) = secret_value_kind(value) {
        return Some(kind);
    }
    if is_placeholder(value) {
        return None;
    }
    is_secret_name(name).then_some(SecretKind::Name)
}

/// Replace secrets in free text (a layer's `created_by`, e.g. `/bin/sh -c #(nop) ENV DB_PASSWORD=x`):
/// the value of each secret-like `NAME=value` word and every credential-shaped substring become
/// `<redacted>`. Text without secrets comes back unchanged.
pub fn redact_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    // Word by word, keeping the whitespace between words as it was.
    while !rest.is_empty() {
        let ws_end = rest
            .find(|c: char| !c.is_whitespace())
            .unwrap_or(rest.len());
        let (ws, tail) = rest.split_at(ws_end);
        out.push_str(ws);
        let word_end = tail.find(char::is_whitespace).unwrap_or(tail.len());
        let (word, tail) = tail.split_at(word_end);
        out.push_str(&redact_word(word));
        rest = tail;
    }
    let mut redacted = out;
    for (_, re) in VALUE_PATTERNS.iter() {
        redacted = re.replace_all(&redacted, "<redacted>").into_owned();
    }
    redacted
}

fn redact_word(word: &str) -> String {
    let Some((name, value)) = word.split_once('=') else {
        return word.to_owned();
    };
    let bare_name = name.trim_matches(|c: char| c == '"' || c == '\'');
    let bare_value = value.trim_matches(|c: char| c == '"' || c == '\'');
    if classify(bare_name, bare_value).is_some() {
        format!("{name}=<redacted>")
    } else {
        word.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        for n in [
            "DB_PASSWORD",
            "password",
            "MYSQL_PWD",
            "apiKey",
            "API_KEY",
            "STRIPE_SECRET_KEY",
            "GITHUB_TOKEN",
            "accessToken",
            "AWS_SECRET_ACCESS_KEY",
            "PRIVATE_KEY",
            "DB_CREDENTIALS",
            "BASIC_AUTH",
            "client_secret",
            "JWT_SECRET",
            "passwd",
            "DB_PWD",
            "AUTHORIZATION",
            "MASTER_KEY",
        ] {
            assert!(is_secret_name(n), "{n}");
        }
        for n in [
            "DB_SECRET_ARN",
            "SECRET_NAME",
            "TOKEN_URL",
            "AUTH_ENABLED",
            "LOG_LEVEL",
            "AUTHOR",
            "PASSWORD_FILE",
            "PORT",
            "KEY_PREFIX",
            "ACCESS_KEY_ID",
            "tokenizer",
            "PWD",
            "AUTHORIZATION_ENABLED",
        ] {
            assert!(!is_secret_name(n), "{n}");
        }
    }

    #[test]
    fn values() {
        assert_eq!(
            secret_value_kind("AKIAIOSFODNN7EXAMPLE"),
            Some(SecretKind::AwsAccessKeyId)
        );
        assert_eq!(
            secret_value_kind("ASIAY34FZKBOKMUTVV7A"),
            Some(SecretKind::AwsAccessKeyId)
        );
        assert_eq!(
            secret_value_kind("-----BEGIN RSA PRIVATE KEY-----\nMIIE"),
            Some(SecretKind::PrivateKey)
        );
        assert_eq!(
            secret_value_kind("-----BEGIN PRIVATE KEY-----"),
            Some(SecretKind::PrivateKey)
        );
        assert_eq!(
            secret_value_kind("ghp_abcdefghijklmnopqrstuvwxyz0123456789"),
            Some(SecretKind::GithubToken)
        );
        assert_eq!(
            secret_value_kind("github_pat_11ABCDEFG0123456789_abcdefghij"),
            Some(SecretKind::GithubToken)
        );
        assert_eq!(
            secret_value_kind("xoxb-123456789012-abcdefabcdef"),
            Some(SecretKind::SlackToken)
        );
        assert_eq!(
            secret_value_kind("sk_live_abcdefghijklmnop1234"),
            Some(SecretKind::StripeKey)
        );
        assert_eq!(
            secret_value_kind("glpat-abcdefghij0123456789"),
            Some(SecretKind::GitlabToken)
        );
        assert_eq!(
            secret_value_kind("eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0In0.c2lnbmF0dXJlLXZhbHVl"),
            Some(SecretKind::Jwt)
        );
        assert_eq!(
            secret_value_kind("postgres://app:s3cr3t@db:5432/app"),
            Some(SecretKind::UrlCredentials)
        );
        assert_eq!(secret_value_kind("postgres://app@db:5432/app"), None);
        assert_eq!(
            secret_value_kind("postgres://app:${DB_PASSWORD}@db/app"),
            None
        );
        assert_eq!(secret_value_kind("https://example.com:8443/x"), None);
        assert_eq!(secret_value_kind("AKIA-not-a-key"), None);
    }

    #[test]
    fn references_and_placeholders_are_not_secrets() {
        assert_eq!(classify("DB_PASSWORD", ""), None);
        assert_eq!(
            classify(
                "DB_PASSWORD",
                "{{resolve:secretsmanager:prod/db:SecretString:password}}"
            ),
            None
        );
        assert_eq!(classify("DB_PASSWORD", "${DbPassword}"), None);
        assert_eq!(classify("DB_PASSWORD", "$(DB_PASSWORD)"), None);
        assert_eq!(classify("DB_PASSWORD", "<your password>"), None);
        assert_eq!(classify("AUTH_ENABLED", "true"), None);
        assert_eq!(classify("TOKEN_TTL", "3600"), None);
        assert_eq!(classify("DB_PASSWORD", "hunter2"), Some(SecretKind::Name));
        assert_eq!(classify("DB_PASSWORD", "changeme"), Some(SecretKind::Name));
        assert_eq!(
            classify("SOMETHING", "AKIAIOSFODNN7EXAMPLE"),
            Some(SecretKind::AwsAccessKeyId)
        );
        assert_eq!(classify("LOG_LEVEL", "debug"), None);
        assert_eq!(
            classify(
                "GOOGLE_APPLICATION_CREDENTIALS",
                "/var/secrets/google/key.json"
            ),
            None
        );
        assert_eq!(classify("PASSWORD_HASH_ALGO", "bcrypt"), None);
        assert_eq!(classify("NEXTAUTH_URL", "https://app.example.com"), None);
        assert_eq!(
            classify("REDIS_URL", "redis://:hunter2@cache:6379/0"),
            Some(SecretKind::UrlCredentials)
        );
    }

    #[test]
    fn redacts_free_text() {
        assert_eq!(
            redact_text("/bin/sh -c #(nop)  ENV DB_PASSWORD=hunter2 LOG_LEVEL=info"),
            "/bin/sh -c #(nop)  ENV DB_PASSWORD=<redacted> LOG_LEVEL=info"
        );
        assert_eq!(
            redact_text("RUN curl -u x:y https://h/?k=AKIAIOSFODNN7EXAMPLE"),
            "RUN curl -u x:y https://h/?k=<redacted>"
        );
        assert_eq!(redact_text("COPY . /app"), "COPY . /app");
    }
}
