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
        // A full or closed stderr: drop the line. The default reports it with `eprintln!`, which
        // panics on the same stderr.
        .log_internal_errors(false)
        .with_target(false)
        .without_time()
        // Colour only for a person at a terminal, and never under NO_COLOR (no-color.org).
        .with_ansi(
            std::io::IsTerminal::is_terminal(&std::io::stderr())
                && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()),
        )
        .try_init();
}

pub fn run(cli: Cli) -> anyhow::Result<i32> {
    // A bad --ignorefile (or other policy flag) fails before minutes of pulling and scanning, not
    // after. `emit` loads the policy again for the report it writes.
    let report_args = match &cli.command {
        Command::Image(a) => Some(&a.report),
        Command::Layer(a) => Some(&a.report),
        Command::Fs(a) => Some(&a.report),
        Command::Config(a) => Some(&a.report),
        // `hook ecr` checks it itself, so that inside Lambda the failure also reaches the
        // Runtime API's init-error endpoint.
        Command::Hook(_) | Command::Db(_) | Command::Cache(_) => None,
    };
    if let Some(args) = report_args {
        crate::policy::Policy::from_args(args)?;
    }
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
