//! Thin binary: parse the command line, run, map the outcome to an exit code.

use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    // Lambda starts a custom runtime's `bootstrap` with no arguments: that means `hook ecr`.
    let cli = match layerscan::hook::lambda_bootstrap_args() {
        Some(args) => layerscan::cli::Cli::parse_from(args),
        None => layerscan::cli::Cli::parse(),
    };
    layerscan::app::init_logging(cli.verbose, cli.quiet);
    match layerscan::app::run(cli) {
        Ok(code) => ExitCode::from(code.clamp(0, 255) as u8),
        Err(err) => {
            if layerscan::app::is_broken_pipe(&err) {
                return ExitCode::SUCCESS;
            }
            eprintln!("error: {err:#}");
            ExitCode::from(2)
        }
    }
}
