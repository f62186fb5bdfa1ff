//! The demo: one flow, from its spec to a merge the gate refuses and then accepts, in a throwaway
//! repository, with no network and no API key.
//!
//! The walkthrough is data: each part of it is a `Script` of actions (a heading, a file to
//! write, a command with the text shown for it, its environment and whether it must succeed or
//! be refused), and one `Runner` runs them, the real binary and real git, writing each command
//! as a user would type it and then what it printed.

use super::WorkError;
use crate::git::process::{Process, ProcessError, Sink};
use std::io::Write;
use std::path::{Path, PathBuf};

/// The spec the demo uses.
pub const DEMO_SPEC: &str = include_str!("../../fixtures/specs/rate-limit.md");

/// The recorded answers the demo's "model" replays: clarifying questions, then a plan (in a
/// Markdown fence with prose around it, as real models answer).
pub const DEMO_ANSWERS: &[(&str, &str)] = &[
    (
        "questions",
        include_str!("../../fixtures/demo/questions.json"),
    ),
    ("plan", include_str!("../../fixtures/demo/plan.json")),
    ("audit", include_str!("../../fixtures/demo/audit.json")),
];

/// The demo's test, committed with the repository: plain sh, so that the demo needs no Python (a
/// real project's would be `pytest` or `cargo test`). It fails while the refill is not capped.
const DEMO_TEST: &str = r#"# The tests of limiter.py, in plain sh so that the demo runs anywhere.
test -f limiter.py || { echo "FAIL: there is no limiter.py"; exit 1; }
if ! grep -q 'min(self.burst, ' limiter.py; then
    echo "FAIL: TokenBucket.take refills without a cap: after an idle minute a client may send"
    echo "      burst + 60 x rate requests at once"
    exit 1
fi
echo "ok: the refill is capped at burst"
"#;

/// The demo's agent: it writes a token bucket that forgets to cap its refill; asked to fix the
/// failing test (the prompt says "## The test fails"), it caps it.
const DEMO_AGENT: &str = r#"prompt=$(cat)
case $prompt in
*'## The test fails'*)
    echo "demo agent: the test fails; capping the refill at burst (step $AIFLOW_STEP)"
    sed 's/self\.tokens + (now - self\.stamp) \* self\.rate/min(self.burst, &)/' limiter.py > limiter.py.new
    mv limiter.py.new limiter.py
    printf 'Cap the refill at the burst\n' > "$AIFLOW_MESSAGE_FILE"
    exit 0
    ;;
esac
echo "demo agent: writing limiter.py for subtask $AIFLOW_SUBTASK (step $AIFLOW_STEP)"
cat > limiter.py <<'PY'
import time


class TokenBucket:
    """A token bucket refilled continuously: rate tokens per second, up to burst."""

    def __init__(self, rate, burst):
        self.rate, self.burst = rate, burst
        self.tokens, self.stamp = burst, time.monotonic()

    def take(self, n=1):
        now = time.monotonic()
        self.tokens = self.tokens + (now - self.stamp) * self.rate
        self.stamp = now
        if self.tokens < n:
            return False
        self.tokens -= n
        return True
PY
printf 'Add a token bucket with continuous refill\n' > "$AIFLOW_MESSAGE_FILE"
"#;

/// The editor the demo user "uses" to drop the dashboard nobody asked for from the plan.
const DROP_DASHBOARD: &str = "f() { awk -v RS= -v ORS='\\n\\n' '!/Admin dashboard/' \"$1\" > \"$1.new\" && mv \"$1.new\" \"$1\"; }; f";

/// The editor the teammate "uses" to add a subtask to the plan.
const ADD_LOAD_TEST: &str = "f() { printf '\n[[subtask]]\ntitle = \"Load test the limiter at 10k requests per second\"\nphase = \"production\"\ndescription = \"A k6 script and its results in docs/.\"\n' >> \"$1\"; }; f";

/// The repositories the demo leaves behind.
#[derive(Debug, Clone)]
pub struct Repos {
    /// The demo repository.
    pub dir: PathBuf,
    /// Its remote, a bare repository beside it.
    pub origin: PathBuf,
    /// A teammate's clone of the remote, beside it.
    pub teammate: PathBuf,
}

