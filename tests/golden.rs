//! Golden output: the JSON, SARIF and table reports of one fixture of each source kind (docker
//! archive, OCI layout, Lambda zip, directory, config files), through the CLI, offline on the bundled
//! advisories. Only the volatile parts are normalised (the report's `CreatedAt`, the sandbox and
//! checkout paths), so any other change of a byte in any format shows up here.
//!
//! After an intended change: `INSTA_UPDATE=always cargo test --test tests golden`, then review the
//! diff of `tests/snapshots/tests__golden__*.snap`.

use crate::common::{root, Sandbox};

/// (snapshot name, command line). Paths are relative to the checkout, so reports name them as given.
const CASES: &[(&str, &[&str])] = &[
    (
        "docker_archive",
        &[
            "image",
            "testdata/fixtures/debian-app.docker.tar",
            "--offline",
            "--no-cache",
        ],
    ),
    (
        "oci_layout",
        &[
            "image",
            "testdata/fixtures/alpine-app.oci",
            "--offline",
            "--no-cache",
        ],
    ),
    (
        "lambda_zip",
        &[
            "layer",
            "testdata/fixtures/function.zip",
            "--offline",
            "--no-cache",
        ],
    ),
    (
        "fs_dir",
        &["fs", "testdata/src/function", "--offline", "--no-cache"],
    ),
    ("config", &["config", "testdata/config"]),
];

fn normalise(text: &str, sb: &Sandbox) -> String {
    let created = regex::Regex::new(r#""CreatedAt": "[0-9T:.Z+-]+""#).expect("regex");
    let text = created.replace_all(text, r#""CreatedAt": "[TIMESTAMP]""#);
    text.replace(&sb.path().display().to_string(), "[SANDBOX]")
        .replace(&root().display().to_string(), "[ROOT]")
}

fn render(sb: &Sandbox, args: &[&str], format: &str) -> String {
    let out = sb
        .cmd()
        .current_dir(root())
        .args(args)
        .args(["--format", format])
        .output()
        .expect("run layerscan");
    // The config fixtures and several images have findings; the default exit code is 0 anyway.
    assert_eq!(
        out.status.code(),
        Some(0),
        "{args:?} --format {format}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).expect("UTF-8 report");
    assert!(
        !stdout.trim().is_empty(),
        "{args:?} --format {format}: empty"
    );
    normalise(&stdout, sb)
}

#[test]
fn every_format_of_every_source_kind_is_unchanged() {
    for (name, args) in CASES {
        let sb = Sandbox::new();
        for format in ["json", "sarif", "table"] {
            let text = render(&sb, args, format);
            insta::assert_snapshot!(format!("{name}_{format}"), text);
        }
    }
}
