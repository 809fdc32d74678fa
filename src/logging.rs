//! Logging through `tracing` to stderr, as text or JSON lines.

use tracing_subscriber::{EnvFilter, fmt};

use crate::cli::{GlobalArgs, LogFormat};

/// Installs the global subscriber; `RUST_LOG` overrides the level flags.
pub fn init(args: &GlobalArgs) {
    let level = if args.quiet {
        "warn"
    } else {
        match args.verbose {
            0 => "info",
            1 => "debug",
            _ => "trace",
        }
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(level));
    let builder = fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()));
    // A second init (tests calling run twice) is harmless: keep the first.
    let _ = match args.log_format {
        LogFormat::Text => builder.without_time().try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
}
