//! Repository access: opening a repository the way git does, identities and times, ref names,
//! branch tips and the work trees that have them checked out.
//!
//! Everything git-aiflow does through gix starts here. What gix cannot do goes through the `git`
//! CLI in [`cli`] (work-tree updates, merges into a checked-out branch) and [`transport`]
//! (ls-remote, fetch, push).

pub mod cli;
pub mod content;
pub mod diff;
pub mod merge;
pub mod pack;
pub mod pager;
pub mod params;
pub mod process;
pub mod rewrite;
pub mod setup;
pub mod trailers;
pub mod transport;

pub use gix::{ObjectId, Repository};

use gix::bstr::ByteSlice;
use std::path::{Path, PathBuf};

/// The commit (or other object) a ref points to, peeled through tags and symbolic refs;
/// `None` when the ref does not exist.
pub fn ref_id(repo: &gix::Repository, name: &str) -> Result<Option<gix::ObjectId>, RefError> {
    let err = |source: gix::Error| RefError {
        name: name.to_owned(),
        source,
    };
    let Some(mut r) = repo
        .try_find_reference(name)
        .map_err(|e| err(gix::Error::from_error(e)))?
    else {
        return Ok(None);
    };
    Ok(Some(
        r.peel_to_id()
            .map_err(|e| err(gix::Error::from_error(e)))?
            .detach(),
    ))
}

/// A ref that exists but cannot be read or peeled (a broken loose file, a missing object).
#[derive(Debug, thiserror::Error)]
#[error("cannot read {name}")]
pub struct RefError {
    /// The ref.
    pub name: String,
    /// What gix reported.
    #[source]
    pub source: gix::Error,
}

/// Whether `a` is an ancestor of (or equal to) `b`.
pub fn is_ancestor(repo: &gix::Repository, a: gix::ObjectId, b: gix::ObjectId) -> bool {
    a == b
        || repo
            .merge_base(a, b)
            .ok()
            .flatten()
            .is_some_and(|m| m.detach() == a)
}

/// Why a repository could not be used.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// No repository here or above.
    #[error("not a git repository (or any of the parent directories): {}", path.display())]
    NotARepository {
        /// Where the search started.
        path: PathBuf,
    },
    /// The repository keeps its refs in reftable format.
    #[error("the repository at {} stores its refs in the reftable format, which git-aiflow does not support yet", path.display())]
    Reftable {
        /// The repository's git dir.
        path: PathBuf,
    },
    /// `GIT_CONFIG_PARAMETERS` (what `git -c` passes on) cannot be read.
    #[error(transparent)]
    Params(#[from] params::ParamsError),
    /// The `git -c` settings could not be applied.
    #[error("could not apply the `git -c` settings ({})", params::VAR)]
    ApplyParams {
        /// What gix reported.
        #[source]
        source: gix::Error,
    },
    /// Any other failure to open.
    #[error("could not open the repository at {}", path.display())]
    Other {
        /// Where the search started.
        path: PathBuf,
        /// What gix reported.
        #[source]
        source: gix::Error,
    },
}

/// Config every repository is opened with: git-aiflow reads the real objects a ref points to, never
/// replacements (`refs/replace/*`), whatever the environment or the repository's config says, so a
/// `git replace` cannot make the gate judge another commit than the one that enters a branch.
const OPEN_OVERRIDES: [&str; 1] = ["core.useReplaceRefs=false"];

/// Open the repository containing `dir`, honouring `GIT_DIR` and the other variables git honours,
/// and refuse repositories git-aiflow cannot handle safely. Replacement objects are ignored
/// (`core.useReplaceRefs=false`); what `git -c` passed applies over the config ([`params`]).
pub fn open(dir: &Path) -> Result<gix::Repository, OpenError> {
    use gix::sec::trust::DefaultForLevel;
    let options =
        |level| gix::open::Options::default_for_level(level).config_overrides(OPEN_OVERRIDES);
    let trust = gix::sec::trust::Mapping {
        full: options(gix::sec::Trust::Full),
        reduced: options(gix::sec::Trust::Reduced),
    };
    let found = gix::ThreadSafeRepository::discover_with_environment_overrides_opts(
        dir,
        Default::default(),
        trust,
    )
    .map(gix::Repository::from);
    let repo = match found {
        Ok(repo) => repo,
        Err(source) => {
            if let Some(git_dir) = reftable_git_dir(dir) {
                return Err(OpenError::Reftable { path: git_dir });
            }
            let msg = format!("{source:#}");
            if msg.contains("not a git repository")
                || msg.contains("Could not find a git repository")
                || msg.contains("No git repository")
                || source.is_not_found()
            {
                return Err(OpenError::NotARepository {
                    path: dir.to_owned(),
                });
            }
            return Err(OpenError::Other {
                path: dir.to_owned(),
                source,
            });
        }
    };
    let repo = with_command_line_config(repo)?;
    let repo = with_git_identity(repo);
    let is_reftable = repo
        .config_snapshot()
        .string("extensions.refStorage")
        .is_some_and(|v| v.eq_ignore_ascii_case(b"reftable"));
    if is_reftable {
        let path = repo.git_dir();
        return Err(OpenError::Reftable {
            path: std::fs::canonicalize(path).unwrap_or_else(|_| path.to_owned()),
        });
    }
    Ok(repo)
}