impl Repos {
    /// The demo repository `dir`, and its remote and teammate's clone named after it.
    fn beside(dir: &Path) -> Self {
        let sibling = |suffix: &str| {
            let mut name = dir.file_name().unwrap_or_default().to_os_string();
            name.push(suffix);
            dir.with_file_name(name)
        };
        Repos {
            dir: dir.to_owned(),
            origin: sibling("-origin.git"),
            teammate: sibling("-teammate"),
        }
    }
}

/// Make `dir` ready for the demo: it must be new or empty.
pub fn prepare(dir: &Path) -> Result<(), WorkError> {
    if dir.exists()
        && std::fs::read_dir(dir)
            .map(|mut d| d.next().is_some())
            .unwrap_or(true)
    {
        return Err(
            WorkError::invalid(format!("{} exists and is not empty", dir.display()))
                .hint("give an empty or new directory with --dir"),
        );
    }
    std::fs::create_dir_all(dir)
        .map_err(|e| WorkError::invalid(format!("could not create {}", dir.display())).because(e))
}

/// The git-aiflow binary the demo runs: this one, or when the command runs in-process in
/// another program (a test), the one on PATH.
pub fn binary() -> Result<PathBuf, WorkError> {
    let exe = std::env::current_exe()
        .map_err(|e| WorkError::invalid("could not find the running binary").because(e))?;
    let is_ours = exe
        .file_stem()
        .is_some_and(|n| n.to_string_lossy() == "git-aiflow");
    if is_ours {
        return Ok(exe);
    }
    std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())
        .map(|d| d.join("git-aiflow"))
        .find(|p| p.is_file())
        .ok_or_else(|| {
            WorkError::invalid("could not find the git-aiflow binary on PATH")
                .hint("install it, or put its directory on PATH")
        })
}

/// Walk through a flow in `dir` (new or empty, see [`prepare`]), running `exe` as git-aiflow,
/// and write every command and what it printed to `out`.
pub fn run(dir: &Path, exe: &Path, out: &mut dyn Write) -> Result<Repos, WorkError> {
    let mut runner = Runner { out, exe };
    runner.run(setup(dir))?;
    runner.run(planning(dir))?;
    let subtask = runner.query(
        dir,
        &["plan", "show", "rate-limit", "--json"],
        "/subtasks/0/branch",
        "the demo plan has no subtasks",
    )?;
    runner.run(execution(dir, &subtask))?;
    runner.run(review(dir, &subtask))?;
    let repos = Repos::beside(dir);
    runner.run(share(&repos))?;
    let next = runner.query(
        dir,
        &["next", "rate-limit", "--json"],
        "/subtask/id",
        "the demo plan has no next subtask",
    )?;
    runner.run(sync(&repos, &next))?;
    Ok(repos)
}

/// A repository with one commit, the flow started from the spec, and its first commit and note.
fn setup(dir: &Path) -> Script {
    let mut s = Script::new(dir);
    s.say(format!(
        "======== A throwaway repository with one commit: {} ========",
        dir.display()
    ));
    s.run(git(&["init", "-q", "-b", "main"]).quiet());
    s.run(git(&["config", "user.name", "Demo User"]).quiet());
    s.run(git(&["config", "user.email", "demo@example.com"]).quiet());
    s.write("README.md", "# Demo service\n", REPO);
    s.write("test.sh", DEMO_TEST, REPO);
    s.run(git(&["add", "README.md", "test.sh"]).quiet());
    s.run(git(&["commit", "-q", "-m", "Initial commit"]).quiet());
    s.write(
        ".git/rate-limit.md",
        DEMO_SPEC,
        "could not write the demo spec",
    );
    s.say("# Configure the repository once, then start a flow from a spec (a Markdown file)");
    s.run(aiflow(&["init"]).only(&["+="]));
    s.run(
        aiflow(&["new", "rate-limit", "-F", ".git/rate-limit.md"])
            .shown("git aiflow new rate-limit -F rate-limit.md")
            .head(2),
    );
    s.say("\n# The flow is a branch whose first commit holds the spec; `git log` shows a short\n# note under it (the whole document: `git log --notes=aiflow`)");
    s.run(git(&[
        "--no-pager",
        "log",
        "-1",
        "--format=%h %s%n%N",
        "aiflow/rate-limit",
    ]));
    s
}

