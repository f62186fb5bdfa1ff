//! Text from the user: `-m`, `-F FILE`, `-F -` (stdin), or the editor, with size and encoding
//! checks, and drafts that keep the user's text when it is rejected.
//!
//! Secrets never stored: an API key from the environment that the user pasted into the text is
//! replaced by `[redacted]` as the text comes in (with a warning), and in every file written here.

use super::Ctx;
use super::error::CliError;
use crate::ai::Redactor;
use crate::git::Repository;
use std::io::Read;
use std::path::{Path, PathBuf};

/// The largest spec accepted, in bytes. Specs are meant to be short; a prompt built from a larger
/// one would not fit most models' context anyway.
const MAX_SPEC_BYTES: u64 = 1024 * 1024;

/// Where the text came from, which decides whether it is worth keeping in a draft on rejection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// `-m` arguments.
    Message,
    /// A named file: the user has it already.
    File(PathBuf),
    /// Standard input.
    Stdin,
    /// The editor.
    Editor,
}

/// Text read from `-m` or `-F`, or `None` when neither was given.
pub fn from_args(
    ctx: &mut Ctx,
    messages: &[String],
    file: Option<&Path>,
    what: &str,
) -> Result<Option<(String, Source)>, CliError> {
    let file = file.map(|f| ctx.resolve(f));
    let file = file.as_deref();
    if !messages.is_empty() && file.is_some() {
        return Err(CliError::usage("options -m and -F cannot be used together"));
    }
    if !messages.is_empty() {
        let text = messages.join("\n\n");
        check_size(text.len() as u64, what, "-m")?;
        return Ok(Some((redact_input(ctx, text, what), Source::Message)));
    }
    let Some(file) = file else {
        return Ok(None);
    };
    let (bytes, source, name) = if file == Path::new("-") {
        let mut buf = Vec::new();
        std::io::stdin()
            .lock()
            .take(MAX_SPEC_BYTES + 1)
            .read_to_end(&mut buf)
            .map_err(|e| {
                CliError::usage(format!("could not read the {what} from standard input")).source(e)
            })?;
        (buf, Source::Stdin, "standard input".to_string())
    } else {
        let f = std::fs::File::open(file)
            .map_err(|e| CliError::usage(format!("could not read {}", file.display())).source(e))?;
        let mut buf = Vec::new();
        f.take(MAX_SPEC_BYTES + 1)
            .read_to_end(&mut buf)
            .map_err(|e| CliError::usage(format!("could not read {}", file.display())).source(e))?;
        (
            buf,
            Source::File(file.to_owned()),
            file.display().to_string(),
        )
    };
    check_size(bytes.len() as u64, what, &name)?;
    let text = decode_utf8(bytes, &name)?;
    Ok(Some((redact_input(ctx, text, what), source)))
}

/// `text` with the API keys of the environment redacted; a warning says so when there was one.
fn redact_input(ctx: &mut Ctx, text: String, what: &str) -> String {
    let redactor = Redactor::current();
    if !redactor.finds(&text) {
        return text;
    }
    ctx.warn(format!(
        "the {what} held the value of an API key from the environment; it is kept as {}",
        crate::ai::secrets::REDACTED
    ));
    redactor.redact_string(text)
}

fn check_size(len: u64, what: &str, name: &str) -> Result<(), CliError> {
    if len > MAX_SPEC_BYTES {
        return Err(CliError::usage(format!(
            "the {what} from {name} is larger than the limit of {} KiB",
            MAX_SPEC_BYTES / 1024
        ))
        .hint("a spec is a short plain-English description; keep long material in the repository and refer to it"));
    }
    Ok(())
}

/// Decode UTF-8, naming the line and column of the first bad byte.
fn decode_utf8(bytes: Vec<u8>, name: &str) -> Result<String, CliError> {
    String::from_utf8(bytes).map_err(|e| {
        let bytes = e.as_bytes();
        let at = e.utf8_error().valid_up_to();
        let line = bytes[..at].iter().filter(|b| **b == b'\n').count() + 1;
        let col = at
            - bytes[..at]
                .iter()
                .rposition(|b| *b == b'\n')
                .map_or(0, |p| p + 1)
            + 1;
        CliError::usage(format!(
            "{name} is not valid UTF-8: byte 0x{:02x} at line {line}, column {col}",
            bytes[at]
        ))
        .hint(if name == "standard input" {
            "convert it first, for example `iconv -f latin1 -t utf-8 < spec.txt > spec.md`"
                .to_string()
        } else {
            format!("convert it first, for example `iconv -f latin1 -t utf-8 {name} > spec.md`")
        })
    })
}

/// The editor git would use (see [`crate::git::process::editor`]).
pub fn editor_command(repo: &Repository) -> Result<String, CliError> {
    crate::git::process::editor(repo).map_err(|e| CliError::usage(e.to_string()).hint(e.hint()))
}