/// Apply what `git -c` passed in `GIT_CONFIG_PARAMETERS` over the repository's configuration
/// (gix reads `GIT_CONFIG_COUNT` itself, but not this). Objects are read as opened: replacement
/// objects stay off whatever the settings say.
fn with_command_line_config(mut repo: gix::Repository) -> Result<gix::Repository, OpenError> {
    let Some(raw) = std::env::var_os(params::VAR) else {
        return Ok(repo);
    };
    let settings = params::parse(raw.as_encoded_bytes())?;
    if settings.is_empty() {
        return Ok(repo);
    }
    let file = params::as_config(&settings)?;
    let mut config = repo.config_snapshot_mut();
    config.append(file).map_err(|e| OpenError::ApplyParams {
        source: gix::Error::from_error(e),
    })?;
    config
        .commit()
        .map_err(|e| OpenError::ApplyParams { source: e })?;
    Ok(repo)
}

/// Fill in an identity gix finds no name or email for, as git does: git falls back to the
/// account's name (from the password database) and to `EMAIL`, and refuses only when that fails
/// too. `git var GIT_COMMITTER_IDENT` (and `GIT_AUTHOR_IDENT`) is the reference, and is asked
/// only when gix has no identity, so a configured user costs nothing. What git gives is set as
/// `committer.*`/`author.*` over the configuration. When git refuses too, nothing changes: the command that needs an identity says so.
fn with_git_identity(mut repo: gix::Repository) -> gix::Repository {
    let complete = |sig: Option<Result<gix::actor::SignatureRef<'_>, _>>| matches!(sig, Some(Ok(s)) if !s.name.trim().is_empty() && !s.email.trim().is_empty());
    let need_committer = !complete(repo.committer());
    let need_author = !complete(repo.author());
    if !need_committer && !need_author {
        return repo;
    }
    let dir = run_dir(&repo);
    let mut settings = Vec::new();
    for (need, var, section) in [
        (need_committer, "GIT_COMMITTER_IDENT", "committer"),
        (need_author, "GIT_AUTHOR_IDENT", "author"),
    ] {
        let Some((name, email)) = need
            .then(|| cli::checked(&dir, &["var", var], &[], None).ok())
            .flatten()
            .and_then(|out| parse_ident_line(&String::from_utf8_lossy(&out)))
        else {
            continue;
        };
        settings.push((format!("{section}.name").into(), Some(name.into())));
        settings.push((format!("{section}.email").into(), Some(email.into())));
    }
    if settings.is_empty() {
        return repo;
    }
    let Ok(mut file) = params::as_config(&settings) else {
        return repo;
    };
    // git's answer already includes what `git -c` and the environment gave.
    file.set_meta(gix::config::file::Metadata::from(gix::config::Source::Api));
    {
        let mut config = repo.config_snapshot_mut();
        if config.append(file).is_ok() {
            let _ = config.commit();
        }
    }
    repo
}

/// `Name <email> 1767225600 +0000` (what `git var GIT_COMMITTER_IDENT` prints): the name and
/// the email.
fn parse_ident_line(line: &str) -> Option<(String, String)> {
    let line = line.trim_end();
    let open = line.find(" <")?;
    let close = open + line[open..].find('>')?;
    let name = line[..open].trim();
    let email = line[open + 2..close].trim();
    (!name.is_empty() && !email.is_empty()).then(|| (name.to_owned(), email.to_owned()))
}

