//! Dispatch from the parsed command line to the commands. The one place that decides exit codes:
//! `Ok(code)` is the policy outcome (0 or `--exit-code`), any `Err` becomes exit 2 in `main`.

use crate::cli::{Cli, Command};

/// Logs go to stderr; the report alone goes to stdout.
pub fn init_logging(verbose: u8, quiet: bool) {
    let level = if quiet {
        "error"
    } else {
        match verbose {
            0 => "warn",
            1 => "info",
            _ => "debug",
        }
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("LAYERSCAN_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(format!("layerscan={level}")));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .without_time()
        .try_init();
}

pub fn run(cli: Cli) -> anyhow::Result<i32> {
    match cli.command {
        Command::Image(args) => crate::cmd::scan::image(args),
        Command::Layer(args) => crate::cmd::scan::layer(args),
        Command::Fs(args) => crate::cmd::scan::fs(args),
        Command::Config(args) => crate::cmd::config::run(args),
        Command::Hook(cmd) => crate::cmd::hook::run(cmd),
        Command::Db(cmd) => crate::cmd::db::run(cmd),
        Command::Cache(cmd) => crate::cmd::cache::run(cmd),
    }
}

/// A closed stdout (`layerscan ... | head`) is not an error.
pub fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|e| {
        e.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}