/// Planning: questions, answers, the plan, a human edit of it, and the difference.
fn planning(dir: &Path) -> Script {
    let mut s = Script::new(dir);
    s.mkdir(".git/demo-model");
    for (name, text) in DEMO_ANSWERS {
        s.write(&format!(".git/demo-model/{name}.json"), text, REPO);
    }
    s.say("\n# Plan with a model: here a command replaying recorded answers (or openai, anthropic, manual)");
    s.run(git(&["config", "aiflow.provider", "command"]));
    s.run(git(&[
        "config",
        "aiflow.command",
        "cat \"$(git rev-parse --git-dir)/demo-model/$AIFLOW_TEMPLATE.json\"",
    ]));
    s.say("\n# First the model asks what the spec leaves open; you answer");
    s.run(aiflow(&["plan", "rate-limit"]).starting(&["command", "1. ", "2. ", "3. "]));
    s.run(
        aiflow(&[
            "answer",
            "rate-limit",
            "--answer",
            "1=A lower quota: 20 requests per minute per IP",
            "--answer",
            "2=Local in-memory fallback",
            "--answer",
            "3=Key id from api_keys",
        ])
        .head(1),
    );
    s.say("\n# With the answers, it returns an ordered plan of small subtasks");
    s.run(aiflow(&["plan", "rate-limit"]).head(8));
    s.say("\n# You review the plan before any code exists: drop the dashboard nobody asked for\n# (your editor opens the plan as TOML; here a script does the edit)");
    s.run(
        aiflow(&["plan", "edit", "rate-limit"])
            .env("GIT_EDITOR", DROP_DASHBOARD)
            .head(1),
    );
    s.run(aiflow(&["plan", "diff", "rate-limit"]));
    s
}

/// The id in a subtask's branch name (`aiflow/<slug>--<id>-<title>`).
fn subtask_id(branch: &str) -> &str {
    branch
        .split_once("--")
        .and_then(|(_, rest)| rest.split('-').next())
        .unwrap_or(branch)
}

/// Execution and the gate: an agent does the first subtask (on `branch`), its first step red
/// under the test command and its fix green, and the gate refuses its unreviewed work, from
/// git-aiflow and from plain git.
fn execution(dir: &Path, branch: &str) -> Script {
    let id = subtask_id(branch);
    let mut s = Script::new(dir);
    s.say("\n# Install the review gate's hooks");
    s.run(aiflow(&["hooks", "install"]).only(&["The gate now"]));
    s.say("\n# Execute the plan one subtask at a time, each on its own branch");
    s.run(aiflow(&["next", "rate-limit"]).head(1));
    s.run(aiflow(&["start", id]).head(1));
    s.say("\n# A coding agent (here a script; really `claude -p`, `codex exec`) and a test command run per step");
    s.write(".git/demo-model/agent.sh", DEMO_AGENT, REPO);
    s.run(git(&[
        "config",
        "aiflow.agent",
        "sh \"$(git rev-parse --git-common-dir)/demo-model/agent.sh\"",
    ]));
    s.run(git(&["config", "aiflow.agentName", "Demo Agent"]).quiet());
    s.run(git(&["config", "aiflow.test", "sh test.sh"]));
    s.say("\n# The agent's first step fails the test; --fix 1 runs it again with the failure in its prompt");
    s.run(aiflow(&["exec", id, "--fix", "1"]).only(&[
        "recorded step",
        "test:",
        "| FAIL: TokenBucket",
        "demo agent: the test fails",
    ]));
    s.say("\n# Each step is a commit; its note keeps the test run, bound to the step's tree");
    s.run(git(&[
        "--no-pager",
        "log",
        "--format=%h %s%n%N",
        "aiflow/rate-limit..",
    ]));
    s.say("\n# Nobody has reviewed the two steps, so the gate refuses them");
    s.run(
        aiflow(&["check"])
            .refused()
            .only(&["without a valid review"]),
    );
    s.run(aiflow(&["integrate", id]).refused().head(1));
    s.say("\n# Nor can plain git merge it: the hooks run the same gate");
    s.run(git(&["switch", "-q", "aiflow/rate-limit"]));
    s.run(
        git(&["merge", "--no-ff", "-q", "--no-edit", branch])
            .refused()
            .only(&["is protected"]),
    );
    s.run(git(&["merge", "--abort"]).quiet());
    s.run(git(&["switch", "-q", branch]).quiet());
    s
}

