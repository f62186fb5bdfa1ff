//! Showing text through the pager git would use (`git var GIT_PAGER`), as `git log` does on a
//! terminal.

use super::cli as git;
use std::io::Write;

/// Show `text` through the pager git would use for the repository run in `dir`; `cat` or an
/// empty pager writes it straight to stdout.
pub fn page(dir: &std::path::Path, text: &[u8]) -> std::io::Result<()> {
    let pager = git::checked(dir, &["var", "GIT_PAGER"], &[], None)
        .map(|o| String::from_utf8_lossy(&o).trim().to_owned())
        .unwrap_or_else(|_| "less".into());
    if pager.is_empty() || pager == "cat" {
        std::io::stdout().write_all(text)?;
        return Ok(());
    }
    let mut child = std::process::Command::new("sh")
        .arg("-c")
        .arg(&pager)
        .env(
            "LESS",
            std::env::var("LESS").unwrap_or_else(|_| "FRX".into()),
        )
        .env("LV", std::env::var("LV").unwrap_or_else(|_| "-c".into()))
        .stdin(std::process::Stdio::piped())
        .spawn()?;
    if let Some(mut stdin) = child.stdin.take() {
        let _ = stdin.write_all(text);
    }
    let _ = child.wait();
    Ok(())
}
