//! Showing text through the pager git would use (`git var GIT_PAGER`), as `git log` does on a
//! terminal.

use super::cli as git;
use super::process::{Input, Process};
use std::io::Write;

/// Show `text` through the pager git would use for the repository run in `dir`, on the
/// terminal; `cat` or an empty pager writes it to `out` instead.
pub fn page(dir: &std::path::Path, text: &[u8], out: &mut dyn Write) -> std::io::Result<()> {
    let pager = git::checked(dir, &["var", "GIT_PAGER"], &[], None)
        .map(|o| String::from_utf8_lossy(&o).trim().to_owned())
        .unwrap_or_else(|_| "less".into());
    if pager.is_empty() || pager == "cat" {
        return out.write_all(text);
    }
    out.flush()?;
    // As git does: the pager's exit is not ours to report.
    let _ = Process::shell(&pager, &[], format!("the pager `{pager}`"))
        .env(
            "LESS",
            std::env::var("LESS").unwrap_or_else(|_| "FRX".into()),
        )
        .env("LV", std::env::var("LV").unwrap_or_else(|_| "-c".into()))
        .stdin(Input::Bytes(text.to_vec()))
        .run()
        .map_err(|e| std::io::Error::other(e.to_string()))?;
    Ok(())
}