/// Review: a human approves the first subtask (on `branch`), and it is integrated.
fn review(dir: &Path, branch: &str) -> Script {
    let id = subtask_id(branch);
    let mut s = Script::new(dir);
    s.say("\n# You review the agent's work: its steps with their test runs, where it left the plan, the diff");
    s.run(aiflow(&["review", id]).head(5));
    s.say("\n# A security audit by the model: findings a person judges, never a review");
    s.run(aiflow(&["audit", id]).head(2));
    s.run(aiflow(&[
        "audit",
        "accept",
        "limiter.py:11",
        "-m",
        "real: the middleware subtask validates n before it calls take",
    ]));
    s.say("\n# You approve it: every commit gets Reviewed-by, and the gate lets it in");
    s.run(aiflow(&["approve", id]).head(1));
    s.run(aiflow(&["check"]));
    s.run(aiflow(&["integrate", id]).head(1));
    s.run(git(&[
        "--no-pager",
        "log",
        "--graph",
        "--format=%h %s  %(trailers:key=Reviewed-by,separator=%x2C )",
        "aiflow/rate-limit",
    ]));
    s
}

/// Collaboration: a remote and a teammate's clone; the teammate adds a subtask while the demo
/// user asks what is next.
fn share(repos: &Repos) -> Script {
    let (o, t) = (
        repos.origin.to_string_lossy(),
        repos.teammate.to_string_lossy(),
    );
    let mut s = Script::new(&repos.dir);
    s.say("\n# Share the flow: a remote (notes travel with `sync`; `git push` leaves them out)");
    s.run(git(&["clone", "-q", "--bare", ".", &o]));
    s.run(git(&["remote", "add", "origin", &o]));
    s.run(aiflow(&["sync"]).head(1));
    s.at(repos.teammate.parent().unwrap_or(&repos.dir));
    s.run(git(&["clone", "-q", &o, &t]));
    s.enter(&repos.teammate, "The teammate's clone");
    s.run(git(&["config", "user.name", "Grace Teammate"]).quiet());
    s.run(git(&["config", "user.email", "grace@example.com"]).quiet());
    s.run(aiflow(&["init"]).quiet());
    s.run(aiflow(&["sync"]).head(1));
    s.say("# While you start the next subtask, the teammate adds one to the plan");
    s.run(
        aiflow(&["plan", "edit", "rate-limit"])
            .env("GIT_EDITOR", ADD_LOAD_TEST)
            .head(1),
    );
    s.enter(&repos.dir, "Your repository");
    s
}

/// Both sides sync after the demo user starts subtask `next`: `sync` merges the two changes.
fn sync(repos: &Repos, next: &str) -> Script {
    let mut s = Script::new(&repos.dir);
    s.run(aiflow(&["start", next]).head(1));
    s.enter(&repos.teammate, "The teammate's clone");
    s.run(aiflow(&["sync"]).head(1));
    s.enter(&repos.dir, "Your repository");
    s.say("# sync merges both sides, flow by flow and subtask by subtask");
    s.run(aiflow(&["sync"]).head(2));
    s.say("\n# The dashboard");
    s.run(aiflow(&["status", "rate-limit"]).starting(&[
        "Flow ",
        "  status ",
        "  plan ",
        "    merged ",
        "    active ",
        "    planned ",
        "  audits ",
    ]));
    s.say("\n# The workflow's own numbers, from git alone");
    s.run(aiflow(&["stats", "rate-limit"]).starting(&[
        "  phases ",
        "  questions ",
        "  rework ",
        "  reviews ",
        "  tests ",
    ]));
    s
}

/// The message when the demo repository cannot be written.
const REPO: &str = "could not write the demo repository";

