//! One file per subcommand. Each turns its arguments into a [`Report`] and hands it to [`emit`].

use crate::cli::ReportArgs;
use crate::model::Report;

pub mod cache;
pub mod config;
pub mod db;
pub mod hook;
pub mod scan;

/// Apply the policy (severity filter, ignore file, --ignore-unfixed), render the whole report, then
/// write it (to `--output` or stdout) and return the policy's exit code. Nothing reaches stdout
/// until the report is complete.
pub fn emit(mut report: Report, args: &ReportArgs) -> anyhow::Result<i32> {
    let policy = crate::policy::Policy::from_args(args)?;
    policy.apply(&mut report);
    let options = crate::report::RenderOptions::for_destination(args.output.as_deref());
    let bytes = crate::report::render_with(&report, args.format, &options)?;
    crate::report::write_output(&bytes, args.output.as_deref())?;
    Ok(policy.exit_code(&report))
}