/// Let the user edit `initial` in their editor, in a file private to this process named after
/// `draft_name`, and return the text saved. The editor is resolved before any file is written.
pub fn edit_text(
    ctx: &mut Ctx,
    repo: &Repository,
    draft_name: &str,
    initial: &str,
    what: &str,
) -> Result<String, CliError> {
    let editor = editor_command(repo)?;
    let path = write_file(repo, &editing_file_name(draft_name), initial)?;
    if editor != ":" {
        // As git does: let the shell split the editor command, and pass the file as "$@".
        let dir = repo.workdir().unwrap_or_else(|| repo.git_dir());
        let status = crate::git::process::edit(&editor, &path, dir).map_err(|e| {
            CliError::usage(format!("could not start the editor `{editor}`")).process(e)
        })?;
        if !status.success() {
            return Err(CliError::refused(format!(
                "the editor `{editor}` failed ({status}); nothing was changed"
            ))
            .hint(format!("your text is kept in {}", path.display())));
        }
    }
    let mut bytes = Vec::new();
    std::fs::File::open(&path)
        .and_then(|f| f.take(MAX_SPEC_BYTES + 1).read_to_end(&mut bytes))
        .map_err(|e| CliError::usage(format!("could not read {}", path.display())).source(e))?;
    check_size(bytes.len() as u64, what, &path.display().to_string())?;
    let text = decode_utf8(bytes, &path.display().to_string())?;
    // The text is in memory now; if it is rejected, the caller keeps it in a draft.
    let _ = std::fs::remove_file(&path);
    Ok(redact_input(ctx, text, what))
}

/// The directory for drafts: `<common git dir>/aiflow/`, absolute so hints can be pasted anywhere.
pub fn draft_dir(repo: &Repository) -> PathBuf {
    let common = repo.common_dir();
    std::fs::canonicalize(common)
        .unwrap_or_else(|_| common.to_owned())
        .join("aiflow")
}

/// The file the editor opens: private to this process, so concurrent edits never share one.
fn editing_file_name(draft_name: &str) -> String {
    match draft_name.rsplit_once('.') {
        Some((stem, ext)) => format!("{stem}.{}.{ext}", std::process::id()),
        None => format!("{draft_name}.{}", std::process::id()),
    }
}

/// After success: remove this process's editing file, and the kept draft if it was the input.
pub fn clean_drafts(repo: &Repository, draft_name: &str, source: &Source) {
    let dir = draft_dir(repo);
    let _ = std::fs::remove_file(dir.join(editing_file_name(draft_name)));
    if let Source::File(path) = source
        && let Ok(input) = std::fs::canonicalize(path)
        && input.parent().map(Path::to_owned) == std::fs::canonicalize(&dir).ok()
        && input
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| is_draft_of(draft_name, n))
    {
        let _ = std::fs::remove_file(input);
    }
}

/// `NAME.ext`, then `NAME-2.ext`, `NAME-3.ext`…: the names a draft called `name` may be kept
/// under.
fn numbered(name: &str, n: u32) -> String {
    if n <= 1 {
        return name.to_string();
    }
    match name.rsplit_once('.') {
        Some((stem, ext)) => format!("{stem}-{n}.{ext}"),
        None => format!("{name}-{n}"),
    }
}

fn is_draft_of(name: &str, file: &str) -> bool {
    (1..=MAX_DRAFTS).any(|n| numbered(name, n) == file)
}

/// How many drafts of one name are kept side by side before the last is reused.
const MAX_DRAFTS: u32 = 20;

/// Keep `text` (API keys redacted) as the draft `name` and return its path. A draft already
/// there with other text is not overwritten (it may be another refused edit's): the text goes to
/// `NAME-2.ext`, `NAME-3.ext`… instead.
pub fn write_draft(repo: &Repository, name: &str, text: &str) -> Result<PathBuf, CliError> {
    let dir = draft_dir(repo);
    std::fs::create_dir_all(&dir)
        .map_err(|e| CliError::usage(format!("could not create {}", dir.display())).source(e))?;
    let text = Redactor::current().redact(text).into_owned();
    let failed =
        |path: &Path, e| CliError::usage(format!("could not write {}", path.display())).source(e);
    for n in 1..=MAX_DRAFTS {
        let path = dir.join(numbered(name, n));
        match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
        {
            Ok(mut f) => {
                use std::io::Write;
                f.write_all(text.as_bytes()).map_err(|e| failed(&path, e))?;
                return Ok(path);
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                if std::fs::read(&path).is_ok_and(|old| old == text.as_bytes()) {
                    return Ok(path);
                }
            }
            Err(e) => return Err(failed(&path, e)),
        }
    }
    let path = dir.join(numbered(name, MAX_DRAFTS));
    std::fs::write(&path, text).map_err(|e| failed(&path, e))?;
    Ok(path)
}

/// Write `text` (API keys redacted) to the file `name` in the draft directory, replacing it.
fn write_file(repo: &Repository, name: &str, text: &str) -> Result<PathBuf, CliError> {
    let dir = draft_dir(repo);
    std::fs::create_dir_all(&dir)
        .map_err(|e| CliError::usage(format!("could not create {}", dir.display())).source(e))?;
    let path = dir.join(name);
    std::fs::write(&path, Redactor::current().redact(text).as_bytes())
        .map_err(|e| CliError::usage(format!("could not write {}", path.display())).source(e))?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn draft_names_are_numbered_before_the_extension() {
        assert_eq!(numbered("PLAN_EDIT-x.toml", 1), "PLAN_EDIT-x.toml");
        assert_eq!(numbered("PLAN_EDIT-x.toml", 3), "PLAN_EDIT-x-3.toml");
        assert_eq!(numbered("NOTE", 2), "NOTE-2");
        assert!(is_draft_of("A.md", "A-20.md"));
        assert!(!is_draft_of("A.md", "A-21.md"));
        assert!(!is_draft_of("A.md", "B.md"));
    }
}