/// What the demo does, in order.
enum Action {
    /// Print a line (a heading).
    Say(String),
    /// Create a directory in the demo repository; the message if that fails.
    MakeDir(PathBuf, &'static str),
    /// Write a file in the demo repository; the message if that fails.
    Write(PathBuf, &'static str, &'static str),
    /// Run a command in a directory.
    Run(PathBuf, Step),
}

/// A part of the demo: actions, commands running in the current directory.
struct Script {
    repo: PathBuf,
    dir: PathBuf,
    actions: Vec<Action>,
}

impl Script {
    /// A script in demo repository `repo`, its commands running there.
    fn new(repo: &Path) -> Self {
        Script {
            repo: repo.to_owned(),
            dir: repo.to_owned(),
            actions: Vec::new(),
        }
    }

    fn say(&mut self, text: impl Into<String>) {
        self.actions.push(Action::Say(text.into()));
    }

    /// Create `path` (relative to the demo repository).
    fn mkdir(&mut self, path: &str) {
        self.actions
            .push(Action::MakeDir(self.repo.join(path), REPO));
    }

    /// Write `text` to `path` (relative to the demo repository); `what` is the error message.
    fn write(&mut self, path: &str, text: &'static str, what: &'static str) {
        let path = self.repo.join(path);
        self.actions.push(Action::Write(path, text, what));
    }

    /// Run the following commands in `dir`.
    fn at(&mut self, dir: &Path) {
        self.dir = dir.to_owned();
    }

    /// Run the following commands in repository `dir`, saying so with a marker line naming it.
    fn enter(&mut self, dir: &Path, what: &str) {
        self.say(format!("\n======== {what}: {} ========", dir.display()));
        self.at(dir);
    }

    fn run(&mut self, step: Step) {
        self.actions.push(Action::Run(self.dir.clone(), step));
    }
}

/// Which program a step runs.
#[derive(Clone, Copy)]
enum Program {
    Git,
    Aiflow,
}

/// One command of the demo, and whether it must succeed or must be refused.
struct Step {
    program: Program,
    args: Vec<String>,
    /// What is shown for it, when not the command line itself.
    shown: Option<String>,
    env: Vec<(&'static str, &'static str)>,
    succeeds: bool,
    /// Which of its output lines are shown.
    trim: Trim,
    /// Run without showing the command or its output (setting the scene).
    quiet: bool,
}

/// Which lines of a command's output the demo shows; a command whose output was cut says so
/// after it (`# shown: 2 of 9 lines`), so that nothing is hidden silently.
#[derive(Clone, Copy)]
enum Trim {
    /// Everything.
    All,
    /// The first N lines.
    Head(usize),
    /// The lines containing any of these.
    Matching(&'static [&'static str]),
    /// The lines starting with any of these.
    Starting(&'static [&'static str]),
}

impl Trim {
    /// The lines of `text` to show, and how many lines it has (blank lines at its end aside).
    fn apply(self, text: &str) -> (Vec<&str>, usize) {
        let mut lines: Vec<&str> = text.lines().collect();
        while lines.last().is_some_and(|l| l.trim().is_empty()) {
            lines.pop();
        }
        let shown: Vec<&str> = match self {
            Trim::All => lines.clone(),
            Trim::Head(n) => lines.iter().take(n).copied().collect(),
            Trim::Matching(keys) => lines
                .iter()
                .filter(|l| keys.iter().any(|k| l.contains(k)))
                .copied()
                .collect(),
            Trim::Starting(keys) => lines
                .iter()
                .filter(|l| keys.iter().any(|k| l.starts_with(k)))
                .copied()
                .collect(),
        };
        let all = lines.len();
        (shown, all)
    }
}

fn step(program: Program, args: &[&str]) -> Step {
    Step {
        program,
        args: args.iter().map(|a| (*a).to_owned()).collect(),
        shown: None,
        env: Vec::new(),
        succeeds: true,
        trim: Trim::All,
        quiet: false,
    }
}

/// `git args`.
fn git(args: &[&str]) -> Step {
    step(Program::Git, args)
}

/// `git aiflow args`.
fn aiflow(args: &[&str]) -> Step {
    step(Program::Aiflow, args)
}

