//! What an agent must not change: a snapshot, taken before `exec` runs an agent, of everything that
//! governs the review gate; the changes found after it ran; and the restore of what lives in the
//! repository.
//!
//! An agent runs with the user's rights. This catches what it changed while `exec` watched, in
//! the places listed on [`Snapshot`]; it cannot catch what the agent (or a process it left
//! behind) does after `exec` returns, nor changes outside those places. The server's
//! `pre-receive` hook and reviews bound to content are the real line.

use super::{Policy, PolicyError};
use crate::git::cli::{self as git, GitError};
use gix::ObjectId;
use gix::bstr::ByteSlice;
use gix::refs::Target;
use gix::refs::transaction::{Change as RefChange, LogChange, PreviousValue, RefEdit, RefLog};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::io::Write;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// The notes ref holding flows, reviews and step notes.
const NOTES_REF: &str = crate::store::NOTES_REF;

/// Refs watched whole, by prefix: replacement objects change what every reader sees for an
/// object id; remote-tracking notes are merged into the notes ref by `sync`.
const WATCHED_PREFIXES: [&str; 2] = ["refs/replace/", "refs/remote-notes/"];

/// Config keys that govern the gate, as `git config --list` spells them (lower case).
const GOVERNING_KEYS: [&str; 8] = [
    "core.hookspath",      // which hooks run
    "core.usereplacerefs", // whether replacement objects are honoured
    "core.notesref",
    "core.attributesfile", // `-diff` attributes change patch ids, which bind reviews to content
    "core.worktree",
    "core.bare",
    "commit.gpgsign", // whether `approve` signs
    "alias.aiflow",   // what `git aiflow` runs when the binary is not found
];

/// Config sections that govern the gate, as prefixes.
const GOVERNING_PREFIXES: [&str; 15] = [
    "aiflow.",     // the policy's overrides and the agent's settings
    "trailer.",    // how trailers (and so reviews) are read
    "gpg.",        // review signing and its verification
    "user.",       // who the reviewer is, and the signing key
    "author.",     // identities git uses instead of user.*
    "committer.",  //
    "notes.",      // how notes are rewritten, merged and shown
    "include.",    // config brought in from elsewhere
    "includeif.",  //
    "hook.",       // hooks defined in config (git 2.54)
    "extensions.", // worktree config, ref storage
    "gitoxide.",   // gix's own keys, e.g. where replacement refs live
    "diff.",       // diff drivers change patch ids
    "remote.",     // where `sync` fetches flows and reviews from
    "url.",        // URL rewriting of those remotes
];

/// Files named by config that the gate reads: who may sign reviews, and attributes.
const NAMED_FILES: [&str; 3] = [
    "gpg.ssh.allowedsignersfile",
    "gpg.ssh.revocationfile",
    "core.attributesfile",
];

/// Files of the repository (relative to the common git dir) that change what git and gix see:
/// config, grafted parents, attributes (patch ids), shallow boundaries (where walks stop), and
/// borrowed object stores.
const REPOSITORY_FILES: [&str; 6] = [
    "config",
    "config.worktree",
    "info/grafts",
    "info/attributes",
    "shallow",
    "objects/info/alternates",
];

/// The programs the hook shims run.
const PROGRAMS: [&str; 2] = ["git", "git-aiflow"];

/// The reflog message of a restored ref.
const RESTORE_MESSAGE: &str = "aiflow exec: restored after the agent changed it";

/// Why a snapshot could not be taken.
#[derive(Debug, thiserror::Error)]
pub enum GuardError {
    /// A file or directory could not be read.
    #[error("could not read {}", path.display())]
    Read {
        /// What could not be read.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// git could not report the config or a hooks directory.
    #[error(transparent)]
    Git(#[from] GitError),
    /// The policy that says which branches are protected could not be read.
    #[error(transparent)]
    Policy(#[from] PolicyError),
    /// The repository could not be opened.
    #[error("could not open the repository at {}: {message}", path.display())]
    Open {
        /// Its common git dir.
        path: PathBuf,
        /// What gix reported.
        message: String,
    },
    /// A ref could not be read or moved.
    #[error("could not {action} {name}: {message}")]
    Ref {
        /// What was being done: `read` or `move`.
        action: &'static str,
        /// The ref, or the prefix being listed.
        name: String,
        /// What gix reported.
        message: String,
    },
}

/// The state of one path, as far as the gate cares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileState {
    /// Nothing is there.
    Missing,
    /// A regular file: its permission bits and its content.
    File {
        /// Permission bits (`0o755`).
        mode: u32,
        /// Content.
        bytes: Vec<u8>,
    },
    /// A symbolic link, and what it points to.
    Symlink {
        /// The link's text.
        target: PathBuf,
    },
    /// A directory; with `id` (device, inode) where a different directory at the same path
    /// matters (a work tree's `.git`).
    Dir {
        /// Device and inode, when they are compared.
        id: Option<(u64, u64)>,
    },
    /// Anything else: a fifo, a socket, a device.
    Other,
}

impl FileState {
    /// Read the state of `path` without following a final symbolic link.
    fn read(path: &Path, with_id: bool) -> std::io::Result<Self> {
        let meta = match std::fs::symlink_metadata(path) {
            Ok(m) => m,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(FileState::Missing),
            Err(e) => return Err(e),
        };
        let kind = meta.file_type();
        Ok(if kind.is_symlink() {
            FileState::Symlink {
                target: std::fs::read_link(path)?,
            }
        } else if kind.is_file() {
            match std::fs::read(path) {
                Ok(bytes) => FileState::File {
                    mode: meta.permissions().mode() & 0o7777,
                    bytes,
                },
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => FileState::Missing,
                Err(e) => return Err(e),
            }
        } else if kind.is_dir() {
            FileState::Dir {
                id: with_id.then(|| (meta.dev(), meta.ino())),
            }
        } else {
            FileState::Other
        })
    }

    fn noun(&self) -> String {
        match self {
            FileState::Missing => "nothing".into(),
            FileState::File { mode, .. } => format!("a file, mode {mode:o}"),
            FileState::Symlink { target } => format!("a symbolic link to {}", target.display()),
            FileState::Dir { .. } => "a directory".into(),
            FileState::Other => "a special file".into(),
        }
    }

    /// How `self` became `after`, in a few words.
    fn transition(&self, after: &FileState) -> String {
        use FileState::*;
        match (self, after) {
            (Missing, _) => format!("added ({})", after.noun()),
            (_, Missing) => "deleted".into(),
            (File { mode: a, bytes: x }, File { mode: b, bytes: y }) => {
                let mut parts = Vec::new();
                if x != y {
                    parts.push("content replaced".to_string());
                }
                if a != b {
                    let mut m = format!("mode {a:o} -> {b:o}");
                    if a & 0o111 != 0 && b & 0o111 == 0 {
                        m.push_str(", no longer executable, so git skips it");
                    }
                    parts.push(m);
                }
                parts.join(", ")
            }
            (Dir { .. }, Dir { .. }) => "replaced by another directory".into(),
            (Symlink { target: a }, Symlink { target: b }) => {
                format!("now links to {} instead of {}", b.display(), a.display())
            }
            _ => format!("was {}, now {}", self.noun(), after.noun()),
        }
    }
}

/// What a watched file is to the gate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// One of the repository's own config files (`config`, a `config.worktree`).
    Config,
    /// Another file of the repository's git dir: grafts, attributes, shallow, alternates, a
    /// linked work tree's `commondir`.
    Repository,
    /// A work tree's `.git`: which repository it belongs to.
    GitLink,
    /// A file a config key names (`gpg.ssh.allowedSignersFile`, `core.attributesFile`).
    Named(&'static str),
    /// The file a symbolically linked hook points to.
    HookTarget,
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Role::Config => f.write_str("repository config"),
            Role::Repository => f.write_str("repository file"),
            Role::GitLink => f.write_str("work tree link"),
            Role::Named(key) => write!(f, "file named by {key}"),
            Role::HookTarget => f.write_str("file a hook links to"),
        }
    }
}

