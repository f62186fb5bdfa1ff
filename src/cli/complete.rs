//! `git aiflow __complete <words>…`: the candidates for the last word of a command line, one a
//! line, for the small bash, zsh and fish scripts `git aiflow completions <shell>` prints.
//!
//! Subcommands and flags come from the clap definitions, at every depth; values from the
//! repository (flow slugs, subtask ids, plan revisions), read-only. Completion never fails
//! loudly: whatever cannot be read gives no candidates. A subcommand or flag is followed by a tab
//! and its description. The line `:files` alone asks the shell to complete file names instead.
//!
//! The same walk over the words finds `help` where a subcommand could be (`plan help show`),
//! which [`help_words`] turns into `--help`.

use super::{Cli, CliError, Ctx};
use crate::ai::config::ProviderKind;
use clap::{Arg, Command, CommandFactory};
use std::io::Write;
use std::path::{Path, PathBuf};

/// Arguments of the hidden `__complete`.
#[derive(Debug, clap::Args)]
pub struct CompleteArgs {
    /// The words after the program's name, the last one being completed (may be empty).
    #[arg(trailing_var_arg = true, allow_hyphen_values = true, num_args = 0..)]
    pub words: Vec<String>,
}

/// The line that asks the shell to complete file names.
pub const FILES: &str = ":files";

/// The kinds of value completion knows where to find.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Slug,
    Subtask,
    /// A subtask or a flow (`audit`).
    SubtaskOrSlug,
    Revision,
    /// A flow, then revisions (`plan diff`).
    SlugOrRevision,
    Provider,
    Remote,
    /// A branch or another revision (`--base`, `--upto`, `--branch`).
    Branch,
    /// `A..B` or a revision (`check`, `approve --range`): branches on either side of `..`.
    Range,
    Files,
    Choices,
    Nothing,
}

/// What the command line says so far, and what the last word should be.
#[derive(Debug, Default)]
struct Walk {
    /// Names of the subcommands from the top (`["plan", "show"]`).
    path: Vec<String>,
    /// `-C` values, in order.
    chdir: Vec<PathBuf>,
    /// `--flow` or the first slug-like positional.
    flow: Option<String>,
    /// The positional words of the innermost command.
    positionals: Vec<String>,
    /// Ids of the arguments already given to the innermost command.
    given: Vec<String>,
}

pub fn run(ctx: &mut Ctx, args: &CompleteArgs) -> Result<(), CliError> {
    let mut cmd = Cli::command();
    cmd.build();
    for c in candidates(&cmd, &args.words, &mut |walk| Repo::open(ctx, walk)) {
        writeln!(ctx.out, "{c}")?;
    }
    Ok(())
}

/// Merge `--opt`, `=`, `value` (bash splits words at `=`) into `--opt=value`.
fn merge_equals(words: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::with_capacity(words.len());
    let mut i = 0;
    while i < words.len() {
        let w = &words[i];
        let joins = w == "="
            && out
                .last()
                .is_some_and(|p| p.starts_with("--") && !p.contains('='));
        if joins {
            let prev = out.pop().unwrap_or_default();
            let value = words.get(i + 1).cloned().unwrap_or_default();
            out.push(format!("{prev}={value}"));
            i += 2;
        } else {
            out.push(w.clone());
            i += 1;
        }
    }
    out
}

/// The subcommand `name` names, hidden ones included (their words get no candidates).
fn subcommand_named<'a>(cmd: &'a Command, name: &str) -> Option<&'a Command> {
    cmd.get_subcommands()
        .find(|s| s.get_name() == name || s.get_all_aliases().any(|a| a == name))
}

fn long_arg<'a>(cmd: &'a Command, name: &str) -> Option<&'a Arg> {
    cmd.get_arguments().find(|a| {
        a.get_long() == Some(name) || a.get_all_aliases().is_some_and(|v| v.contains(&name))
    })
}

fn short_arg(cmd: &Command, c: char) -> Option<&Arg> {
    cmd.get_arguments().find(|a| a.get_short() == Some(c))
}

/// Whether the argument needs a value in the next word.
fn takes_value(arg: &Arg) -> bool {
    arg.get_action().takes_values() && arg.get_num_args().is_none_or(|n| n.min_values() > 0)
}

