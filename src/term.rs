//! Whether the standard streams are terminals, which decides paging, colour, spinners and
//! prompting. A command run in-process with captured streams ([`crate::cli::run_in`]) declares
//! them detached for its duration, so that nothing pages, prompts, colours or spins into a
//! terminal the command does not write to.

use std::io::IsTerminal;
use std::sync::atomic::{AtomicUsize, Ordering};

/// How many in-process runs have the streams detached now.
static DETACHED: AtomicUsize = AtomicUsize::new(0);

/// Treat the standard streams as no terminals until the guard is dropped.
pub fn detach() -> Detached {
    DETACHED.fetch_add(1, Ordering::SeqCst);
    Detached(())
}

/// Ends a [`detach`] when dropped.
#[must_use = "the streams are attached again when this is dropped"]
pub struct Detached(());

impl Drop for Detached {
    fn drop(&mut self) {
        DETACHED.fetch_sub(1, Ordering::SeqCst);
    }
}

/// No in-process run has the streams detached ([`detach`]).
pub fn attached() -> bool {
    DETACHED.load(Ordering::SeqCst) == 0
}

/// Standard input is a terminal the user types into.
pub fn stdin() -> bool {
    attached() && std::io::stdin().is_terminal()
}

/// Standard output is a terminal.
pub fn stdout() -> bool {
    attached() && std::io::stdout().is_terminal()
}

/// Standard error is a terminal.
pub fn stderr() -> bool {
    attached() && std::io::stderr().is_terminal()
}

/// When to colour, as `--color[=<when>]` takes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ColorWhen {
    /// When standard output is a terminal (not `TERM=dumb`) and `NO_COLOR` is unset or empty.
    Auto,
    /// Always.
    Always,
    /// Never.
    Never,
}

/// How `color.<slot>` or `color.ui` reads, as git's `git_config_colorbool` reads it: `always`,
/// `never` and `auto`; a boolean true means auto, false means never. `None`: not set.
fn configured(config: &gix::config::Snapshot<'_>, key: &str) -> Option<ColorWhen> {
    use gix::bstr::ByteSlice;
    if let Some(value) = config.string(key) {
        match value.to_str_lossy().to_ascii_lowercase().as_str() {
            "always" => return Some(ColorWhen::Always),
            "never" => return Some(ColorWhen::Never),
            "auto" => return Some(ColorWhen::Auto),
            _ => {}
        }
    }
    match config.try_boolean(key) {
        Ok(None) => None,
        Ok(Some(false)) => Some(ColorWhen::Never),
        // git refuses a value that is no colour setting; colour as by default.
        Ok(Some(true)) | Err(_) => Some(ColorWhen::Auto),
    }
}

/// What decides colour: `flag`, else `color.<slot>`, else `color.ui`, else auto.
pub fn when(flag: Option<ColorWhen>, config: &gix::config::Snapshot<'_>, slot: &str) -> ColorWhen {
    flag.or_else(|| configured(config, slot))
        .or_else(|| configured(config, "color.ui"))
        .unwrap_or(ColorWhen::Auto)
}

/// Whether output written to standard output is coloured, by git's rules: `--color` (`flag`)
/// first, else `color.<slot>` (`slot` is a key such as `color.diff`), else `color.ui`, else
/// auto. Auto colours on a terminal only (not `TERM=dumb`), and never when `NO_COLOR` is set
/// to anything but the empty string; an explicit `always` wins over `NO_COLOR`, as
/// no-color.org asks of configuration and flags.
pub fn color(flag: Option<ColorWhen>, config: &gix::config::Snapshot<'_>, slot: &str) -> bool {
    match when(flag, config, slot) {
        ColorWhen::Always => true,
        ColorWhen::Never => false,
        ColorWhen::Auto => {
            stdout()
                && std::env::var_os("TERM").is_none_or(|t| t != "dumb")
                && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
        }
    }
}