/// One effective config value: which scope and file it comes from, and the value (`None`: a key
/// written without `=`, which means true).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigValue {
    /// `system`, `global`, `local`, `worktree` or `command`.
    pub scope: String,
    /// Where git read it: `file:<path>`, `command line:`.
    pub origin: String,
    /// The value.
    pub value: Option<String>,
}

impl fmt::Display for ConfigValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.value {
            Some(v) => write!(f, "{v:?}")?,
            None => f.write_str("(true)")?,
        }
        write!(f, " ({}, {})", self.scope, self.origin)
    }
}

/// What a ref points to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RefValue {
    /// An object.
    Object(ObjectId),
    /// Another ref.
    Symbolic(String),
}

impl fmt::Display for RefValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RefValue::Object(id) => write!(f, "{}", id.to_hex_with_len(12)),
            RefValue::Symbolic(name) => write!(f, "ref: {name}"),
        }
    }
}

/// Which file a program name resolves to on `PATH`, and that file's identity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Program {
    /// The file.
    pub path: PathBuf,
    /// Device, inode, size, modification time (s, ns) and mode.
    id: (u64, u64, u64, i64, i64, u32),
}

/// One change to what governs the gate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// The hooks directory git uses in a work tree is another one (`core.hooksPath`).
    HooksPath {
        /// The work tree (or the git dir of a bare repository).
        at: PathBuf,
        /// The directory before.
        before: PathBuf,
        /// The directory now.
        after: PathBuf,
    },
    /// A hooks directory itself was deleted or replaced.
    HooksDir {
        /// The directory.
        dir: PathBuf,
        /// Before.
        before: FileState,
        /// Now.
        after: FileState,
    },
    /// A file in a hooks directory was added, deleted or changed (content, mode, kind).
    Hook {
        /// The hooks directory.
        dir: PathBuf,
        /// The file's name.
        name: String,
        /// Before.
        before: FileState,
        /// Now.
        after: FileState,
    },
    /// A watched file changed.
    File {
        /// The file.
        path: PathBuf,
        /// What it is to the gate.
        role: Role,
        /// Before.
        before: FileState,
        /// Now.
        after: FileState,
        /// For config files, the keys whose values differ.
        keys: Vec<String>,
    },
    /// An effective config value that does not come from the repository's own config files
    /// (system, global, included files, worktree config of another file) changed.
    Config {
        /// The key, as `git config --list` prints it.
        key: String,
        /// The values before, in git's order.
        before: Vec<ConfigValue>,
        /// The values now.
        after: Vec<ConfigValue>,
    },
    /// A watched ref was created, moved or deleted.
    Ref {
        /// The full ref name.
        name: String,
        /// Before (`None`: it did not exist).
        before: Option<RefValue>,
        /// Now.
        after: Option<RefValue>,
    },
    /// `git` or `git-aiflow` resolves to another file on `PATH`, or the file changed.
    Program {
        /// The program's name.
        name: String,
        /// Before.
        before: Option<Program>,
        /// Now.
        after: Option<Program>,
    },
    /// Something could not be read after the agent ran (it could before): a broken config, a
    /// ref store that no longer opens.
    Unreadable {
        /// What.
        what: String,
        /// What went wrong.
        error: String,
    },
}

impl Change {
    /// A stable name for what changed, to match a change before and after a restore.
    fn subject(&self) -> String {
        match self {
            Change::HooksPath { at, .. } => format!("hooks-path:{}", at.display()),
            Change::HooksDir { dir, .. } => format!("hooks-dir:{}", dir.display()),
            Change::Hook { dir, name, .. } => format!("hook:{}", dir.join(name).display()),
            Change::File { path, .. } => format!("file:{}", path.display()),
            Change::Config { key, .. } => format!("config:{key}"),
            Change::Ref { name, .. } => format!("ref:{name}"),
            Change::Program { name, .. } => format!("program:{name}"),
            Change::Unreadable { what, .. } => format!("unreadable:{what}"),
        }
    }

    /// Restore order: files (config first, so the rest reads sane config), hooks, refs.
    fn order(&self) -> u8 {
        match self {
            Change::File {
                role: Role::Config, ..
            } => 0,
            Change::File { .. } => 1,
            Change::HooksDir { .. } => 2,
            Change::Hook { .. } => 3,
            Change::Ref { .. } => 4,
            _ => 5,
        }
    }
}

