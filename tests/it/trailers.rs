//! Trailers, differentially: every message of the corpus in `fixtures/trailers/` is read and
//! rewritten by git and by `git_aiflow::git::trailers`, and the two must agree byte for byte.
//!
//! Per case (`NNN-name.msg`, with the git configuration of its optional `NNN-name.config`):
//!
//! * **parse**: `git interpret-trailers --parse --no-divider` against [`trailers::format_parsed`];
//! * **log**: `git log -1 --pretty=format:%(trailers:only,unfold)` on a commit made with
//!   `git commit-tree -F` (no cleanup) against [`trailers::format_parsed_commit`] of the committed message;
//! * **add**: `git interpret-trailers --no-divider --trailer …` against [`trailers::add`], three
//!   times: a new `Reviewed-by`, the block's last trailer again in the other letter case (git's
//!   default `addIfDifferentNeighbor` must drop it), and the last trailer's token with a new value.
//!
//! git always gets the configuration as `git -c key=value`. Our side runs twice: with
//! [`Rules::from_config`] on a repository whose configuration `git config --add` wrote, and with
//! the [`Rules::new`] / [`Rules::with_configured`] that the configuration means to git, so that
//! both constructors are checked. All mismatches of all cases are collected and reported at once.

use crate::harness::{TestRepo, fixture, output_with_stdin};
use git_aiflow::git::trailers::{self, Rules};
use std::path::Path;

/// The trailer `add` writes in every case.
const NEW_TOKEN: &str = "Reviewed-by";
const NEW_VALUE: &str = "Grace Hopper <grace@example.com>";
/// The value of the third `add`: the last trailer's token with a value no case uses.
const OTHER_VALUE: &str = "Someone Else <else@example.com>";

/// One message of the corpus.
struct Case {
    name: String,
    msg: Vec<u8>,
    /// `key=value` pairs in file order; the value is verbatim (trailing spaces matter).
    config: Vec<(String, String)>,
}

/// Every case of `fixtures/trailers/`, in name order.
fn corpus() -> Vec<Case> {
    let dir = fixture("trailers");
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("read {}: {e}", dir.display()))
        .map(|e| {
            e.expect("dir entry")
                .file_name()
                .into_string()
                .expect("utf-8 name")
        })
        .filter_map(|n| n.strip_suffix(".msg").map(str::to_string))
        .collect();
    names.sort();
    names
        .into_iter()
        .map(|name| {
            let msg = std::fs::read(dir.join(format!("{name}.msg"))).expect("read message");
            let config = match std::fs::read_to_string(dir.join(format!("{name}.config"))) {
                Ok(text) => parse_config(&name, &text),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
                Err(e) => panic!("read {name}.config: {e}"),
            };
            Case { name, msg, config }
        })
        .collect()
}

/// A sidecar's `key=value` lines; blank lines and lines starting with `#` are skipped.
fn parse_config(name: &str, text: &str) -> Vec<(String, String)> {
    text.lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| {
            let (k, v) = l
                .split_once('=')
                .unwrap_or_else(|| panic!("{name}.config: not key=value: {l:?}"));
            (k.to_string(), v.to_string())
        })
        .collect()
}