/// The positional argument the `n`th (0-based) positional word goes to.
fn positional_for(cmd: &Command, n: usize) -> Option<&Arg> {
    let mut left = n;
    for arg in cmd.get_positionals() {
        let max = match arg.get_num_args() {
            Some(r) => r.max_values(),
            None if matches!(arg.get_action(), clap::ArgAction::Append) => usize::MAX,
            None => 1,
        };
        if left < max {
            return Some(arg);
        }
        left -= max;
    }
    None
}

fn kind_of(arg: &Arg) -> Kind {
    if arg.get_possible_values().iter().any(|p| !p.is_hide_set()) {
        return Kind::Choices;
    }
    let name = arg
        .get_value_names()
        .and_then(|v| v.first())
        .map(|s| s.as_str().to_string())
        .unwrap_or_else(|| arg.get_id().as_str().to_string());
    match (arg.get_id().as_str(), name.as_str()) {
        ("provider", _) => Kind::Provider,
        ("revision", _) => Kind::Revision,
        ("remote", _) => Kind::Remote,
        (_, "slug") | ("slug" | "slugs", _) => Kind::Slug,
        (_, "SLUG" | "SLUGS") => Kind::Slug,
        (_, "subtask") => Kind::Subtask,
        (_, "subtask|flow") => Kind::SubtaskOrSlug,
        (_, "slug|rev") => Kind::SlugOrRevision,
        (_, "rev" | "NAME") => Kind::Branch,
        (_, "rev-range" | "A..B") => Kind::Range,
        _ => match arg.get_value_hint() {
            clap::ValueHint::AnyPath | clap::ValueHint::FilePath | clap::ValueHint::DirPath => {
                Kind::Files
            }
            _ => Kind::Nothing,
        },
    }
}

/// The repository's values, read on first need.
trait Values {
    fn slugs(&mut self) -> Vec<String>;
    /// Subtask ids of `flow`, else of the current branch's flow, else of every flow.
    fn subtasks(&mut self, flow: Option<&str>) -> Vec<String>;
    /// Revision numbers of `flow`, else of the current branch's flow.
    fn revisions(&mut self, flow: Option<&str>) -> Vec<String>;
    fn remotes(&mut self) -> Vec<String>;
    /// Local branches, then remote-tracking ones, by short name.
    fn branches(&mut self) -> Vec<String>;
}

/// Where a walk over the words before the current one ended.
struct Walked<'a> {
    /// The innermost command named.
    cmd: &'a Command,
    walk: Walk,
    /// The option whose value the next word is.
    pending: Option<&'a Arg>,
    /// After `--`.
    only_positionals: bool,
    /// The index of a `help` word where a subcommand could be.
    help_at: Option<usize>,
}

/// Follow `words` from the top command: subcommands, options and their values, positionals.
/// Stops at a `help` word where a subcommand could be.
fn walk<'a, S: AsRef<str>>(top: &'a Command, words: &[S]) -> Walked<'a> {
    let mut cmd = top;
    let mut walk = Walk::default();
    let mut pending: Option<&Arg> = None;
    let mut only_positionals = false;
    let mut help_at = None;
    for (n, w) in words.iter().enumerate() {
        let w = w.as_ref();
        if let Some(arg) = pending.take() {
            record(&mut walk, arg, w);
            continue;
        }
        if !only_positionals && w == "--" {
            only_positionals = true;
            continue;
        }
        if !only_positionals && let Some(long) = w.strip_prefix("--") {
            let (name, value) = match long.split_once('=') {
                Some((n, v)) => (n, Some(v)),
                None => (long, None),
            };
            if let Some(arg) = long_arg(cmd, name) {
                walk.given.push(arg.get_id().to_string());
                match value {
                    Some(v) => record(&mut walk, arg, v),
                    None if takes_value(arg) => pending = Some(arg),
                    None => {}
                }
            }
            continue;
        }
        if !only_positionals && w.len() > 1 && w.starts_with('-') {
            let shorts = &w[1..];
            for (i, c) in shorts.char_indices() {
                let Some(arg) = short_arg(cmd, c) else {
                    continue;
                };
                walk.given.push(arg.get_id().to_string());
                if takes_value(arg) {
                    let rest = &shorts[i + c.len_utf8()..];
                    if rest.is_empty() {
                        pending = Some(arg);
                    } else {
                        record(&mut walk, arg, rest);
                    }
                    break;
                }
            }
            continue;
        }
        let subcommand_here = !only_positionals
            && walk.positionals.is_empty()
            && cmd.get_subcommands().any(|s| !s.is_hide_set());
        if subcommand_here && let Some(sub) = subcommand_named(cmd, w) {
            cmd = sub;
            walk.path.push(sub.get_name().to_string());
            walk.given.clear();
            continue;
        }
        if subcommand_here && w == "help" {
            help_at = Some(n);
            break;
        }
        if let Some(arg) = positional_for(cmd, walk.positionals.len()) {
            record(&mut walk, arg, w);
        }
        walk.positionals.push(w.to_string());
    }
    Walked {
        cmd,
        walk,
        pending,
        only_positionals,
        help_at,
    }
}