fn values(list: &[ConfigValue]) -> String {
    if list.is_empty() {
        return "(unset)".into();
    }
    list.iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

impl fmt::Display for Change {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Change::HooksPath { at, before, after } => write!(
                f,
                "the hooks directory of {} is now {} instead of {} (core.hooksPath)",
                at.display(),
                after.display(),
                before.display()
            ),
            Change::HooksDir { dir, before, after } => write!(
                f,
                "hooks directory {}: {}",
                dir.display(),
                before.transition(after)
            ),
            Change::Hook {
                dir,
                name,
                before,
                after,
            } => write!(
                f,
                "hook {name} in {}: {}",
                dir.display(),
                before.transition(after)
            ),
            Change::File {
                path,
                role,
                before,
                after,
                keys,
            } => {
                write!(f, "{role} {}: {}", path.display(), before.transition(after))?;
                if !keys.is_empty() {
                    write!(f, " ({})", keys.join(", "))?;
                }
                Ok(())
            }
            Change::Config { key, before, after } => {
                write!(f, "config {key}: {} -> {}", values(before), values(after))
            }
            Change::Ref {
                name,
                before,
                after,
            } => match (before, after) {
                (None, Some(a)) => write!(f, "ref {name}: created at {a}"),
                (Some(b), None) => write!(f, "ref {name}: deleted (was {b})"),
                (Some(b), Some(a)) => write!(f, "ref {name}: moved from {b} to {a}"),
                (None, None) => write!(f, "ref {name}"),
            },
            Change::Program {
                name,
                before,
                after,
            } => match (before, after) {
                (Some(b), Some(a)) if b.path == a.path => {
                    write!(f, "program {name}: {} was replaced", a.path.display())
                }
                (b, a) => {
                    let show = |p: &Option<Program>| {
                        p.as_ref()
                            .map(|p| p.path.display().to_string())
                            .unwrap_or_else(|| "nothing".into())
                    };
                    write!(
                        f,
                        "program {name}: PATH finds {} instead of {}",
                        show(a),
                        show(b)
                    )
                }
            },
            Change::Unreadable { what, error } => {
                let first = error.lines().next().unwrap_or_default();
                write!(f, "{what} can no longer be read: {first}")
            }
        }
    }
}

/// Why a change was not undone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Why {
    /// It lives outside the repository (global or system config, a hooks directory or file
    /// elsewhere, a program on `PATH`): shared with other repositories and programs, so `exec`
    /// reports it and leaves it to the user rather than rewrite it from a snapshot.
    Outside,
    /// It follows from other config (a hooks directory named by `core.hooksPath`, config that
    /// cannot be read), and stays while that config does.
    Follows,
    /// It cannot be put back safely (a directory was replaced).
    Impossible(String),
    /// Putting it back failed.
    Failed(String),
}

impl fmt::Display for Why {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Why::Outside => {
                f.write_str("it is outside the repository, so exec reports it and leaves it to you")
            }
            Why::Follows => f.write_str("it follows from config that is still changed"),
            Why::Impossible(why) | Why::Failed(why) => f.write_str(why),
        }
    }
}

/// A change that is still there after [`Snapshot::restore`].
#[derive(Debug, Clone)]
pub struct Unrestored {
    /// The change, as it is now.
    pub change: Change,
    /// Why it was not undone.
    pub why: Why,
}

/// What [`Snapshot::restore`] did: verified by comparing with the snapshot again.
#[derive(Debug, Clone, Default)]
pub struct Report {
    /// Changes that are undone.
    pub restored: Vec<Change>,
    /// Changes still there.
    pub unrestored: Vec<Unrestored>,
}

/// Everything that governs the gate, as it was before an agent ran.
///
/// - The hooks: the directory git runs hooks from in every work tree (`core.hooksPath` as git
///   resolves it, else the common `hooks/`), and every file in each (name, content, mode, kind):
///   the shims, chained `*.aiflow-prev` hooks, any other file; for a symbolically linked hook,
///   the file it points to.
/// - Config: the effective values of the keys that change what the gate reads or how (see
///   `GOVERNING_KEYS` and `GOVERNING_PREFIXES`: `core.hooksPath`, `aiflow.*`, `trailer.*`,
///   `core.useReplaceRefs`, `gpg.*`, `user.*`, `notes.*`, `include.*`, `includeIf.*`, `hook.*`,
///   `extensions.*`, `gitoxide.*`, …) in all scopes, as `git config --list` reports them; and the
///   bytes of the repository's own config files (`config`, every `config.worktree`).
/// - Files: `info/grafts`, `info/attributes`, `shallow`, `objects/info/alternates`, each linked
///   work tree's `commondir`, each work tree's `.git`, and the files config names as signers or
///   attributes.
/// - Refs: `refs/notes/aiflow`, every `refs/replace/*` and `refs/remote-notes/*`, every branch
///   the policy protects (it is read once, before the agent; a protected branch the agent
///   creates is a change too), and the refs the caller adds (the flow's integration branch).
/// - Programs: which `git` and `git-aiflow` `PATH` finds, and their identity.
#[derive(Debug, Clone)]
pub struct Snapshot {
    common_dir: PathBuf,
    run_dir: PathBuf,
    roots: Vec<PathBuf>,
    hooks_paths: BTreeMap<PathBuf, PathBuf>,
    hooks: BTreeMap<PathBuf, DirSnapshot>,
    config: BTreeMap<String, Vec<ConfigValue>>,
    own_config: BTreeSet<PathBuf>,
    files: BTreeMap<PathBuf, (Role, FileState)>,
    refs: BTreeMap<String, RefValue>,
    policy: Policy,
    extra_refs: Vec<String>,
    programs: BTreeMap<&'static str, Option<Program>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct DirSnapshot {
    state: FileState,
    entries: BTreeMap<String, FileState>,
}

fn read_err(path: &Path) -> impl FnOnce(std::io::Error) -> GuardError + '_ {
    move |source| GuardError::Read {
        path: path.to_owned(),
        source,
    }
}

fn canonical(path: &Path) -> PathBuf {
    std::fs::canonicalize(path).unwrap_or_else(|_| path.to_owned())
}

/// `path` with its longest existing ancestor made canonical.
fn canonical_prefix(path: &Path) -> PathBuf {
    let mut rest = Vec::new();
    let mut cur = path;
    loop {
        if let Ok(c) = std::fs::canonicalize(cur) {
            let mut out = c;
            for part in rest.iter().rev() {
                out.push(part);
            }
            return out;
        }
        match (cur.parent(), cur.file_name()) {
            (Some(parent), Some(name)) => {
                rest.push(name.to_owned());
                cur = parent;
            }
            _ => return path.to_owned(),
        }
    }
}

