//! Thin binary: parse the command line, run, map the outcome to an exit code.

use clap::Parser;
use std::process::ExitCode;

/// Whether fd 1 was closed when the process was started (`layerscan ... >&-`). Rust's runtime
/// opens `/dev/null` on a closed standard descriptor before `main`, so this is recorded by a
/// constructor that runs earlier (ELF `.init_array`), and the report is then an error, not lost.
static STDOUT_CLOSED_AT_START: std::sync::atomic::AtomicBool =
    std::sync::atomic::AtomicBool::new(false);

extern "C" fn check_stdout_open() {
    // SAFETY: F_GETFD on a descriptor number has no effect besides its answer.
    if unsafe { libc::fcntl(1, libc::F_GETFD) } == -1 {
        STDOUT_CLOSED_AT_START.store(true, std::sync::atomic::Ordering::Relaxed);
    }
}

#[cfg(target_os = "linux")]
#[used]
#[link_section = ".init_array"]
static CHECK_STDOUT_OPEN: extern "C" fn() = check_stdout_open;

fn main() -> ExitCode {
    if STDOUT_CLOSED_AT_START.load(std::sync::atomic::Ordering::Relaxed) {
        layerscan::output::set_stdout_closed_at_start();
    }
    // Lambda starts a custom runtime's `bootstrap` with no arguments: that means `hook ecr`.
    let cli = match layerscan::hook::lambda_bootstrap_args() {
        Some(args) => match layerscan::cli::Cli::try_parse_from(args) {
            Ok(cli) => cli,
            Err(e) => {
                // Bad LAYERSCAN_HOOK_ARGS: the Runtime API's init-error endpoint hears it too.
                if e.use_stderr() {
                    layerscan::hook::lambda_init_error(&format!(
                        "{}: {}",
                        layerscan::hook::LAMBDA_ARGS_ENV,
                        e.render()
                    ));
                }
                e.exit()
            }
        },
        None => layerscan::cli::Cli::parse(),
    };
    layerscan::app::init_logging(cli.verbose, cli.quiet);
    match layerscan::app::run(cli) {
        Ok(code) => ExitCode::from(code.clamp(0, 255) as u8),
        Err(err) => {
            // `layerscan ... | head`: the reader has what it wanted (ripgrep's rule). Deliberate,
            // and only for EPIPE: a closed (`>&-`) or full stdout is exit 2.
            if layerscan::app::is_broken_pipe(&err) {
                return ExitCode::SUCCESS;
            }
            // Capped: an error may quote its input (a name, a path), and that input is hostile.
            let message = format!("error: {err:#}");
            layerscan::output::line_to_stderr(&layerscan::limits::cap(&message, 16 << 10));
            ExitCode::from(2)
        }
    }
}