/// The `Rules` the configuration means to git, built with `Rules::new` and `with_configured`.
///
/// This mirrors git's config callbacks: `core.commentChar` and `core.commentString` are one
/// setting (the last wins; `auto`, in any case, leaves `#` for reading), `trailer.separators` is
/// the last value, and a `trailer.<name>.<variable>` configures `<name>` only for the variables
/// git knows, with names compared case-insensitively and the last `key` winning.
fn rules_from_sidecar(config: &[(String, String)]) -> Rules {
    const VARIABLES: [&str; 6] = ["key", "command", "cmd", "where", "ifexists", "ifmissing"];
    let mut comment = String::new();
    let mut separators = String::new();
    let mut configured: Vec<(String, Option<String>)> = Vec::new();
    for (key, value) in config {
        let lower = key.to_ascii_lowercase();
        if lower == "core.commentchar" || lower == "core.commentstring" {
            comment = if value.eq_ignore_ascii_case("auto") {
                String::new()
            } else {
                value.clone()
            };
        } else if lower == "trailer.separators" {
            separators = value.clone();
        } else if let Some(rest) = key.strip_prefix("trailer.")
            && let Some((name, variable)) = rest.rsplit_once('.')
            && VARIABLES.contains(&variable.to_ascii_lowercase().as_str())
        {
            let i = match configured
                .iter()
                .position(|(n, _)| n.eq_ignore_ascii_case(name))
            {
                Some(i) => i,
                None => {
                    configured.push((name.to_string(), None));
                    configured.len() - 1
                }
            };
            if variable.eq_ignore_ascii_case("key") {
                configured[i].1 = Some(value.clone());
            }
        }
    }
    configured
        .iter()
        .fold(Rules::new(&comment, &separators), |rules, (name, key)| {
            rules.with_configured(name, key.as_deref())
        })
}

/// What a git process printed.
struct Output {
    ok: bool,
    stdout: Vec<u8>,
    stderr: String,
}

/// Run `git -c k=v … args` in `dir`, with `input` on stdin.
fn git(
    repo: &TestRepo,
    dir: &Path,
    config: &[(String, String)],
    args: &[&str],
    input: &[u8],
) -> Output {
    let mut cmd = repo.command_in("git", dir);
    for (k, v) in config {
        cmd.arg("-c").arg(format!("{k}={v}"));
    }
    let out = output_with_stdin(cmd.args(args), input);
    Output {
        ok: out.status.success(),
        stdout: out.stdout,
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Bytes for a failure message: a quoted string, or escaped bytes when not UTF-8; very long
/// values are cut.
fn show(bytes: &[u8]) -> String {
    const MAX: usize = 3000;
    let (head, cut) = if bytes.len() > MAX {
        (&bytes[..MAX], format!(" … ({} bytes in all)", bytes.len()))
    } else {
        (bytes, String::new())
    };
    match std::str::from_utf8(head) {
        Ok(s) => format!("{s:?}{cut}"),
        Err(_) => format!("b\"{}\"{cut}", head.escape_ascii()),
    }
}

/// Every mismatch found, as a readable report entry.
#[derive(Default)]
struct Report(Vec<String>);

impl Report {
    fn compare(&mut self, case: &Case, check: &str, git: &[u8], ours: &[u8]) {
        if git != ours {
            self.0.push(format!(
                "{} [{check}]\n    message: {}\n    config:  {:?}\n    git:     {}\n    ours:    {}",
                case.name,
                show(&case.msg),
                case.config,
                show(git),
                show(ours)
            ));
        }
    }

    fn error(&mut self, case: &Case, check: &str, what: String) {
        self.0.push(format!("{} [{check}]\n    {what}", case.name));
    }
}

/// Swap the case of ASCII letters.
fn flip_case(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_uppercase() {
                c.to_ascii_lowercase()
            } else {
                c.to_ascii_uppercase()
            }
        })
        .collect()
}

/// The trailers `add` writes for a case: `(check name, token, value)`.
fn additions(case: &Case, rules: &Rules) -> Vec<(&'static str, String, String)> {
    let mut out = vec![("add", NEW_TOKEN.to_string(), NEW_VALUE.to_string())];
    // The last trailer, as git and we agree it reads (the parse check covers that); its token
    // without the trailing separator a configured key may carry (`Acked-by= `, `Bug #`), which
    // git's `same_token` ignores as well.
    if let Some((token, value)) = trailers::parse(&case.msg, rules).pop() {
        let token = String::from_utf8_lossy(&token).into_owned();
        let token = token.trim_end_matches(|c: char| !c.is_ascii_alphanumeric());
        let value = String::from_utf8_lossy(&value).into_owned();
        if !token.is_empty() && !value.contains('\u{fffd}') {
            out.push(("add-same-other-case", flip_case(token), flip_case(&value)));
            out.push(("add-same-token", token.to_string(), OTHER_VALUE.to_string()));
        }
    }
    out
}