impl Snapshot {
    /// Take stock of what governs the gate in `repo` (the repository as the work tree the agent
    /// will run in sees it), watching `extra_refs` (full names) too.
    pub fn capture(repo: &gix::Repository, extra_refs: &[String]) -> Result<Self, GuardError> {
        let common_dir = canonical(repo.common_dir());
        let run_dir = canonical(repo.workdir().unwrap_or_else(|| repo.git_dir()));
        let main = open(&common_dir)?;
        let roots = work_tree_roots(&main);
        let policy = Policy::load(repo, None)?;
        let refs = read_refs(&main, &policy, extra_refs)?;

        let mut files = BTreeMap::new();
        for (path, role) in repository_files(&common_dir, &roots) {
            let with_id = role == Role::GitLink;
            let state = FileState::read(&path, with_id).map_err(read_err(&path))?;
            files.insert(path, (role, state));
        }
        // A hooks directory that is a link: where it points is watched like a file.
        let hooks_link = common_dir.join("hooks");
        if let Ok(state @ FileState::Symlink { .. }) = FileState::read(&hooks_link, false) {
            files.insert(hooks_link, (Role::Repository, state));
        }
        let own_config: BTreeSet<PathBuf> = files
            .iter()
            .filter(|(_, (role, _))| *role == Role::Config)
            .map(|(p, _)| p.clone())
            .collect();

        let (config, all) = effective_config(&run_dir, &own_config)?;
        for key in NAMED_FILES {
            let Some(value) = all
                .get(key)
                .and_then(|v| v.last())
                .and_then(|v| v.value.clone())
            else {
                continue;
            };
            let path = expand_path(&value, &run_dir);
            let state = FileState::read(&path, false).map_err(read_err(&path))?;
            files.insert(path, (Role::Named(key), state));
        }

        let mut hooks_paths = BTreeMap::new();
        for root in hook_roots(&roots, &common_dir) {
            let dir = hooks_path(&root)?;
            hooks_paths.insert(root, dir);
        }
        let mut hooks = BTreeMap::new();
        for dir in hooks_paths.values() {
            if hooks.contains_key(dir) {
                continue;
            }
            let snap = read_hooks_dir(dir).map_err(read_err(dir))?;
            for (name, state) in &snap.entries {
                if let FileState::Symlink { .. } = state
                    && let Ok(target) = std::fs::canonicalize(dir.join(name))
                    && target.is_file()
                {
                    let st = FileState::read(&target, false).map_err(read_err(&target))?;
                    files.insert(target, (Role::HookTarget, st));
                }
            }
            hooks.insert(dir.clone(), snap);
        }

        let programs = PROGRAMS.iter().map(|p| (*p, which(p))).collect();
        Ok(Snapshot {
            common_dir,
            run_dir,
            roots,
            hooks_paths,
            hooks,
            config,
            own_config,
            files,
            refs,
            policy,
            extra_refs: extra_refs.to_vec(),
            programs,
        })
    }

    /// What differs now from the snapshot, in the order: files, hooks, config, refs, programs.
    /// Whatever can no longer be read is a change too ([`Change::Unreadable`]).
    pub fn changes(&self) -> Vec<Change> {
        let mut out = Vec::new();

        // Files, including config.worktree files of work trees added since.
        let mut paths: BTreeMap<PathBuf, (Role, FileState)> = self.files.clone();
        for (path, role) in repository_files(&self.common_dir, &[]) {
            paths.entry(path).or_insert((role, FileState::Missing));
        }
        for (path, (role, before)) in &paths {
            let now = match FileState::read(path, *role == Role::GitLink) {
                Ok(s) => s,
                Err(e) => {
                    out.push(Change::Unreadable {
                        what: path.display().to_string(),
                        error: e.to_string(),
                    });
                    continue;
                }
            };
            if &now != before {
                let keys = if *role == Role::Config {
                    config_keys_changed(before, &now)
                } else {
                    Vec::new()
                };
                out.push(Change::File {
                    path: path.clone(),
                    role: *role,
                    before: before.clone(),
                    after: now,
                    keys,
                });
            }
        }

        // Which hooks directory each work tree uses, and what is in each.
        for (root, before) in &self.hooks_paths {
            // A work tree that is gone shows as its `.git` deleted.
            if !root.join(".git").exists() && root != &self.common_dir {
                continue;
            }
            match hooks_path(root) {
                Ok(now) if &now != before => out.push(Change::HooksPath {
                    at: root.clone(),
                    before: before.clone(),
                    after: now,
                }),
                Ok(_) => {}
                Err(e) => out.push(Change::Unreadable {
                    what: format!("the hooks directory of {}", root.display()),
                    error: e.to_string(),
                }),
            }
        }
        for (dir, before) in &self.hooks {
            let now = match read_hooks_dir(dir) {
                Ok(s) => s,
                Err(e) => {
                    out.push(Change::Unreadable {
                        what: dir.display().to_string(),
                        error: e.to_string(),
                    });
                    continue;
                }
            };
            if now.state != before.state {
                out.push(Change::HooksDir {
                    dir: dir.clone(),
                    before: before.state.clone(),
                    after: now.state,
                });
                continue;
            }
            let names: BTreeSet<&String> =
                before.entries.keys().chain(now.entries.keys()).collect();
            for name in names {
                let b = before.entries.get(name).unwrap_or(&FileState::Missing);
                let a = now.entries.get(name).unwrap_or(&FileState::Missing);
                if a != b {
                    out.push(Change::Hook {
                        dir: dir.clone(),
                        name: name.clone(),
                        before: b.clone(),
                        after: a.clone(),
                    });
                }
            }
        }

        // Effective config from outside the repository's own files.
        match effective_config(&self.run_dir, &self.own_config) {
            Ok((now, _)) => {
                let keys: BTreeSet<&String> = self.config.keys().chain(now.keys()).collect();
                for key in keys {
                    let b = self.config.get(key).map(Vec::as_slice).unwrap_or_default();
                    let a = now.get(key).map(Vec::as_slice).unwrap_or_default();
                    if a != b {
                        out.push(Change::Config {
                            key: key.clone(),
                            before: b.to_vec(),
                            after: a.to_vec(),
                        });
                    }
                }
            }
            Err(e) => out.push(Change::Unreadable {
                what: "the config".into(),
                error: e.to_string(),
            }),
        }

        // Refs.
        match open(&self.common_dir)
            .and_then(|repo| read_refs(&repo, &self.policy, &self.extra_refs))
        {
            Ok(now) => {
                let names: BTreeSet<&String> = self.refs.keys().chain(now.keys()).collect();
                for name in names {
                    let b = self.refs.get(name);
                    let a = now.get(name);
                    if a != b {
                        out.push(Change::Ref {
                            name: name.clone(),
                            before: b.cloned(),
                            after: a.cloned(),
                        });
                    }
                }
            }
            Err(e) => out.push(Change::Unreadable {
                what: "the refs".into(),
                error: e.to_string(),
            }),
        }

        for (name, before) in &self.programs {
            let now = which(name);
            if &now != before {
                out.push(Change::Program {
                    name: (*name).to_owned(),
                    before: before.clone(),
                    after: now,
                });
            }
        }
        out
    }

