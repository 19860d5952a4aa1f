//! Command-line definition (clap derive). Flags follow Trivy's names where Trivy has one, so that
//! users can carry their muscle memory and CI snippets over.

use crate::model::Severity;
use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

#[derive(Debug, Parser)]
#[command(
    name = "layerscan",
    version = crate::gunzip::VERSION,
    about = "Scan container images, Lambda layers, directories and deployment configs for vulnerable packages and misconfigurations",
    propagate_version = true
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
    /// More logging on stderr (-v info, -vv debug). Credentials are never logged at any level.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Only errors on stderr.
    #[arg(short, long, global = true)]
    pub quiet: bool,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Scan a container image: a registry reference, a docker-archive tarball, an OCI layout directory
    /// (`DIR` or `DIR:ref-name`) or an OCI archive.
    Image(ImageArgs),
    /// Scan an AWS Lambda layer or function: a zip file, a layer/function ARN, or an https URL.
    Layer(LayerArgs),
    /// Scan an unpacked root filesystem or a project directory.
    Fs(FsArgs),
    /// Audit deployment configuration files (ECS task definitions, Cloud Run / Kubernetes specs,
    /// CloudFormation/CDK templates, IAM policies, Dockerfiles).
    Config(ConfigArgs),
    /// Run as a hook for registry events.
    #[command(subcommand)]
    Hook(HookCommand),
    /// Manage the local advisory database.
    #[command(subcommand)]
    Db(DbCommand),
    /// Manage the layer analysis cache.
    #[command(subcommand)]
    Cache(CacheCommand),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum Format {
    #[default]
    Table,
    Json,
    Sarif,
}

/// Output and policy flags shared by every command that produces a report.
#[derive(Debug, Clone, Args)]
pub struct ReportArgs {
    /// Report format.
    #[arg(short, long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
    /// Write the report to FILE instead of stdout.
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Severities to report and to apply --exit-code to (comma-separated).
    #[arg(
        short,
        long,
        value_delimiter = ',',
        default_value = "UNKNOWN,LOW,MEDIUM,HIGH,CRITICAL"
    )]
    pub severity: Vec<Severity>,
    /// Exit code when findings at the chosen severities remain.
    #[arg(long, default_value_t = 0)]
    pub exit_code: i32,
    /// Also exit with --exit-code when part of the target was not analysed (coverage gaps: an
    /// rpm database, node_modules, Go executables, jars, ... that layerscan does not read).
    #[arg(long)]
    pub fail_on_incomplete: bool,
    /// Do not report vulnerabilities that have no fixed version yet.
    #[arg(long)]
    pub ignore_unfixed: bool,
    /// Ignore file (Trivy's `.trivyignore` line form, or YAML).
    #[arg(long, value_name = "FILE", default_value = ".layerscanignore")]
    pub ignorefile: PathBuf,
}

/// Flags for the advisory database and caches.
#[derive(Debug, Clone, Args)]
pub struct DbArgs {
    /// Cache directory (advisory database and layer cache). Default: the platform cache dir
    /// (`~/.cache/layerscan`).
    #[arg(long, value_name = "DIR", env = "LAYERSCAN_CACHE_DIR")]
    pub cache_dir: Option<PathBuf>,
    /// Never touch the network for advisory data; use the local database (or the bundled sample).
    #[arg(long)]
    pub offline: bool,
    /// Base URL of the OSV export (`<base>/<Ecosystem>/all.zip`), for mirrors.
    #[arg(long, value_name = "URL", env = "LAYERSCAN_DB_MIRROR")]
    pub db_mirror: Option<String>,
    /// Skip the automatic update of a stale database.
    #[arg(long)]
    pub skip_db_update: bool,
}

/// Flags for pulling from registries.
#[derive(Debug, Clone, Args)]
pub struct RegistryArgs {
    /// Platform to pick from a multi-platform image: os/arch[/variant].
    #[arg(long, default_value = "linux/amd64")]
    pub platform: String,
    /// Allow plain HTTP and unverified TLS certificates for registries.
    #[arg(long)]
    pub insecure: bool,
    /// Registry user name.
    #[arg(long, env = "LAYERSCAN_USERNAME")]
    pub username: Option<String>,
    /// Registry password (prefer --password-stdin or the env var).
    #[arg(long, env = "LAYERSCAN_PASSWORD", hide_env_values = true)]
    pub password: Option<String>,
    /// Read the registry password from stdin.
    #[arg(long)]
    pub password_stdin: bool,
    /// Registry bearer token.
    #[arg(long, env = "LAYERSCAN_REGISTRY_TOKEN", hide_env_values = true)]
    pub registry_token: Option<String>,
    /// Per-request timeout, in seconds.
    #[arg(long, default_value_t = 300)]
    pub timeout: u64,
}

/// Flags for the layer pipeline.
#[derive(Debug, Clone, Args)]
pub struct PipelineArgs {
    /// Layers analysed (and downloaded) in parallel. Default: the number of cores.
    #[arg(long)]
    pub parallel: Option<usize>,
    /// Do not read or write the layer analysis cache.
    #[arg(long)]
    pub no_cache: bool,
}

#[derive(Debug, Args)]
pub struct ImageArgs {
    /// Image: registry reference, docker-archive tar, OCI layout dir (`DIR[:ref]`) or OCI archive.
    pub image: String,
    #[command(flatten)]
    pub report: ReportArgs,
    #[command(flatten)]
    pub db: DbArgs,
    #[command(flatten)]
    pub registry: RegistryArgs,
    #[command(flatten)]
    pub pipeline: PipelineArgs,
}