/// `help` where a subcommand could be, as in `plan help`, `plan help show` or `help plan`,
/// means `--help` for what follows it: the arguments (the program's name first) with that
/// word moved to the end as `--help`. Other arguments are returned as they are.
pub fn help_words(args: Vec<std::ffi::OsString>) -> Vec<std::ffi::OsString> {
    let words: Vec<String> = args
        .iter()
        .skip(1)
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    if !words.iter().any(|w| w == "help") {
        return args;
    }
    let mut top = Cli::command();
    top.build();
    let Some(at) = walk(&top, &words).help_at else {
        return args;
    };
    let mut out = args;
    out.remove(at + 1);
    out.push("--help".into());
    out
}

/// The subcommands `args` (the program's name first) name, from the top: `["plan", "show"]`.
pub fn command_path(args: &[std::ffi::OsString]) -> Vec<String> {
    let words: Vec<String> = args
        .iter()
        .skip(1)
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    let mut top = Cli::command();
    top.build();
    walk(&top, &words).walk.path
}

/// The candidates for the last of `words` (the words after the program's name).
fn candidates<V: Values>(
    top: &Command,
    words: &[String],
    open: &mut dyn FnMut(&Walk) -> V,
) -> Vec<String> {
    let words = merge_equals(words);
    let (current, before) = match words.split_last() {
        Some((c, b)) => (c.as_str(), b),
        None => ("", &[][..]),
    };
    let Walked {
        cmd,
        walk,
        pending,
        only_positionals,
        help_at,
    } = walk(top, before);
    if walk
        .path
        .first()
        .is_some_and(|p| p == "hook" || p == "__complete")
    {
        return Vec::new();
    }
    if help_at.is_some() {
        // `plan help <TAB>`: the subcommands it can tell about.
        return subcommands(cmd, current);
    }

    // An option's value: `--flow <TAB>`, `-m<TAB>` is not one; `--flow=<TAB>`.
    let (arg, prefix, shown) = if let Some(arg) = pending {
        (Some(arg), current, String::new())
    } else if !only_positionals
        && let Some((name, value)) = current.strip_prefix("--").and_then(|l| l.split_once('='))
    {
        match long_arg(cmd, name) {
            Some(arg) => (Some(arg), value, format!("--{name}=")),
            None => return Vec::new(),
        }
    } else if !only_positionals && current.starts_with('-') {
        return flags(cmd, &walk, current);
    } else {
        let mut out = Vec::new();
        if !only_positionals && walk.positionals.is_empty() {
            out.extend(subcommands(cmd, current));
        }
        let arg = positional_for(cmd, walk.positionals.len());
        if let Some(arg) = arg {
            let values = values(arg, &walk, current, open);
            if values.first().is_some_and(|v| v == FILES) && !out.is_empty() {
                return out;
            }
            out.extend(values);
        }
        return out;
    };
    let Some(arg) = arg else {
        return Vec::new();
    };
    values(arg, &walk, prefix, open)
        .into_iter()
        .map(|v| if v == FILES { v } else { format!("{shown}{v}") })
        .collect()
}