    /// Put back what lives in the repository: its config files byte for byte, its other watched
    /// files, the hooks in hooks directories inside it (content and mode; added files removed),
    /// and the watched refs (by compare-and-swap from the value [`Self::changes`] saw; created
    /// ones deleted). What lives outside the repository is not rewritten (see [`Why::Outside`]).
    /// The result is verified: the report comes from comparing with the snapshot again.
    pub fn restore(&self, changes: &[Change]) -> Report {
        let mut attempts: BTreeMap<String, Result<(), Why>> = BTreeMap::new();
        let mut seen: Vec<Change> = changes.to_vec();
        let mut pending: Vec<Change> = changes.to_vec();
        let mut now = Vec::new();
        // What could not be read before a restore (refs behind a broken config) can show up
        // after it: a few rounds restore that too.
        for _ in 0..3 {
            pending.sort_by_key(Change::order);
            let mut repo: Option<gix::Repository> = None;
            for change in &pending {
                let result = self.restore_one(change, &mut repo);
                attempts.insert(change.subject(), result);
            }
            now = self.changes();
            pending = now
                .iter()
                .filter(|c| !attempts.contains_key(&c.subject()))
                .cloned()
                .collect();
            if pending.is_empty() {
                break;
            }
            seen.extend(pending.iter().cloned());
        }
        let remaining: BTreeSet<String> = now.iter().map(Change::subject).collect();
        let restored = seen
            .into_iter()
            .filter(|c| !remaining.contains(&c.subject()))
            .collect();
        let unrestored = now
            .into_iter()
            .map(|change| {
                let why = match attempts.get(&change.subject()) {
                    Some(Err(why)) => why.clone(),
                    Some(Ok(())) => Why::Failed("it changed again while exec restored it".into()),
                    None => Why::Failed("it kept changing while exec restored the rest".into()),
                };
                Unrestored { change, why }
            })
            .collect();
        Report {
            restored,
            unrestored,
        }
    }

    /// Move `refname` back to `to` by compare-and-swap from wherever it is now (recreating it if
    /// it was deleted), without running hooks and without touching any index or work tree: for
    /// a checked-out branch, what `git reset --soft` does. Returns whether it moved.
    pub fn put_ref_back(&self, refname: &str, to: ObjectId) -> Result<bool, GuardError> {
        let repo = open(&self.common_dir)?;
        let now = read_ref(&repo, refname)?;
        let target = Some(RefValue::Object(to));
        if now == target {
            return Ok(false);
        }
        edit_ref(&repo, refname, target.as_ref(), now.as_ref()).map_err(|message| {
            GuardError::Ref {
                action: "move",
                name: refname.to_owned(),
                message,
            }
        })?;
        Ok(true)
    }

    fn restore_one(&self, change: &Change, repo: &mut Option<gix::Repository>) -> Result<(), Why> {
        let failed =
            |e: std::io::Error, path: &Path| Why::Failed(format!("{}: {e}", path.display()));
        match change {
            Change::File {
                path, role, before, ..
            } => {
                if !self.inside(path) {
                    return Err(Why::Outside);
                }
                if matches!(role, Role::GitLink) && matches!(before, FileState::Dir { .. }) {
                    return Err(Why::Impossible(
                        "the repository's git directory was replaced; put it back by hand".into(),
                    ));
                }
                put_back(path, before).map_err(|e| failed(e, path))
            }
            Change::HooksDir { dir, .. } => {
                if !self.inside(dir) {
                    return Err(Why::Outside);
                }
                let snap = self.hooks.get(dir).ok_or(Why::Follows)?;
                if snap.state == FileState::Missing {
                    // A directory the agent made: empty it of files first.
                    if let Ok(list) = std::fs::read_dir(dir) {
                        for entry in list.flatten() {
                            let path = entry.path();
                            if !path.is_dir() || path.is_symlink() {
                                std::fs::remove_file(&path).map_err(|e| failed(e, &path))?;
                            }
                        }
                    }
                }
                put_back(dir, &snap.state).map_err(|e| failed(e, dir))?;
                if let FileState::Dir { .. } = snap.state {
                    for (name, state) in &snap.entries {
                        let path = dir.join(name);
                        put_back(&path, state).map_err(|e| failed(e, &path))?;
                    }
                }
                Ok(())
            }
            Change::Hook {
                dir, name, before, ..
            } => {
                if !self.inside(dir) {
                    return Err(Why::Outside);
                }
                let path = dir.join(name);
                put_back(&path, before).map_err(|e| failed(e, &path))
            }
            Change::Ref {
                name,
                before,
                after,
            } => {
                if repo.is_none() {
                    *repo = Some(open(&self.common_dir).map_err(|e| Why::Failed(e.to_string()))?);
                }
                let r = repo.as_ref().ok_or(Why::Follows)?;
                edit_ref(r, name, before.as_ref(), after.as_ref()).map_err(Why::Failed)
            }
            Change::Config { after, before, .. } => {
                // Values from the repository's own files are restored with the files; what
                // remains comes from elsewhere.
                let values = || after.iter().chain(before);
                if values().any(|v| !matches!(v.scope.as_str(), "local" | "worktree")) {
                    return Err(Why::Outside);
                }
                // Local scope, from a file the repository's config includes.
                match values().find_map(|v| v.origin.strip_prefix("file:")) {
                    Some(file) => Err(Why::Impossible(format!(
                        "it comes from {file}, which the repository's config includes; exec restores only the repository's own config files"
                    ))),
                    None => Err(Why::Follows),
                }
            }
            Change::Program { .. } => Err(Why::Outside),
            Change::HooksPath { .. } | Change::Unreadable { .. } => Err(Why::Follows),
        }
    }