#[derive(Debug, Args)]
pub struct LayerArgs {
    /// Lambda layer or function: a zip file, an ARN (`arn:aws:lambda:...:layer:NAME:VERSION` or
    /// `...:function:NAME`), or an https URL.
    pub layer: String,
    /// Expected sha256 (hex) of a zip fetched by URL.
    #[arg(long)]
    pub sha256: Option<String>,
    #[command(flatten)]
    pub report: ReportArgs,
    #[command(flatten)]
    pub db: DbArgs,
    #[command(flatten)]
    pub registry: RegistryArgs,
    #[command(flatten)]
    pub pipeline: PipelineArgs,
}

#[derive(Debug, Args)]
pub struct FsArgs {
    /// Directory to scan.
    pub path: PathBuf,
    #[command(flatten)]
    pub report: ReportArgs,
    #[command(flatten)]
    pub db: DbArgs,
    #[command(flatten)]
    pub pipeline: PipelineArgs,
}

#[derive(Debug, Args)]
pub struct ConfigArgs {
    /// Files or directories (searched recursively).
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,
    #[command(flatten)]
    pub report: ReportArgs,
}

#[derive(Debug, Subcommand)]
pub enum HookCommand {
    /// Scan the image named by an EventBridge "ECR Image Action" event. Runs as a Lambda custom
    /// runtime when AWS_LAMBDA_RUNTIME_API is set and no --event is given.
    Ecr(EcrHookArgs),
}

#[derive(Debug, Args)]
pub struct EcrHookArgs {
    /// The event JSON file, or `-` for stdin.
    #[arg(long, value_name = "FILE")]
    pub event: Option<String>,
    /// Replace the registry host (VPC endpoints, mirrors, tests): HOST[:PORT].
    #[arg(long, value_name = "HOST[:PORT]")]
    pub registry: Option<String>,
    /// POST a JSON summary to this URL.
    #[arg(long, value_name = "URL", hide_env_values = true)]
    pub webhook: Option<String>,
    #[command(flatten)]
    pub report: ReportArgs,
    #[command(flatten)]
    pub db: DbArgs,
    #[command(flatten)]
    pub registry_args: RegistryArgs,
    #[command(flatten)]
    pub pipeline: PipelineArgs,
}

#[derive(Debug, Subcommand)]
pub enum DbCommand {
    /// Import OSV records: export zips (`<ID>.json` at the root), directories of `.json`, single records.
    Import {
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        #[arg(long, value_name = "DIR", env = "LAYERSCAN_CACHE_DIR")]
        cache_dir: Option<PathBuf>,
    },
    /// Download `<mirror>/<Ecosystem>/all.zip` for each ecosystem and import it.
    Update {
        /// Ecosystems to download (`none`: only the feeds).
        #[arg(
            long,
            value_delimiter = ',',
            default_value = "PyPI,Debian,Alpine,Ubuntu"
        )]
        ecosystems: Vec<String>,
        /// Base URL of the OSV export.
        #[arg(long, value_name = "URL", env = "LAYERSCAN_DB_MIRROR")]
        mirror: Option<String>,
        /// Severity and exploitation feeds to download too: nvd (NVD CVE JSON 2.0, every year and
        /// `modified`), debian (security tracker urgencies), kev (CISA KEV), epss (FIRST EPSS); or
        /// `all`, `none`. Default: all, except with --mirror and no --feed-mirror (a mirrored setup
        /// never reaches the publishers unasked).
        #[arg(long, value_delimiter = ',', value_name = "LIST")]
        feeds: Option<Vec<String>>,
        /// Base URL of a mirror of the feed files, flat: `<base>/nvdcve-2.0-<year>.json.gz`,
        /// `<base>/nvdcve-2.0-modified.json.gz`, `<base>/debian-security-tracker.json`,
        /// `<base>/known_exploited_vulnerabilities.json`, `<base>/epss_scores-current.csv.gz`.
        /// Default: the publishers' URLs.
        #[arg(long, value_name = "URL", env = "LAYERSCAN_FEED_MIRROR")]
        feed_mirror: Option<String>,
        #[arg(long, value_name = "DIR", env = "LAYERSCAN_CACHE_DIR")]
        cache_dir: Option<PathBuf>,
    },
    /// Show what the database holds, where it came from and how old it is.
    Status {
        #[arg(long, value_name = "DIR", env = "LAYERSCAN_CACHE_DIR")]
        cache_dir: Option<PathBuf>,
        /// Output format: `table` (text) or `json`.
        #[arg(short, long, value_enum, default_value_t = Format::Table)]
        format: Format,
    },
}

#[derive(Debug, Subcommand)]
pub enum CacheCommand {
    /// Empty the layer analysis cache.
    Clean {
        #[arg(long, value_name = "DIR", env = "LAYERSCAN_CACHE_DIR")]
        cache_dir: Option<PathBuf>,
    },
}

/// The cache directory: `--cache-dir`, else the platform cache dir + `layerscan`.
pub fn cache_dir(explicit: Option<&PathBuf>) -> PathBuf {
    if let Some(p) = explicit {
        return p.clone();
    }
    dirs::cache_dir()
        .unwrap_or_else(std::env::temp_dir)
        .join("layerscan")
}