/// The scratch repositories a run of the corpus uses.
struct Scratch {
    /// Where git runs (with `-c`) and the commits are made.
    repo: TestRepo,
    /// Whose configuration `git config --add` writes for `Rules::from_config`.
    config_repo: TestRepo,
    pristine_config: Vec<u8>,
    tree: String,
}

impl Scratch {
    fn new() -> Self {
        let repo = TestRepo::new();
        let tree = repo.git(&["rev-parse", "HEAD^{tree}"]).trim().to_string();
        let config_repo = TestRepo::empty();
        let pristine_config =
            std::fs::read(config_repo.path.join(".git/config")).expect("read config");
        Scratch {
            repo,
            config_repo,
            pristine_config,
            tree,
        }
    }

    /// `Rules::from_config` on a repository configured with exactly `config`.
    fn rules_from_config(&self, config: &[(String, String)]) -> Rules {
        let path = self.config_repo.path.join(".git/config");
        std::fs::write(&path, &self.pristine_config).expect("reset config");
        for (k, v) in config {
            self.config_repo.git(&["config", "--add", k, v]);
        }
        // Isolated: the test process's own HOME and environment must not leak in.
        let repo = gix::open_opts(&self.config_repo.path, gix::open::Options::isolated())
            .expect("open with gix");
        Rules::from_config(&repo.config_snapshot())
    }

    /// Run every check of `case`, adding mismatches to `report`.
    fn check(&self, case: &Case, report: &mut Report) {
        let dir = &self.repo.path;
        let rule_sets = [
            ("from_config", self.rules_from_config(&case.config)),
            ("Rules::new", rules_from_sidecar(&case.config)),
        ];

        // parse
        let out = git(
            &self.repo,
            dir,
            &case.config,
            &["interpret-trailers", "--parse", "--no-divider"],
            &case.msg,
        );
        if !out.ok {
            report.error(case, "parse", format!("git failed: {}", out.stderr));
        } else {
            for (label, rules) in &rule_sets {
                let ours = trailers::format_parsed(&case.msg, rules);
                report.compare(case, &format!("parse, {label}"), &out.stdout, &ours);
            }
        }

        // log
        self.check_log(case, &rule_sets, report);

        // add
        let (_, main_rules) = &rule_sets[0];
        for (check, token, value) in additions(case, main_rules) {
            // `=` separates token and value on git's command line whatever `trailer.separators`
            // says, and tokens are letters, digits and hyphens.
            let arg = format!("{token}={value}");
            let out = git(
                &self.repo,
                dir,
                &case.config,
                &["interpret-trailers", "--no-divider", "--trailer", &arg],
                &case.msg,
            );
            if !out.ok {
                report.error(
                    case,
                    check,
                    format!("git failed on {arg:?}: {}", out.stderr),
                );
                continue;
            }
            for (label, rules) in &rule_sets {
                let ours = trailers::add(&case.msg, &token, &value, rules);
                report.compare(
                    case,
                    &format!("{check} {arg:?}, {label}"),
                    &out.stdout,
                    &ours,
                );
            }
        }
    }

