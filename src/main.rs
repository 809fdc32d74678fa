//! The `chloe` binary: parse, run, map the outcome to an exit code.

use std::process::ExitCode;

use clap::Parser;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Mesa's Vulkan drivers look for a Wayland socket under `XDG_RUNTIME_DIR`
/// and print `error: XDG_RUNTIME_DIR is invalid or not set` on headless
/// machines where it is unset (cron jobs, Slurm tasks), even when the run
/// succeeds. chloe renders nothing: point the variable at a private folder
/// (mode 0700) so the driver finds no display, quietly.
#[cfg(unix)]
fn quiet_headless_vulkan() {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let set = std::env::var_os("XDG_RUNTIME_DIR").is_some_and(|d| {
        std::path::Path::new(&d).is_absolute() && std::path::Path::new(&d).is_dir()
    });
    if set {
        return;
    }
    let uid = std::fs::metadata("/proc/self").map_or(0, |m| m.uid());
    let dir = std::env::temp_dir().join(format!("chloe-runtime-{uid}"));
    let private = std::fs::create_dir_all(&dir).is_ok()
        && std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).is_ok();
    if private {
        // SAFETY: called first thing in `main`, before any other thread
        // exists or any library reads the environment.
        #[expect(unsafe_code, reason = "set_var before any thread starts")]
        unsafe {
            std::env::set_var("XDG_RUNTIME_DIR", &dir);
        }
    }
}

fn main() -> ExitCode {
    #[cfg(unix)]
    quiet_headless_vulkan();
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
