//! Most tests run git-aiflow in-process (`cli::run_in`); this checks that it is the same
//! program as the binary. The same commands, on two repositories made the same way (the same
//! ticking dates, so the same commit ids), print the same bytes and exit the same way, one
//! through the library and one through the real binary: a flow from spec to integration,
//! refusals, usage errors, `-C`, help and version.

use crate::harness::*;

/// Two repositories made the same way.
struct Twins {
    lib: TestRepo,
    bin: TestRepo,
    /// The subtask ids of each (random per process, so they differ), in plan order.
    ids: std::cell::RefCell<(Vec<String>, Vec<String>)>,
}

/// `text` with what differs between two runs of the same steps made neutral: the temporary
/// directory, the subtask ids (`ids`, random per process), and the object ids that follow
/// from them (any word of 7 to 40 hex digits with a digit in it).
fn neutral(text: &str, repo: &TestRepo, ids: &[String]) -> String {
    let root = repo.path.parent().expect("temp dir").display().to_string();
    let mut text = text.replace(&root, "<tmp>");
    for (i, id) in ids.iter().enumerate() {
        text = text.replace(id.as_str(), &format!("<sub{i}>"));
    }
    let mut out = String::new();
    let mut word = String::new();
    let flush = |word: &mut String, out: &mut String| {
        let hex = (7..=40).contains(&word.len())
            && word
                .bytes()
                .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
            && word.bytes().any(|b| b.is_ascii_digit());
        out.push_str(if hex { "<hex>" } else { word });
        word.clear();
    };
    for c in text.chars() {
        if c.is_ascii_alphanumeric() {
            word.push(c);
        } else {
            flush(&mut word, &mut out);
            out.push(c);
        }
    }
    flush(&mut word, &mut out);
    durations(&out)
}

/// A duration in seconds (`in 0.1 s`, `(embedded), 0.0 s`: how long the model took) as `<t> s`:
/// the two runs need not take the same time.
fn durations(text: &str) -> String {
    let mut out = String::new();
    for (i, word) in text.split(' ').enumerate() {
        if i > 0 {
            out.push(' ');
        }
        let seconds = word.split_once('.').is_some_and(|(a, b)| {
            !a.is_empty() && !b.is_empty() && a.bytes().chain(b.bytes()).all(|c| c.is_ascii_digit())
        });
        out.push_str(if seconds { "<t>" } else { word });
    }
    out
}

impl Twins {
    fn new() -> Self {
        let twins = Twins {
            lib: TestRepo::new(),
            bin: TestRepo::new(),
            ids: Default::default(),
        };
        twins.git(&["config", "aiflow.provider", "command"]);
        twins.git(&["config", "aiflow.command", &scripted_provider()]);
        twins
    }

    fn git(&self, args: &[&str]) {
        self.lib.git(args);
        self.bin.git(args);
    }

    fn write(&self, rel: &str, content: &str) {
        self.lib.write(rel, content);
        self.bin.write(rel, content);
    }

    /// Run `args` both ways and assert the same exit code and output; returns the library's.
    /// `<subN>` in an argument stands for each repository's own N-th subtask id.
    #[track_caller]
    fn same(&self, args: &[&str], env: &[(&str, &str)]) -> Run {
        let ids = self.ids.borrow();
        let own = |ids: &[String]| -> Vec<String> {
            args.iter()
                .map(|a| {
                    let mut a = (*a).to_owned();
                    for (i, id) in ids.iter().enumerate() {
                        a = a.replace(&format!("<sub{i}>"), id);
                    }
                    a
                })
                .collect()
        };
        let (lib_args, bin_args) = (own(&ids.0), own(&ids.1));
        let lib_args: Vec<&str> = lib_args.iter().map(String::as_str).collect();
        let bin_args: Vec<&str> = bin_args.iter().map(String::as_str).collect();
        let lib = self.lib.aiflow_env(&lib_args, env);
        let bin = self.bin.aiflow_bin_env(&bin_args, env);
        let norm = |text: &str, repo: &TestRepo| {
            let ids = if std::ptr::eq(repo, &self.lib) {
                &ids.0
            } else {
                &ids.1
            };
            neutral(text, repo, ids)
        };
        let what = args.join(" ");
        assert_eq!(
            lib.code, bin.code,
            "exit of `{what}`\nlib: {lib:?}\nbin: {bin:?}"
        );
        assert_eq!(
            norm(&lib.stdout, &self.lib),
            norm(&bin.stdout, &self.bin),
            "stdout of `{what}`"
        );
        assert_eq!(
            norm(&lib.stderr, &self.lib),
            norm(&bin.stderr, &self.bin),
            "stderr of `{what}`"
        );
        lib
    }