/// Find a reftable repository that gix refused to open, by looking for its `reftable` directory.
fn reftable_git_dir(dir: &Path) -> Option<PathBuf> {
    let start = std::env::var_os("GIT_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| dir.to_owned());
    let start = std::fs::canonicalize(start).ok()?;
    for d in start.ancestors() {
        for cand in [d.join(".git"), d.to_owned()] {
            if cand.join("reftable").is_dir() && cand.join("HEAD").is_file() {
                return Some(cand);
            }
        }
    }
    None
}

/// Who did something and when: `Name <email>` and an RFC 3339 time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stamp {
    /// `Name <email>`.
    pub who: String,
    /// RFC 3339, with the offset git uses for the identity.
    pub at: String,
}

/// Why an identity is not available.
#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    /// Neither `user.name`/`user.email` nor `GIT_COMMITTER_*` is set.
    #[error("no committer identity is configured")]
    Missing,
    /// `GIT_COMMITTER_DATE` or the like could not be parsed.
    #[error("the committer date could not be parsed")]
    BadDate(#[source] gix::Error),
}

/// The committer identity and time, as git would use them for a commit made now.
pub fn committer_stamp(repo: &gix::Repository) -> Result<Stamp, IdentityError> {
    let sig = repo
        .committer()
        .ok_or(IdentityError::Missing)?
        .map_err(IdentityError::BadDate)?
        .trim();
    if sig.name.is_empty() || sig.email.is_empty() {
        return Err(IdentityError::Missing);
    }
    let time = sig
        .time()
        .map_err(|e| IdentityError::BadDate(gix::Error::from_error(e)))?;
    Ok(Stamp {
        who: format!("{} <{}>", sig.name.to_str_lossy(), sig.email.to_str_lossy()),
        at: format_time(time),
    })
}

/// Format a git time as RFC 3339 with its own offset (`2026-11-21T17:52:59+01:00`).
fn format_time(time: gix::date::Time) -> String {
    time.format_or_unix(gix::date::time::format::ISO8601_STRICT)
}

/// Whether `name` (a short branch name such as `aiflow/x`) is a valid branch name for git.
pub fn is_valid_branch_name(name: &str) -> bool {
    !name.starts_with('-')
        && name != "HEAD"
        && gix::refs::FullName::try_from(format!("refs/heads/{name}")).is_ok()
}

/// The short name of a full ref name (`refs/heads/main` -> `main`).
pub fn short_ref(full: &str) -> &str {
    full.strip_prefix("refs/heads/")
        .or_else(|| full.strip_prefix("refs/remotes/"))
        .or_else(|| full.strip_prefix("refs/tags/"))
        .unwrap_or(full)
}

/// Where to run the `git` program for `repo`: its work tree, or its git dir when bare.
pub fn run_dir(repo: &gix::Repository) -> PathBuf {
    repo.workdir()
        .map(Path::to_owned)
        .unwrap_or_else(|| repo.git_dir().to_owned())
}

/// One checked-out work tree: where it is and the branch its HEAD is on.
#[derive(Debug, Clone)]
pub struct Checkout {
    /// The work tree's root.
    pub workdir: PathBuf,
    /// The full ref name HEAD points to, if on a branch.
    pub head: Option<String>,
}

/// Every work tree of the repository (the main one first, unless bare) and its branch.
pub fn checkouts(repo: &gix::Repository) -> Vec<Checkout> {
    let mut out = Vec::new();
    let common = repo.common_dir().to_owned();
    let read_head = |dir: &Path| -> Option<String> {
        let text = std::fs::read_to_string(dir.join("HEAD")).ok()?;
        text.trim()
            .strip_prefix("ref:")
            .map(|r| r.trim().to_owned())
    };
    let main_workdir = if repo.kind() != gix::repository::Kind::LinkedWorkTree {
        repo.workdir().map(Path::to_owned)
    } else {
        gix::open(&common)
            .ok()
            .and_then(|r| r.workdir().map(Path::to_owned))
    };
    if let Some(w) = main_workdir {
        out.push(Checkout {
            workdir: std::fs::canonicalize(&w).unwrap_or(w),
            head: read_head(&common),
        });
    }
    if let Ok(list) = repo.worktrees() {
        for proxy in list {
            let Ok(base) = proxy.base() else { continue };
            out.push(Checkout {
                workdir: std::fs::canonicalize(&base).unwrap_or(base),
                head: read_head(proxy.git_dir()),
            });
        }
    }
    out
}

/// The tip of a branch (short name), if it exists.
pub fn branch_tip(repo: &gix::Repository, branch: &str) -> Option<gix::ObjectId> {
    ref_id(repo, &format!("refs/heads/{branch}")).ok().flatten()
}

