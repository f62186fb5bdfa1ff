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

fn attached() -> bool {
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