    /// Whether the directory entry `path` is inside the repository: in its common git dir or in
    /// one of its work trees. A link is judged by where it is, not where it points.
    fn inside(&self, path: &Path) -> bool {
        let p = match (path.parent(), path.file_name()) {
            (Some(parent), Some(name)) => canonical_prefix(parent).join(name),
            _ => canonical_prefix(path),
        };
        p.starts_with(&self.common_dir) || self.roots.iter().any(|r| p.starts_with(r))
    }
}

fn open(common_dir: &Path) -> Result<gix::Repository, GuardError> {
    gix::open(common_dir).map_err(|e| GuardError::Open {
        path: common_dir.to_owned(),
        message: e.to_string(),
    })
}

/// The roots of every work tree, the main one first (none for a bare repository).
fn work_tree_roots(main: &gix::Repository) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = main.workdir().map(canonical).into_iter().collect();
    if let Ok(list) = main.worktrees() {
        for proxy in list {
            if let Ok(base) = proxy.base()
                && base.exists()
            {
                out.push(canonical(&base));
            }
        }
    }
    out
}

/// Where git runs to resolve a hooks directory: every work tree, or the git dir when there is none.
fn hook_roots(roots: &[PathBuf], common_dir: &Path) -> Vec<PathBuf> {
    if roots.is_empty() {
        vec![common_dir.to_owned()]
    } else {
        roots.to_vec()
    }
}

/// The repository's own watched files: see [`Snapshot`]. With `roots`, each work tree's `.git`.
fn repository_files(common_dir: &Path, roots: &[PathBuf]) -> Vec<(PathBuf, Role)> {
    let mut out: Vec<(PathBuf, Role)> = REPOSITORY_FILES
        .iter()
        .map(|f| {
            let role = if f.starts_with("config") {
                Role::Config
            } else {
                Role::Repository
            };
            (common_dir.join(f), role)
        })
        .collect();
    if let Ok(dir) = std::fs::read_dir(common_dir.join("worktrees")) {
        for entry in dir.flatten() {
            let admin = entry.path();
            out.push((admin.join("config.worktree"), Role::Config));
            if !roots.is_empty() {
                out.push((admin.join("commondir"), Role::Repository));
            }
        }
    }
    for root in roots {
        out.push((root.join(".git"), Role::GitLink));
    }
    out
}

/// `git rev-parse --path-format=absolute --git-path hooks` in `root`: where git runs hooks from
/// there (`core.hooksPath` resolved as git resolves it).
fn hooks_path(root: &Path) -> Result<PathBuf, GitError> {
    let out = git::output(
        root,
        &["rev-parse", "--path-format=absolute", "--git-path", "hooks"],
    )?;
    let text = String::from_utf8_lossy(&out);
    let path = PathBuf::from(text.trim_end_matches(['\n', '\r']));
    Ok(canonical_prefix(&path))
}

/// A hooks directory's state and its top-level entries.
fn read_hooks_dir(dir: &Path) -> std::io::Result<DirSnapshot> {
    let state = match FileState::read(dir, false)? {
        // A link to a directory is a directory that lives elsewhere; a changed link target
        // shows as a changed hooks path.
        FileState::Symlink { .. } if dir.is_dir() => FileState::Dir { id: None },
        s => s,
    };
    let mut entries = BTreeMap::new();
    if let FileState::Dir { .. } = state {
        for entry in std::fs::read_dir(dir)? {
            let entry = entry?;
            let name = entry.file_name().to_string_lossy().into_owned();
            entries.insert(name, FileState::read(&entry.path(), false)?);
        }
    }
    Ok(DirSnapshot { state, entries })
}

/// Whether a config key (as `git config --list` prints it) governs the gate.
fn governs(key: &str) -> bool {
    let lower = key.to_ascii_lowercase();
    GOVERNING_KEYS.contains(&lower.as_str())
        || GOVERNING_PREFIXES.iter().any(|p| lower.starts_with(p))
}

/// Config values by key, in git's order.
type ConfigMap = BTreeMap<String, Vec<ConfigValue>>;

/// The governing config as git sees it in `dir`, from every scope: first without the values that
/// come from the repository's own config files (`own`, compared byte for byte instead), then all.
fn effective_config(
    dir: &Path,
    own: &BTreeSet<PathBuf>,
) -> Result<(ConfigMap, ConfigMap), GitError> {
    let out = git::output(
        dir,
        &["config", "--list", "-z", "--show-scope", "--show-origin"],
    )?;
    let mut own_origin: BTreeMap<String, bool> = BTreeMap::new();
    let mut compared = ConfigMap::new();
    let mut all = ConfigMap::new();
    for (key, value) in parse_config_list(&out) {
        if !governs(&key) {
            continue;
        }
        all.entry(key.clone()).or_default().push(value.clone());
        if matches!(value.scope.as_str(), "local" | "worktree")
            && let Some(file) = value.origin.strip_prefix("file:")
        {
            let is_own = *own_origin
                .entry(file.to_owned())
                .or_insert_with(|| own.contains(&canonical(&dir.join(file))));
            if is_own {
                continue;
            }
        }
        compared.entry(key).or_default().push(value);
    }
    Ok((compared, all))
}

/// Parse `git config --list -z --show-scope --show-origin`: `scope NUL origin NUL key LF value
/// NUL` per entry (no `LF value` for a key written without `=`).
pub(crate) fn parse_config_list(out: &[u8]) -> Vec<(String, ConfigValue)> {
    let mut fields = out.split(|&b| b == 0);
    let mut list = Vec::new();
    // The output ends with NUL, so the last field is empty.
    while let (Some(scope), Some(origin), Some(kv)) = (fields.next(), fields.next(), fields.next())
        && !scope.is_empty()
    {
        let text = String::from_utf8_lossy(kv);
        let (key, value) = match text.split_once('\n') {
            Some((k, v)) => (k.to_owned(), Some(v.to_owned())),
            None => (text.into_owned(), None),
        };
        list.push((
            key,
            ConfigValue {
                scope: String::from_utf8_lossy(scope).into_owned(),
                origin: String::from_utf8_lossy(origin).into_owned(),
                value,
            },
        ));
    }
    list
}