/// Why the objects of a push could not be made visible.
#[derive(Debug, thiserror::Error)]
#[error("could not read the pushed objects in the quarantine at {}", path.display())]
pub struct QuarantineError {
    /// The quarantine (or the temporary object directory made to read it).
    pub path: PathBuf,
    /// What failed.
    #[source]
    pub source: std::io::Error,
}

/// A temporary object directory whose `info/alternates` name a push's quarantine and the
/// repository's objects; removed when dropped.
#[derive(Debug)]
pub struct PushedObjects {
    dir: PathBuf,
}

impl Drop for PushedObjects {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Let `repo` read the objects of a push that sit in git's quarantine while `pre-receive` runs
/// (`GIT_QUARANTINE_PATH`, `GIT_OBJECT_DIRECTORY`, `GIT_ALTERNATE_OBJECT_DIRECTORIES`), which gix
/// does not honour: its object store is replaced by one over a temporary directory whose
/// alternates are the quarantine, then the directories git names. Nothing is written into the
/// quarantine (git would move it into the repository). `None` outside a quarantine.
pub fn see_pushed_objects(
    repo: &mut gix::Repository,
) -> Result<Option<PushedObjects>, QuarantineError> {
    if std::env::var_os("GIT_QUARANTINE_PATH").is_none() {
        return Ok(None);
    }
    let Some(objects) = std::env::var_os("GIT_OBJECT_DIRECTORY").map(PathBuf::from) else {
        return Ok(None);
    };
    let mut lines = vec![quote_path(&objects)];
    if let Some(alt) = std::env::var_os("GIT_ALTERNATE_OBJECT_DIRECTORIES") {
        lines.extend(split_alternates(&alt.to_string_lossy()));
    }
    lines.push(quote_path(repo.objects.store_ref().path()));
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let dir = std::env::temp_dir().join(format!("aiflow-objects-{}-{nanos}", std::process::id()));
    let err = |source| QuarantineError {
        path: dir.clone(),
        source,
    };
    std::fs::create_dir_all(dir.join("info")).map_err(err)?;
    let guard = PushedObjects { dir: dir.clone() };
    std::fs::write(dir.join("info").join("alternates"), lines.join("\n") + "\n").map_err(err)?;
    let handle = gix::odb::at_opts(
        dir.clone(),
        repo.object_hash(),
        None,
        gix::odb::store::init::Options::default(),
    )
    .map_err(err)?;
    repo.objects = gix::OdbHandle::from(handle);
    Ok(Some(guard))
}

/// A path as a line of an alternates file (C-quoted when it needs to be, as git reads it).
fn quote_path(path: &Path) -> String {
    let s = path.to_string_lossy();
    if s.contains(['"', '\\', '\n']) || s.starts_with('#') {
        format!("{s:?}")
    } else {
        s.into_owned()
    }
}

/// The entries of `GIT_ALTERNATE_OBJECT_DIRECTORIES`: `:`-separated, an entry starting with `"`
/// C-quoted (kept quoted: the alternates file reads the same quoting).
fn split_alternates(value: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = value;
    while !rest.is_empty() {
        if rest.starts_with('"') {
            let mut end = 1;
            let bytes = rest.as_bytes();
            while end < bytes.len() && bytes[end] != b'"' {
                end += if bytes[end] == b'\\' { 2 } else { 1 };
            }
            let end = (end + 1).min(rest.len());
            out.push(rest[..end].to_owned());
            rest = rest[end..].strip_prefix(':').unwrap_or(&rest[end..]);
        } else {
            let (entry, tail) = rest.split_once(':').unwrap_or((rest, ""));
            if !entry.is_empty() {
                out.push(entry.to_owned());
            }
            rest = tail;
        }
    }
    out
}

/// The short name of the branch HEAD is on, if any.
pub fn current_branch(repo: &gix::Repository) -> Option<String> {
    let head = repo.head_name().ok().flatten()?;
    let full = head.as_bstr().to_string();
    full.strip_prefix("refs/heads/").map(str::to_owned)
}

/// The work tree that has `branch` (short name) checked out.
pub fn checkout_of(repo: &gix::Repository, branch: &str) -> Option<std::path::PathBuf> {
    let full = format!("refs/heads/{branch}");
    checkouts(repo)
        .into_iter()
        .find(|c| c.head.as_deref() == Some(full.as_str()))
        .map(|c| c.workdir)
}
