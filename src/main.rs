//! The `chloe` binary: parse, run, map the outcome to an exit code.

use std::process::ExitCode;

use clap::Parser;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = match chloe::cli::Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let code = if e.use_stderr() { 2 } else { 0 };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    // A panic is a bug; it still must not reach the user as a crash dump.
    std::panic::set_hook(Box::new(|info| {
        eprintln!("error: internal error (please report): {info}");
    }));
    match std::panic::catch_unwind(|| chloe::run(cli)) {
        Ok(Ok(exit)) => ExitCode::from(exit as u8),
        Ok(Err(err)) => {
            let exit = chloe::error::exit_code(&err);
            eprintln!("error: {err:#}");
            ExitCode::from(exit as u8)
        }
        Err(_) => ExitCode::from(chloe::error::Exit::Runtime as u8),
    }
}