/// The keys whose values differ between two versions of a config file (all keys, not only the
/// governing ones: any change to the repository's own config is refused).
fn config_keys_changed(before: &FileState, after: &FileState) -> Vec<String> {
    let entries = |s: &FileState| match s {
        FileState::File { bytes, .. } => config_entries(bytes),
        _ => Some(BTreeMap::new()),
    };
    let (Some(b), Some(a)) = (entries(before), entries(after)) else {
        return vec!["no longer parseable as git config".into()];
    };
    let keys: BTreeSet<&String> = b.keys().chain(a.keys()).collect();
    keys.into_iter()
        .filter(|k| b.get(*k) != a.get(*k))
        .cloned()
        .collect()
}

/// A config file's values by key (`section[.subsection].name`, section and name lower-cased).
fn config_entries(bytes: &[u8]) -> Option<BTreeMap<String, Vec<Option<String>>>> {
    let meta = gix::config::file::Metadata::from(gix::config::Source::Local);
    let file = gix::config::File::from_bytes_no_includes(bytes, meta, Default::default()).ok()?;
    let mut out: BTreeMap<String, Vec<Option<String>>> = BTreeMap::new();
    for section in file.sections() {
        let header = section.header();
        let mut prefix = header.name().to_str_lossy().to_ascii_lowercase();
        if let Some(sub) = header.subsection_name() {
            prefix.push('.');
            prefix.push_str(&sub.to_str_lossy());
        }
        let body = section.body();
        let names: BTreeSet<String> = body.value_names().map(|n| n.to_ascii_lowercase()).collect();
        for name in names {
            let values = body.values(&name);
            let list = out.entry(format!("{prefix}.{name}")).or_default();
            if values.is_empty() {
                list.push(None);
            }
            list.extend(values.iter().map(|v| Some(v.to_str_lossy().into_owned())));
        }
    }
    Some(out)
}

/// A path from config: `~/` is the home directory; a relative path is taken from `dir`.
fn expand_path(value: &str, dir: &Path) -> PathBuf {
    if let Some(rest) = value.strip_prefix("~/")
        && let Some(home) = std::env::var_os("HOME")
    {
        return PathBuf::from(home).join(rest);
    }
    dir.join(value)
}

/// The first executable `name` on `PATH`, and its identity.
fn which(name: &str) -> Option<Program> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).find_map(|dir| {
        let p = dir.join(name);
        let m = std::fs::metadata(&p).ok()?;
        (m.is_file() && m.mode() & 0o111 != 0).then(|| Program {
            id: (
                m.dev(),
                m.ino(),
                m.size(),
                m.mtime(),
                m.mtime_nsec(),
                m.mode(),
            ),
            path: p,
        })
    })
}

/// The watched refs: the notes ref, everything under [`WATCHED_PREFIXES`], the branches
/// `policy` protects, and `extra`.
fn read_refs(
    repo: &gix::Repository,
    policy: &Policy,
    extra: &[String],
) -> Result<BTreeMap<String, RefValue>, GuardError> {
    let err = |name: &str| {
        let name = name.to_owned();
        move |e: gix::Error| GuardError::Ref {
            action: "read",
            name: name.clone(),
            message: e.to_string(),
        }
    };
    let platform = repo.references().map_err(err("the refs"))?;
    let mut out = BTreeMap::new();
    for prefix in WATCHED_PREFIXES {
        for r in platform.prefixed(prefix).map_err(err(prefix))? {
            let r = r.map_err(err(prefix))?;
            out.insert(r.name().as_bstr().to_str_lossy().into_owned(), value_of(&r));
        }
    }
    let heads = protected_heads(repo, policy)?;
    let named = std::iter::once(NOTES_REF).chain(extra.iter().map(String::as_str));
    for name in named.chain(heads.iter().map(String::as_str)) {
        if let Some(v) = read_ref(repo, name)? {
            out.insert(name.to_owned(), v);
        }
    }
    Ok(out)
}

/// The names of the branches `policy` protects, loose or packed. Names only: a repository with
/// thousands of loose branches costs a directory walk, not thousands of file reads.
fn protected_heads(
    repo: &gix::Repository,
    policy: &Policy,
) -> Result<BTreeSet<String>, GuardError> {
    let packed_err = |e: gix::Error| GuardError::Ref {
        action: "read",
        name: "packed-refs".into(),
        message: e.to_string(),
    };
    let mut names = BTreeSet::new();
    if let Some(packed) = repo.refs.cached_packed_buffer().map_err(packed_err)? {
        for r in packed
            .iter_prefixed("refs/heads/".into())
            .map_err(packed_err)?
        {
            let r = r.map_err(packed_err)?;
            let name = r.name.as_bstr().to_str_lossy();
            if policy.protection(&name).is_some() {
                names.insert(name.into_owned());
            }
        }
    }
    let mut dirs = vec![(
        repo.common_dir().join("refs/heads"),
        "refs/heads".to_string(),
    )];
    while let Some((dir, prefix)) = dirs.pop() {
        let list = match std::fs::read_dir(&dir) {
            Ok(list) => list,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(read_err(&dir)(e)),
        };
        for entry in list {
            let entry = entry.map_err(read_err(&dir))?;
            let name = format!("{prefix}/{}", entry.file_name().to_string_lossy());
            if entry.file_type().map_err(read_err(&dir))?.is_dir() {
                dirs.push((entry.path(), name));
            } else if !name.ends_with(".lock") && policy.protection(&name).is_some() {
                names.insert(name);
            }
        }
    }
    Ok(names)
}

fn value_of(r: &gix::Reference<'_>) -> RefValue {
    match r.target() {
        gix::refs::TargetRef::Object(id) => RefValue::Object(id.to_owned()),
        gix::refs::TargetRef::Symbolic(name) => {
            RefValue::Symbolic(name.as_bstr().to_str_lossy().into_owned())
        }
    }
}

fn read_ref(repo: &gix::Repository, name: &str) -> Result<Option<RefValue>, GuardError> {
    let found = repo.try_find_reference(name).map_err(|e| GuardError::Ref {
        action: "read",
        name: name.to_owned(),
        message: e.to_string(),
    })?;
    // A partial name can find another ref (`x` finds `refs/heads/x`): only the exact one counts.
    Ok(found
        .filter(|r| r.name().as_bstr() == name.as_bytes())
        .map(|r| value_of(&r)))
}