impl Step {
    /// Show `text` instead of the command line.
    fn shown(mut self, text: &str) -> Self {
        self.shown = Some(text.to_owned());
        self
    }

    /// Set an environment variable.
    fn env(mut self, key: &'static str, value: &'static str) -> Self {
        self.env.push((key, value));
        self
    }

    /// Show only the first `n` lines of its output.
    fn head(mut self, n: usize) -> Self {
        self.trim = Trim::Head(n);
        self
    }

    /// Show only the lines of its output containing one of `keys`.
    fn only(mut self, keys: &'static [&'static str]) -> Self {
        self.trim = Trim::Matching(keys);
        self
    }

    /// Show only the lines of its output starting with one of `keys`.
    fn starting(mut self, keys: &'static [&'static str]) -> Self {
        self.trim = Trim::Starting(keys);
        self
    }

    /// Run it without showing it.
    fn quiet(mut self) -> Self {
        self.quiet = true;
        self
    }

    /// It must be refused.
    fn refused(mut self) -> Self {
        self.succeeds = false;
        self
    }

    /// The command as a user would type it.
    fn command_line(&self) -> String {
        let args: Vec<String> = self.args.iter().map(|a| quote(a)).collect();
        let program = match self.program {
            Program::Git => "git",
            Program::Aiflow => "git aiflow",
        };
        format!("{program} {}", args.join(" "))
    }
}

/// Runs scripts, writing each command and its output to `out`.
struct Runner<'a> {
    out: &'a mut dyn Write,
    exe: &'a Path,
}

impl Runner<'_> {
    fn run(&mut self, script: Script) -> Result<(), WorkError> {
        for action in script.actions {
            match action {
                Action::Say(text) => writeln!(self.out, "{text}")?,
                Action::MakeDir(path, what) => std::fs::create_dir_all(&path)
                    .map_err(|e| WorkError::invalid(what).because(e))?,
                Action::Write(path, text, what) => {
                    std::fs::write(&path, text).map_err(|e| WorkError::invalid(what).because(e))?
                }
                Action::Run(dir, step) => self.step(&dir, &step)?,
            }
        }
        Ok(())
    }

    fn step(&mut self, dir: &Path, s: &Step) -> Result<(), WorkError> {
        let shown = s.shown.clone().unwrap_or_else(|| s.command_line());
        let program = match s.program {
            Program::Git => Path::new("git"),
            Program::Aiflow => self.exe,
        };
        let out = command(program, dir, &format!("`{shown}`"))?
            .args(&s.args)
            .envs(s.env.iter().copied())
            .stdout(Sink::capture())
            .stderr(Sink::capture())
            .run()
            .map_err(|e| process_failed(format!("could not run `{shown}`"), e))?;
        let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
        text.push_str(&String::from_utf8_lossy(&out.stderr));
        if out.status.success() != s.succeeds {
            // Everything it printed, to tell why.
            writeln!(self.out, "$ {shown}")?;
            self.out.write_all(text.as_bytes())?;
            return Err(WorkError::invalid(format!(
                "the demo step `{shown}` {} ({})",
                if s.succeeds {
                    "failed"
                } else {
                    "was expected to be refused"
                },
                out.status
            )));
        }
        if s.quiet {
            return Ok(());
        }
        let (lines, all) = s.trim.apply(&text);
        let mut remarks = Vec::new();
        if !s.succeeds {
            remarks.push(format!(
                "refused, as it should be (exit {})",
                out.status.code().unwrap_or(-1)
            ));
        }
        if lines.len() < all {
            remarks.push(format!("shown: {} of {all} lines", lines.len()));
        }
        if remarks.is_empty() {
            writeln!(self.out, "$ {shown}")?;
        } else {
            writeln!(self.out, "$ {shown}   # {}", remarks.join("; "))?;
        }
        for line in lines {
            writeln!(self.out, "{line}")?;
        }
        Ok(())
    }

    /// Run `git aiflow args` in `dir` and return the string at `pointer` in the JSON it prints;
    /// `missing` is the error message when there is none.
    fn query(
        &self,
        dir: &Path,
        args: &[&str],
        pointer: &str,
        missing: &str,
    ) -> Result<String, WorkError> {
        let unreadable = "could not read the demo plan";
        let out = Process::new(self.exe, "the demo's git-aiflow")
            .args(args)
            .dir(dir)
            .env("GIT_DIR", dir.join(".git"))
            .stdout(Sink::capture())
            .stderr(Sink::capture())
            .run()
            .map_err(|e| process_failed(unreadable, e))?;
        let v: serde_json::Value = serde_json::from_slice(&out.stdout)
            .map_err(|e| WorkError::invalid(unreadable).because(e))?;
        v.pointer(pointer)
            .and_then(|b| b.as_str())
            .map(str::to_string)
            .ok_or_else(|| WorkError::invalid(missing))
    }
}