    fn check_log(&self, case: &Case, rule_sets: &[(&str, Rules)], report: &mut Report) {
        let file = self.repo.outside("message", &case.msg);
        let file = file.to_str().expect("utf-8 path");
        let out = git(
            &self.repo,
            &self.repo.path,
            &[],
            &["commit-tree", &self.tree, "-F", file],
            b"",
        );
        if !out.ok {
            // git refuses such messages ("a NUL byte in commit log message not allowed"), so
            // only the parse and add checks can run.
            if !case.msg.contains(&0) {
                report.error(case, "log", format!("commit-tree failed: {}", out.stderr));
            }
            return;
        }
        let commit = String::from_utf8(out.stdout).expect("commit id");
        let commit = commit.trim();
        // The message as committed: commit-tree rewrites a message that is not UTF-8 (it takes
        // it for Latin-1), so compare with what git actually stored, not with the input.
        let gix = gix::open_opts(&self.repo.path, gix::open::Options::isolated()).expect("open");
        let id = gix::ObjectId::from_hex(commit.as_bytes()).expect("commit id");
        let object = gix.find_commit(id).expect("find the commit");
        let committed: &[u8] = object.message_raw().expect("commit message");
        // `format:` (not `tformat:`) adds no terminator after the only commit, so the output is
        // exactly what `%(trailers:only,unfold)` expands to; nothing is normalised.
        let out = git(
            &self.repo,
            &self.repo.path,
            &case.config,
            &[
                "log",
                "-1",
                "--pretty=format:%(trailers:only,unfold)",
                commit,
            ],
            b"",
        );
        if !out.ok {
            report.error(case, "log", format!("git log failed: {}", out.stderr));
            return;
        }
        for (label, rules) in rule_sets {
            let ours = trailers::format_parsed_commit(committed, rules);
            report.compare(case, &format!("log, {label}"), &out.stdout, &ours);
        }
    }
}

#[test]
fn git_and_we_read_and_write_every_corpus_message_alike() {
    let cases = corpus();
    // Two workers: each case runs about eight git processes.
    let (left, right) = cases.split_at(cases.len() / 2);
    let reports: Vec<Report> = std::thread::scope(|s| {
        let workers: Vec<_> = [left, right]
            .into_iter()
            .map(|part| {
                s.spawn(move || {
                    let scratch = Scratch::new();
                    let mut report = Report::default();
                    for case in part {
                        scratch.check(case, &mut report);
                    }
                    report
                })
            })
            .collect();
        workers
            .into_iter()
            .map(|w| w.join().expect("worker"))
            .collect()
    });
    let mismatches: Vec<String> = reports.into_iter().flat_map(|r| r.0).collect();
    assert!(
        mismatches.is_empty(),
        "{} mismatch(es) between git and git_aiflow::git::trailers:\n\n{}",
        mismatches.len(),
        mismatches.join("\n\n")
    );
}

/// `git config` always writes into an existing section, so the sidecars cannot express one
/// trailer configured in two sections (two files, or a hand-edited one); git merges them.
#[test]
fn from_config_merges_the_sections_of_one_trailer_like_git() {
    let repo = TestRepo::empty();
    let config = repo.path.join(".git/config");
    let mut text = std::fs::read_to_string(&config).expect("read config");
    text.push_str("[trailer \"ack\"]\n\twhere = end\n[trailer \"ack\"]\n\tkey = Acked-by\n");
    std::fs::write(&config, text).expect("write config");
    let msg = b"S\n\nack: x\n";
    let git = git(
        &repo,
        &repo.path,
        &[],
        &["interpret-trailers", "--parse", "--no-divider"],
        msg,
    );
    assert!(git.ok, "{}", git.stderr);
    let gix = gix::open_opts(&repo.path, gix::open::Options::isolated()).expect("open");
    let ours = trailers::format_parsed(msg, &Rules::from_config(&gix.config_snapshot()));
    assert_eq!(
        show(&ours),
        show(&git.stdout),
        "message {}, config with [trailer \"ack\"] twice",
        show(msg)
    );
}

#[test]
fn the_corpus_is_not_empty() {
    let cases = corpus();
    assert!(
        cases.len() >= 80,
        "only {} cases in fixtures/trailers",
        cases.len()
    );
    for case in &cases {
        let (number, rest) = case.name.split_at(3);
        assert!(
            number.bytes().all(|b| b.is_ascii_digit()) && rest.starts_with('-'),
            "case names are NNN-name: {}",
            case.name
        );
    }
    // A sidecar without its message would be silently ignored.
    for entry in std::fs::read_dir(fixture("trailers")).expect("read corpus") {
        let name = entry.expect("dir entry").file_name();
        let name = name.to_str().expect("utf-8 name");
        if let Some(stem) = name.strip_suffix(".config") {
            assert!(
                cases.iter().any(|c| c.name == stem),
                "{name} has no {stem}.msg"
            );
        }
    }
}