fn record(walk: &mut Walk, arg: &Arg, value: &str) {
    match arg.get_id().as_str() {
        "chdir" => walk.chdir.push(PathBuf::from(value)),
        "flow" => walk.flow = Some(value.to_string()),
        _ => {
            let slugish = matches!(kind_of(arg), Kind::Slug | Kind::SlugOrRevision);
            let number = !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit());
            if slugish && walk.flow.is_none() && !number {
                walk.flow = Some(value.to_string());
            }
        }
    }
}

/// `text` with its description after a tab, for the shells that show one (bash drops it).
fn described(text: String, help: Option<&clap::builder::StyledStr>) -> String {
    let help = help.map(|h| h.to_string()).unwrap_or_default();
    match help.lines().next().map(str::trim) {
        Some(first) if !first.is_empty() => format!("{text}\t{first}"),
        _ => text,
    }
}

/// The visible subcommands of `cmd` that start with `current`.
fn subcommands(cmd: &Command, current: &str) -> Vec<String> {
    cmd.get_subcommands()
        .filter(|s| !s.is_hide_set() && s.get_name().starts_with(current))
        .map(|s| described(s.get_name().to_string(), s.get_about()))
        .collect()
}

fn flags(cmd: &Command, walk: &Walk, current: &str) -> Vec<String> {
    let mut out = Vec::new();
    for arg in cmd.get_arguments() {
        if arg.is_hide_set() || arg.is_positional() {
            continue;
        }
        let repeats = matches!(
            arg.get_action(),
            clap::ArgAction::Append | clap::ArgAction::Count
        );
        if !repeats && walk.given.iter().any(|g| g == arg.get_id().as_str()) {
            continue;
        }
        let flag = match (arg.get_long(), arg.get_short()) {
            (Some(long), _) => format!("--{long}"),
            (None, Some(short)) => format!("-{short}"),
            (None, None) => continue,
        };
        if flag.starts_with(current) {
            out.push(described(flag, arg.get_help()));
        }
    }
    out
}

fn values<V: Values>(
    arg: &Arg,
    walk: &Walk,
    prefix: &str,
    open: &mut dyn FnMut(&Walk) -> V,
) -> Vec<String> {
    let flow = walk.flow.as_deref();
    let mut out: Vec<String> = match kind_of(arg) {
        Kind::Files => return vec![FILES.to_string()],
        Kind::Nothing => return Vec::new(),
        Kind::Choices => arg
            .get_possible_values()
            .iter()
            .filter(|p| !p.is_hide_set())
            .map(|p| p.get_name().to_string())
            .collect(),
        Kind::Provider => [
            ProviderKind::OpenAi,
            ProviderKind::Anthropic,
            ProviderKind::Command,
            ProviderKind::Manual,
        ]
        .iter()
        .map(|p| p.as_str().to_string())
        .collect(),
        // `new` names a flow that does not exist yet.
        Kind::Slug if walk.path == ["new"] => return Vec::new(),
        Kind::Slug => open(walk).slugs(),
        Kind::Subtask => open(walk).subtasks(flow),
        Kind::SubtaskOrSlug => {
            let mut repo = open(walk);
            let mut v = repo.subtasks(flow);
            v.extend(repo.slugs());
            v
        }
        Kind::Revision => open(walk).revisions(flow),
        Kind::SlugOrRevision => {
            let mut repo = open(walk);
            // `plan diff [<slug>] [<rev> [<rev>]]`: a slug only first.
            let mut v = repo.revisions(flow);
            if walk.positionals.is_empty() {
                v.extend(repo.slugs());
            }
            v
        }
        Kind::Remote => open(walk).remotes(),
        Kind::Branch => open(walk).branches(),
        Kind::Range => {
            // After `A..` (or `A...`), the branches with `A..` before them.
            let (left, right) = match prefix.rfind("..") {
                Some(at) => {
                    let end = at + 2 + usize::from(prefix[at + 2..].starts_with('.'));
                    (&prefix[..end], &prefix[end..])
                }
                None => ("", prefix),
            };
            let mut v: Vec<String> = open(walk)
                .branches()
                .into_iter()
                .filter(|b| b.starts_with(right))
                .map(|b| format!("{left}{b}"))
                .collect();
            v.dedup();
            return v;
        }
    };
    out.retain(|v| v.starts_with(prefix));
    let mut seen = std::collections::HashSet::new();
    out.retain(|v| seen.insert(v.clone()));
    out
}