    /// Learn the subtask ids of both, after a plan.
    fn learn_ids(&self) {
        let of = |run: Run| -> Vec<String> {
            run.json()["subtasks"]
                .as_array()
                .expect("subtasks")
                .iter()
                .map(|s| s["id"].as_str().expect("id").to_owned())
                .collect()
        };
        let args = ["plan", "show", "rate-limit", "--json"];
        *self.ids.borrow_mut() = (of(self.lib.aiflow(&args)), of(self.bin.aiflow_bin(&args)));
    }
}

#[test]
fn the_library_and_the_binary_print_the_same_for_a_whole_flow() {
    let t = Twins::new();
    let spec = fixture("specs/rate-limit.md");
    let spec = spec.to_str().expect("utf-8");
    t.same(&["new", "rate-limit", "-F", spec], &[]).ok();
    t.same(&["new", "rate-limit", "-F", spec], &[]).fails(2);
    t.same(&["plan", "rate-limit"], &[]).ok();
    t.same(&["plan", "rate-limit", "--json"], &[]).fails(1);
    t.same(&ANSWER_RATE_LIMIT, &[]).ok();
    let lib = t.lib.aiflow(&["plan", "rate-limit"]).ok();
    let bin = t.bin.aiflow_bin(&["plan", "rate-limit"]).ok();
    t.learn_ids();
    {
        let ids = t.ids.borrow();
        assert_eq!(neutral(&lib, &t.lib, &ids.0), neutral(&bin, &t.bin, &ids.1));
    }
    for args in [
        &["plan", "show", "rate-limit"][..],
        &["plan", "show", "rate-limit", "--json"],
        &["plan", "log", "rate-limit"],
        &["status", "rate-limit"],
        &["status", "rate-limit", "--json"],
        &["list"],
        &["list", "--json"],
    ] {
        t.same(args, &[]).ok();
    }
    let next = t.same(&["next", "rate-limit", "--json"], &[]).json();
    let first = next["subtask"]["id"].as_str().expect("next subtask");
    let n = t
        .ids
        .borrow()
        .0
        .iter()
        .position(|i| i == first)
        .expect("a planned id");
    let id = format!("<sub{n}>");
    t.same(&["start", &id], &[]).ok();
    t.same(&["step", "-m", "nothing yet"], &[]).fails(1);
    t.write("src/limit.rs", "pub fn limit() {}\n");
    t.same(&["step", "-m", "A limiter"], &[]).ok();
    t.same(&["ready"], &[]).ok();
    t.same(&["review", &id], &[]).ok();
    t.same(&["approve", &id], &[]).fails(1);
    t.same(&["approve", &id], AS_GRACE).ok();
    t.same(&["check", "--json"], &[]).ok();
    t.same(&["integrate", &id], &[]).ok();
    t.same(&["status", "rate-limit"], &[]).ok();
    t.same(&["check", "main..aiflow/rate-limit"], &[]).ok();
}

#[test]
fn the_library_and_the_binary_refuse_and_fail_the_same() {
    let t = Twins::new();
    t.git(&["commit", "-q", "--allow-empty", "-m", "Unreviewed"]);
    for (args, code) in [
        (&["frobnicate"][..], 2),
        (&["status", "--bogus"], 2),
        (&["status", "nope"], 2),
        (&["start", "zz"], 2),
        (&["-C", "no-such-dir", "list"], 2),
        (&["plan", "show"], 2),
    ] {
        t.same(args, &[]).fails(code);
    }
    for args in [
        &["--version"][..],
        &["-h"],
        &["status", "-h"],
        &["list"],
        &["-C", ".", "list"],
    ] {
        t.same(args, &[]).ok();
    }
}