/// `program` set up to run in `dir` as a demo step: this binary first on PATH (the hook shims
/// run `git aiflow`), the demo's identity, and the demo's repository.
fn command<'p>(program: &Path, dir: &Path, what: &str) -> Result<Process<'p>, WorkError> {
    let exe_dir = binary().ok().and_then(|e| e.parent().map(Path::to_owned));
    let path = std::env::join_paths(exe_dir.into_iter().chain(std::env::split_paths(
        &std::env::var_os("PATH").unwrap_or_default(),
    )))
    .map_err(|e| WorkError::invalid("could not set PATH for the demo").because(e))?;
    let cmd = Process::new(program, what)
        .dir(dir)
        // The demo repository's own identity (Demo User), whatever the environment says.
        .env_remove("GIT_AUTHOR_NAME")
        .env_remove("GIT_AUTHOR_EMAIL")
        .env_remove("GIT_COMMITTER_NAME")
        .env_remove("GIT_COMMITTER_EMAIL")
        .env("PATH", path);
    // Pin the demo's repositories, whatever repository the demo was started in; a step run
    // outside them (a clone) gets neither, or git would clone into the demo's work tree.
    Ok(if dir.join(".git").exists() {
        cmd.env("GIT_DIR", dir.join(".git"))
            .env("GIT_WORK_TREE", dir)
    } else {
        cmd.env_remove("GIT_DIR").env_remove("GIT_WORK_TREE")
    })
}

/// A process that could not be run, with its cause.
fn process_failed(message: impl Into<String>, e: ProcessError) -> WorkError {
    WorkError::Invalid {
        message: message.into(),
        hints: Vec::new(),
        source: Some(crate::git::process::cause(e)),
    }
}

/// Quote an argument for display the way a shell user would type it (a `~` needs no quotes
/// where the shell leaves it alone: not first, nor after `=` or `:`).
fn quote(arg: &str) -> String {
    let plain = |(i, c): (usize, u8)| {
        c.is_ascii_alphanumeric()
            || b"-_./:=@%+,".contains(&c)
            || (c == b'~' && i > 0 && !b"=:".contains(&arg.as_bytes()[i - 1]))
    };
    if !arg.is_empty() && arg.bytes().enumerate().all(plain) {
        arg.to_owned()
    } else {
        format!("'{}'", arg.replace('\'', "'\\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_show_the_command_a_user_would_type() {
        let answer = aiflow(&["answer", "x", "--answer", "1=it's fine"]);
        assert_eq!(
            answer.command_line(),
            "git aiflow answer x --answer '1=it'\\''s fine'"
        );
        assert_eq!(git(&["log", ""]).command_line(), "git log ''");
        assert_eq!(
            git(&["show", "HEAD~1", "~x", "a=~", "b:~"]).command_line(),
            "git show HEAD~1 '~x' 'a=~' 'b:~'"
        );
    }

    #[test]
    fn subtask_ids_come_from_branch_names() {
        assert_eq!(
            subtask_id("aiflow/rate-limit--k3f9ab-token-bucket"),
            "k3f9ab"
        );
        assert_eq!(subtask_id("k3f9ab"), "k3f9ab");
    }

    #[test]
    fn the_remote_and_the_clone_sit_beside_the_demo() {
        let r = Repos::beside(Path::new("/tmp/demo"));
        assert_eq!(r.origin, Path::new("/tmp/demo-origin.git"));
        assert_eq!(r.teammate, Path::new("/tmp/demo-teammate"));
    }
}