/// The repository the command line is about, or none.
struct Repo {
    repo: Option<crate::git::Repository>,
    set: Option<crate::store::FlowSet>,
}

impl Repo {
    fn open(ctx: &Ctx, walk: &Walk) -> Repo {
        let mut dir = ctx.resolve(Path::new("."));
        for c in &walk.chdir {
            dir = dir.join(c);
        }
        let repo = crate::git::open(&dir).ok();
        let set = repo.as_ref().and_then(|r| {
            let snap = crate::store::Snapshot::load(r).ok()?;
            snap.flows(r).ok()
        });
        Repo { repo, set }
    }

    /// The flow named `slug`, else the current branch's.
    fn flow(&self, slug: Option<&str>) -> Option<&crate::flow::Flow> {
        let set = self.set.as_ref()?;
        let slug = match slug {
            Some(s) => s.to_string(),
            None => crate::work::flow_of_head(self.repo.as_ref()?, set).ok()?,
        };
        set.flows
            .iter()
            .find(|e| e.flow.slug == slug)
            .map(|e| &e.flow)
    }
}

impl Values for Repo {
    fn slugs(&mut self) -> Vec<String> {
        self.set
            .iter()
            .flat_map(|s| s.flows.iter().map(|e| e.flow.slug.clone()))
            .collect()
    }

    fn subtasks(&mut self, flow: Option<&str>) -> Vec<String> {
        let ids = |f: &crate::flow::Flow| -> Vec<String> {
            f.current_plan()
                .map(|p| p.subtasks.iter().map(|s| s.id.clone()).collect())
                .unwrap_or_default()
        };
        if let Some(f) = self.flow(flow) {
            return ids(f);
        }
        if flow.is_some() {
            return Vec::new();
        }
        self.set
            .iter()
            .flat_map(|s| s.flows.iter().flat_map(|e| ids(&e.flow)))
            .collect()
    }

    fn revisions(&mut self, flow: Option<&str>) -> Vec<String> {
        self.flow(flow)
            .map(|f| f.plans.iter().map(|p| p.revision.to_string()).collect())
            .unwrap_or_default()
    }

    fn remotes(&mut self) -> Vec<String> {
        self.repo
            .as_ref()
            .map(|r| r.remote_names().iter().map(|n| n.to_string()).collect())
            .unwrap_or_default()
    }