fn target(value: &RefValue) -> Result<Target, String> {
    Ok(match value {
        RefValue::Object(id) => Target::Object(*id),
        RefValue::Symbolic(name) => Target::Symbolic(
            name.as_str()
                .try_into()
                .map_err(|e| format!("{name}: {e}"))?,
        ),
    })
}

/// Move `name` from `now` to `to` by compare-and-swap (`to` = `None`: delete it).
fn edit_ref(
    repo: &gix::Repository,
    name: &str,
    to: Option<&RefValue>,
    now: Option<&RefValue>,
) -> Result<(), String> {
    let expected = match now {
        Some(v) => PreviousValue::MustExistAndMatch(target(v)?),
        None => PreviousValue::MustNotExist,
    };
    let change = match to {
        Some(v) => RefChange::Update {
            log: LogChange {
                mode: RefLog::AndReference,
                force_create_reflog: false,
                message: RESTORE_MESSAGE.into(),
            },
            expected,
            new: target(v)?,
        },
        None => RefChange::Delete {
            expected,
            log: RefLog::AndReference,
        },
    };
    let edit = RefEdit {
        change,
        name: name.try_into().map_err(|e| format!("{name}: {e}"))?,
        deref: false,
    };
    let done = if matches!(repo.committer(), Some(Ok(_))) {
        repo.edit_reference(edit)
    } else {
        // Without a configured identity, the reflog entry still needs a name: restoring must
        // not fail for want of one.
        let me = gix::actor::Signature {
            name: "git-aiflow".into(),
            email: "git-aiflow@localhost".into(),
            time: gix::date::Time::now_local_or_utc(),
        };
        let mut buf = gix::date::parse::TimeBuf::default();
        repo.edit_references_as(Some(edit), Some(me.to_ref(&mut buf)))
    };
    done.map(|_| ()).map_err(|e| e.to_string())
}

/// Make `path` what `state` says: write a file through `<path>.lock` (created exclusively, as
/// git does for its own files) and rename it into place; recreate a link or a directory; remove
/// what was not there.
fn put_back(path: &Path, state: &FileState) -> std::io::Result<()> {
    let now = FileState::read(path, false)?;
    let clear = |now: &FileState| -> std::io::Result<()> {
        match now {
            FileState::Missing => Ok(()),
            FileState::Dir { .. } => std::fs::remove_dir(path),
            _ => std::fs::remove_file(path),
        }
    };
    match state {
        FileState::Missing => clear(&now),
        FileState::File { mode, bytes } => {
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent)?;
            }
            let mut lock_name = path.as_os_str().to_owned();
            lock_name.push(".lock");
            let lock = PathBuf::from(lock_name);
            let mut f = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&lock)
                .map_err(|e| std::io::Error::new(e.kind(), format!("{}: {e}", lock.display())))?;
            let written = f
                .write_all(bytes)
                .and_then(|()| f.sync_all())
                .and_then(|()| {
                    std::fs::set_permissions(&lock, std::fs::Permissions::from_mode(*mode))
                })
                .and_then(|()| match now {
                    FileState::Dir { .. } => std::fs::remove_dir(path),
                    _ => Ok(()),
                })
                .and_then(|()| std::fs::rename(&lock, path));
            if written.is_err() {
                let _ = std::fs::remove_file(&lock);
            }
            written
        }
        FileState::Symlink { target } => {
            clear(&now)?;
            std::os::unix::fs::symlink(target, path)
        }
        FileState::Dir { .. } => {
            if !matches!(now, FileState::Dir { .. }) {
                clear(&now)?;
            }
            std::fs::create_dir_all(path)
        }
        FileState::Other => Err(std::io::Error::other("a special file cannot be recreated")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_list_is_parsed_with_scopes_and_implicit_values() {
        let out = b"local\0file:.git/config\0aiflow.reviewer\na@x\0global\0file:/h/.gitconfig\0core.bare\0command\0command line:\0aiflow.x\n\0";
        let list = parse_config_list(out);
        assert_eq!(list.len(), 3);
        assert_eq!(list[0].0, "aiflow.reviewer");
        assert_eq!(list[0].1.value.as_deref(), Some("a@x"));
        assert_eq!(list[1].1.scope, "global");
        assert_eq!(list[1].1.value, None);
        assert_eq!(list[2].1.value.as_deref(), Some(""));
    }

    #[test]
    fn governing_keys() {
        for k in [
            "core.hookspath",
            "aiflow.exemptmerges",
            "trailer.sign.key",
            "includeif.gitdir:/x/.path",
            "gpg.ssh.allowedsignersfile",
            "user.signingkey",
            "core.usereplacerefs",
            "gitoxide.objects.replacerefbase",
        ] {
            assert!(governs(k), "{k}");
        }
        for k in ["core.editor", "color.ui", "pull.rebase", "core.pager"] {
            assert!(!governs(k), "{k}");
        }
    }

    #[test]
    fn changed_config_keys_are_named() {
        let file = |s: &str| FileState::File {
            mode: 0o644,
            bytes: s.as_bytes().to_vec(),
        };
        let before = file("[core]\n\tbare = false\n[aiflow]\n\treviewer = a@x\n");
        let after = file(
            "[core]\n\tbare = false\n\thooksPath = /tmp/h\n[aiflow]\n\treviewer = a@x\n\treviewer = m@x\n[trailer \"sign\"]\n\tkey = Reviewed-by\n",
        );
        assert_eq!(
            config_keys_changed(&before, &after),
            ["aiflow.reviewer", "core.hookspath", "trailer.sign.key"]
        );
        assert!(config_keys_changed(&before, &before).is_empty());
    }

    #[test]
    fn file_transitions_are_described() {
        let exe = FileState::File {
            mode: 0o755,
            bytes: b"a".to_vec(),
        };
        let plain = FileState::File {
            mode: 0o644,
            bytes: b"a".to_vec(),
        };
        assert!(exe.transition(&plain).contains("no longer executable"));
        assert_eq!(exe.transition(&FileState::Missing), "deleted");
        assert!(FileState::Missing.transition(&exe).starts_with("added"));
    }
}