    fn branches(&mut self) -> Vec<String> {
        let Some(repo) = &self.repo else {
            return Vec::new();
        };
        let Ok(platform) = repo.references() else {
            return Vec::new();
        };
        let mut out = Vec::new();
        if let Ok(local) = platform.local_branches() {
            out.extend(local.flatten().map(|r| r.name().shorten().to_string()));
        }
        if let Ok(remote) = platform.remote_branches() {
            out.extend(
                remote
                    .flatten()
                    .map(|r| r.name().shorten().to_string())
                    .filter(|n| !n.ends_with("/HEAD")),
            );
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Fixed repository values, to test the walk alone.
    struct Fixed;

    impl Values for Fixed {
        fn slugs(&mut self) -> Vec<String> {
            vec!["alpha".into(), "beta".into()]
        }
        fn subtasks(&mut self, flow: Option<&str>) -> Vec<String> {
            match flow {
                Some("beta") => vec!["b1".into()],
                _ => vec!["a1".into(), "a2".into()],
            }
        }
        fn revisions(&mut self, flow: Option<&str>) -> Vec<String> {
            match flow {
                Some("beta") => vec!["1".into()],
                _ => vec!["1".into(), "2".into()],
            }
        }
        fn remotes(&mut self) -> Vec<String> {
            vec!["origin".into()]
        }
        fn branches(&mut self) -> Vec<String> {
            vec!["main".into(), "aiflow/alpha".into(), "origin/main".into()]
        }
    }

    fn complete(line: &str) -> Vec<String> {
        let mut words: Vec<String> = line.split(' ').map(String::from).collect();
        if words == [""] {
            words.clear();
        }
        let mut cmd = Cli::command();
        cmd.build();
        candidates(&cmd, &words, &mut |_| Fixed)
            .into_iter()
            .map(|c| c.split('\t').next().unwrap_or_default().to_string())
            .collect()
    }

    #[test]
    fn subcommands_at_every_depth_without_hidden_ones() {
        let top = complete("");
        assert!(top.contains(&"plan".to_string()), "{top:?}");
        assert!(
            !top.iter().any(|c| c == "hook" || c == "__complete"),
            "{top:?}"
        );
        assert_eq!(complete("pl"), ["plan"]);
        assert_eq!(complete("plan sh"), ["show"]);
        assert_eq!(complete("hooks "), ["install", "uninstall", "status"]);
        // `plan` takes a slug or a subcommand.
        assert_eq!(
            complete("plan "),
            ["show", "edit", "log", "diff", "expand", "alpha", "beta"]
        );
        assert_eq!(complete("-C dir pl"), ["plan"]);
    }

    #[test]
    fn flags_and_values() {
        let new = complete("new --");
        assert!(new.contains(&"--title".to_string()), "{new:?}");
        assert!(new.contains(&"--json".to_string()), "{new:?}");
        assert!(!complete("new --json --").contains(&"--json".to_string()));
        assert!(complete("new -m x --").contains(&"--message".to_string()));
        assert_eq!(complete("status "), ["alpha", "beta"]);
        assert_eq!(complete("plan --provider an"), ["anthropic"]);
        assert_eq!(complete("plan --provider=o"), ["--provider=openai"]);
        assert_eq!(complete("plan --provider = o"), ["--provider=openai"]);
        assert_eq!(complete("plan show --revision "), ["1", "2"]);
        assert_eq!(complete("plan show beta --revision "), ["1"]);
        assert_eq!(complete("start "), ["a1", "a2"]);
        assert_eq!(complete("approve --flow beta "), ["b1"]);
        assert_eq!(complete("plan diff "), ["1", "2", "alpha", "beta"]);
        assert_eq!(complete("plan diff beta "), ["1"]);
        assert_eq!(complete("completions f"), ["fish"]);
        assert_eq!(complete("sync "), ["origin"]);
        assert_eq!(complete("new -F "), [FILES]);
        assert_eq!(complete("new -m "), Vec::<String>::new());
        assert_eq!(complete("hook "), Vec::<String>::new());
        assert_eq!(complete("plan help s"), ["show"]);
        assert_eq!(complete("new --base ma"), ["main"]);
        assert_eq!(complete("check main..ai"), ["main..aiflow/alpha"]);
        assert_eq!(complete("check origin/main...m"), ["origin/main...main"]);
        assert_eq!(complete("approve --range=or"), ["--range=origin/main"]);
        let mut cmd = Cli::command();
        cmd.build();
        let described = candidates(&cmd, &["plan".into(), "sh".into()], &mut |_| Fixed);
        assert_eq!(described, ["show\tShow the current plan (or --revision N)"]);
    }

    fn rewritten(line: &str) -> String {
        let args = std::iter::once("git-aiflow")
            .chain(line.split(' '))
            .map(std::ffi::OsString::from)
            .collect();
        let out: Vec<String> = help_words(args)
            .iter()
            .skip(1)
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        out.join(" ")
    }

    #[test]
    fn help_where_a_subcommand_could_be_is_dash_dash_help() {
        assert_eq!(rewritten("plan help"), "plan --help");
        assert_eq!(rewritten("plan help show"), "plan show --help");
        assert_eq!(rewritten("help plan"), "plan --help");
        assert_eq!(rewritten("help"), "--help");
        assert_eq!(rewritten("hooks help install"), "hooks install --help");
        assert_eq!(rewritten("-C help plan help"), "-C help plan --help");
        // Where a slug or a message is: left alone.
        assert_eq!(rewritten("status help"), "status help");
        assert_eq!(rewritten("plan x help"), "plan x help");
        assert_eq!(rewritten("new -m help"), "new -m help");
        assert_eq!(rewritten("plan -- help"), "plan -- help");
    }
}
