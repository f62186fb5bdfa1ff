//! A hermetic repository for tests: a private HOME, no global or system git config, fixed and
//! ticking dates, a fixed identity, and git-aiflow run either in-process (the library's
//! `cli::run_in`, with the same environment) or as the real binary.

use std::cell::Cell;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// The binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_git-aiflow");

/// `answer` with the answers to the scripted provider's three questions on the rate-limit flow.
pub const ANSWER_RATE_LIMIT: [&str; 8] = [
    "answer",
    "rate-limit",
    "--answer",
    "1=Redis is authoritative",
    "--answer",
    "2=Fall back to an in-process bucket per server",
    "--answer",
    "3=Last trusted X-Forwarded-For entry",
];

/// The reviewer of the tests.
pub const GRACE: &str = "Grace Hopper <grace@example.com>";

/// The environment a command runs in as Grace, the reviewer (her committer identity).
pub const AS_GRACE: &[(&str, &str)] = &[
    ("GIT_COMMITTER_NAME", "Grace Hopper"),
    ("GIT_COMMITTER_EMAIL", "grace@example.com"),
];

/// The command line of the scripted `command` provider (`fixtures/providers/scripted.sh`): three
/// questions, then a five-subtask plan for the rate-limit flow.
pub fn scripted_provider() -> String {
    format!("sh '{}'", fixture("providers/scripted.sh").display())
}

/// The repository's fixtures directory.
pub fn fixture(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures")
        .join(path)
}

/// What a command printed, and how it exited.
#[derive(Debug, Clone)]
#[must_use]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    /// Run a prepared command and collect what it printed.
    pub fn of(cmd: &mut Command) -> Self {
        Self::from(cmd.output().expect("run command"))
    }

    fn from(out: Output) -> Self {
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// Run a prepared command with `input` on its stdin and collect what it printed.
    pub fn of_stdin(cmd: &mut Command, input: &[u8]) -> Self {
        Self::from(output_with_stdin(cmd, input))
    }

    /// Assert success and return stdout.
    #[track_caller]
    pub fn ok(self) -> String {
        assert_eq!(
            self.code, 0,
            "expected success\nstdout:\n{}\nstderr:\n{}",
            self.stdout, self.stderr
        );
        self.stdout
    }

    /// Assert the exit code and return stderr.
    #[track_caller]
    pub fn fails(self, code: i32) -> String {
        assert_eq!(
            self.code, code,
            "expected exit {code}\nstdout:\n{}\nstderr:\n{}",
            self.stdout, self.stderr
        );
        self.stderr
    }

    /// Parse stdout as JSON.
    #[track_caller]
    pub fn json(self) -> serde_json::Value {
        let out = self.ok();
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("not JSON ({e}):\n{out}"))
    }
}

/// A repository in a temporary directory.
pub struct TestRepo {
    _tmp: tempfile::TempDir,
    /// The directory commands run in (the work tree, or the git dir when bare).
    pub path: PathBuf,
    home: PathBuf,
    tick: Cell<u64>,
}

/// `PATH` with the binary under test first, so that `git aiflow` and the hook shims find it.
/// Computed once, from the `PATH` the tests started with (in-process runs change the process's
/// environment).
pub fn path_with_bin() -> std::ffi::OsString {
    static PATH: std::sync::OnceLock<OsString> = std::sync::OnceLock::new();
    PATH.get_or_init(|| {
        let bin_dir = Path::new(BIN).parent().expect("binary directory");
        let mut dirs = vec![bin_dir.to_owned()];
        dirs.extend(std::env::split_paths(
            &std::env::var_os("PATH").unwrap_or_default(),
        ));
        std::env::join_paths(dirs).expect("PATH")
    })
    .clone()
}

/// Where the tests' repositories live: `AIFLOW_TEST_TMPDIR` when set, else a memory file
/// system (`/dev/shm`) when there is a writable one, else the system's temporary directory.
///
/// The suite creates and deletes some 100,000 files; on ext4 the inode allocator's search
/// past recently deleted inodes costs more than the git commands that create them (measured:
/// the suite's system time halves on tmpfs). Every git behaviour the tests rely on is the same
/// on tmpfs.
fn temp_base() -> PathBuf {
    static BASE: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    BASE.get_or_init(|| {
        if let Some(dir) = std::env::var_os("AIFLOW_TEST_TMPDIR") {
            return dir.into();
        }
        let shm = Path::new("/dev/shm");
        if tempfile::tempdir_in(shm).is_ok_and(|probe| probe.close().is_ok()) {
            shm.to_owned()
        } else {
            std::env::temp_dir()
        }
    })
    .clone()
}

/// `program` as a path: looked up once in [`path_with_bin`] when it has no `/`.
///
/// A command whose environment sets `PATH` and whose program is a bare name is started by
/// the standard library with `fork` rather than `posix_spawn` (the child must search the new
/// `PATH`), and forking this large, many-threaded test process costs more than the git it
/// starts. With the program's path the library spawns without copying the process.
fn resolve(program: &str) -> PathBuf {
    static FOUND: std::sync::Mutex<Vec<(String, PathBuf)>> = std::sync::Mutex::new(Vec::new());
    if program.contains('/') {
        return PathBuf::from(program);
    }
    let mut found = FOUND.lock().unwrap_or_else(|e| e.into_inner());
    if let Some((_, path)) = found.iter().find(|(name, _)| name == program) {
        return path.clone();
    }
    let path = std::env::split_paths(&path_with_bin())
        .map(|dir| dir.join(program))
        .find(|p| p.is_file())
        .unwrap_or_else(|| PathBuf::from(program));
    found.push((program.to_owned(), path.clone()));
    path
}

/// Run `cmd` with `input` on stdin, written from another thread so that a large output cannot
/// deadlock; a program that exits without reading everything is not an error.
pub fn output_with_stdin(cmd: &mut Command, input: &[u8]) -> Output {
    use std::io::Write;
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let mut stdin = child.stdin.take().expect("stdin");
    let input = input.to_vec();
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(&input);
    });
    let out = child.wait_with_output().expect("wait");
    writer.join().expect("stdin writer");
    out
}

/// 2026-01-01T00:00:00Z.
const EPOCH: u64 = 1_767_225_600;

/// The fixed part of the hermetic environment: no global or system config, a fixed identity,
/// UTC, the C locale, no colour, no terminal, no editor.
const FIXED_ENV: &[(&str, &str)] = &[
    ("GIT_CONFIG_GLOBAL", "/dev/null"),
    ("GIT_CONFIG_NOSYSTEM", "1"),
    ("GIT_AUTHOR_NAME", "Ada Lovelace"),
    ("GIT_AUTHOR_EMAIL", "ada@example.com"),
    ("GIT_COMMITTER_NAME", "Ada Lovelace"),
    ("GIT_COMMITTER_EMAIL", "ada@example.com"),
    ("TZ", "UTC"),
    ("LANG", "C"),
    ("LC_ALL", "C"),
    ("TERM", "dumb"),
    ("NO_COLOR", "1"),
    ("GIT_EDITOR", "false"),
];

/// Variables of the test process's own environment that an in-process command keeps: the
/// runner's, and the opt-in settings of the tests themselves. Everything else (the developer's
/// `GIT_*`, editors, pagers, proxies, API keys) is removed, as `env_clear` does for a binary.
const KEEP_ENV: &[&str] = &["TMPDIR", "AIFLOW_MODEL_DIR", "AIFLOW_UPDATE_SNAPSHOTS"];

/// One in-process command at a time: the environment is the process's.
static IN_PROCESS: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Run git-aiflow in-process in `dir` with exactly the environment `vars` (plus [`KEEP_ENV`]),
/// as [`TestRepo::command_in`] gives the binary, and collect what it wrote and its exit code.
pub fn in_process(dir: &Path, args: &[&str], vars: &[(String, OsString)]) -> Run {
    let _one = IN_PROCESS.lock().unwrap_or_else(|e| e.into_inner());
    for (k, v) in vars {
        // SAFETY: in-process commands run one at a time under IN_PROCESS, and the other test
        // threads only start processes with `env_clear`, whose PATH comes from
        // `path_with_bin`, computed once.
        unsafe { std::env::set_var(k, v) };
    }
    for (k, _) in std::env::vars_os() {
        let keep = k.to_str().is_some_and(|k| {
            vars.iter().any(|(v, _)| v == k)
                || KEEP_ENV.contains(&k)
                || ["CARGO", "RUST", "AIFLOW_TEST_"]
                    .iter()
                    .any(|p| k.starts_with(p))
        });
        if !keep {
            // SAFETY: as above.
            unsafe { std::env::remove_var(&k) };
        }
    }
    let out = Capture::default();
    let err = Capture::default();
    let argv = std::iter::once("git-aiflow").chain(args.iter().copied());
    let code = git_aiflow::cli::run_in(dir, argv, Box::new(out.clone()), Box::new(err.clone()));
    Run {
        code: code as i32,
        stdout: out.text(),
        stderr: err.text(),
    }
}

/// A writer whose bytes the test reads afterwards.
#[derive(Clone, Default)]
struct Capture(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl Capture {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap_or_else(|e| e.into_inner())).into_owned()
    }
}

impl std::io::Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl TestRepo {
    /// Plan with the scripted provider ([`scripted_provider`]) from now on.
    pub fn use_scripted_provider(&self) {
        self.git(&["config", "aiflow.provider", "command"]);
        self.git(&["config", "aiflow.command", &scripted_provider()]);
    }

    /// Plan the rate-limit flow (started with [`TestRepo::new_rate_limit`]) with the scripted
    /// provider: its three questions asked and answered, then its five-subtask plan.
    pub fn plan_rate_limit_scripted(&self) {
        self.use_scripted_provider();
        self.aiflow(&["plan", "rate-limit"]).ok();
        self.aiflow(&ANSWER_RATE_LIMIT).ok();
        self.aiflow(&["plan", "rate-limit"]).ok();
    }

    /// A repository on `main` with one commit.
    pub fn new() -> Self {
        let repo = Self::empty();
        repo.write("README.md", "# test\n");
        repo.git(&["add", "README.md"]);
        repo.git(&["commit", "-q", "-m", "Initial commit"]);
        repo
    }

    /// A repository on `main` with no commits.
    pub fn empty() -> Self {
        let repo = Self::bare_dir();
        repo.git(&["init", "-q", "-b", "main"]);
        repo
    }

    /// An empty directory (no repository yet), with the hermetic environment.
    pub fn bare_dir() -> Self {
        let tmp = tempfile::tempdir_in(temp_base()).expect("temp dir");
        let path = tmp.path().join("repo");
        let home = tmp.path().join("home");
        std::fs::create_dir_all(&path).expect("mkdir");
        std::fs::create_dir_all(&home).expect("mkdir");
        TestRepo {
            _tmp: tmp,
            path,
            home,
            tick: Cell::new(0),
        }
    }

    /// Another directory inside the same temporary directory (for clones and worktrees).
    pub fn sibling(&self, name: &str) -> PathBuf {
        self.path.parent().expect("parent").join(name)
    }

    /// A command with the hermetic environment, run in `dir`.
    pub fn command_in(&self, program: &str, dir: &Path) -> Command {
        let t = self.tick.get() + 1;
        self.tick.set(t);
        let date = format!("{} +0000", EPOCH + t * 60);
        let mut cmd = Command::new(resolve(program));
        cmd.current_dir(dir)
            .env_clear()
            .envs(self.hermetic_env(&date, &[]))
            .stdin(Stdio::null());
        cmd
    }

    /// A command with the hermetic environment, run in the repository.
    pub fn command(&self, program: &str) -> Command {
        self.command_in(program, &self.path)
    }

    /// Run git-aiflow with `args`, in-process.
    pub fn aiflow(&self, args: &[&str]) -> Run {
        self.aiflow_env(args, &[])
    }

    /// Run git-aiflow with `args` and `env`, in-process: the library's `cli::run_in`, in the
    /// environment the binary would get (see [`in_process`]).
    pub fn aiflow_env(&self, args: &[&str], env: &[(&str, &str)]) -> Run {
        let t = self.tick.get() + 1;
        self.tick.set(t);
        let date = format!("{} +0000", EPOCH + t * 60);
        in_process(&self.path, args, &self.hermetic_env(&date, env))
    }

    /// Run the real `git-aiflow` binary with `args`: the end-to-end path (process start,
    /// argument decoding, `-C`, the process's streams and exit code).
    pub fn aiflow_bin(&self, args: &[&str]) -> Run {
        self.aiflow_bin_env(args, &[])
    }

    /// [`aiflow_bin`](Self::aiflow_bin) with `env`.
    pub fn aiflow_bin_env(&self, args: &[&str], env: &[(&str, &str)]) -> Run {
        Run::of(self.command(BIN).args(args).envs(env.iter().copied()))
    }

    /// The variables [`command_in`](Self::command_in) sets, with `date` and then `extra`.
    fn hermetic_env(&self, date: &str, extra: &[(&str, &str)]) -> Vec<(String, OsString)> {
        let mut vars: Vec<(String, OsString)> = vec![
            ("PATH".into(), path_with_bin()),
            ("HOME".into(), self.home.clone().into()),
            ("XDG_CONFIG_HOME".into(), self.home.join(".config").into()),
        ];
        for (k, v) in FIXED_ENV
            .iter()
            .chain(&[("GIT_AUTHOR_DATE", date), ("GIT_COMMITTER_DATE", date)])
        {
            vars.push(((*k).into(), (*v).into()));
        }
        for (k, v) in extra {
            vars.push(((*k).into(), (*v).into()));
        }
        vars
    }

    /// Run `git-aiflow` with `args`, feeding `input` on stdin.
    pub fn aiflow_stdin(&self, args: &[&str], input: &[u8]) -> Run {
        Run::from(output_with_stdin(self.command(BIN).args(args), input))
    }

    /// Run git, asserting success; returns stdout.
    #[track_caller]
    pub fn git(&self, args: &[&str]) -> String {
        self.git_run(args).ok()
    }

    /// Run git without asserting.
    pub fn git_run(&self, args: &[&str]) -> Run {
        Run::from(self.command("git").args(args).output().expect("run git"))
    }

    /// Run git with `env`, asserting success.
    #[track_caller]
    pub fn git_env(&self, args: &[&str], env: &[(&str, &str)]) -> String {
        let mut cmd = self.command("git");
        cmd.args(args);
        for (k, v) in env {
            cmd.env(k, v);
        }
        Run::from(cmd.output().expect("run git")).ok()
    }

    /// Run git, feeding `input` on stdin, asserting success.
    #[track_caller]
    pub fn git_stdin(&self, args: &[&str], input: &str) -> String {
        Run::from(output_with_stdin(
            self.command("git").args(args),
            input.as_bytes(),
        ))
        .ok()
    }

    /// Replace the aiflow note on `object` with `text`, with plain git, as anyone with write
    /// access could.
    #[track_caller]
    pub fn set_note(&self, object: &str, text: &str) {
        self.git_stdin(
            &["notes", "--ref=aiflow", "add", "-f", "-F", "-", object],
            text,
        );
    }

    /// Write a file in the repository.
    pub fn write(&self, rel: &str, content: &str) -> PathBuf {
        let p = self.path.join(rel);
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent).expect("mkdir");
        }
        std::fs::write(&p, content).expect("write");
        p
    }

    /// Write a file next to the repository (outside its work tree) and return its path.
    pub fn outside(&self, name: &str, bytes: &[u8]) -> PathBuf {
        let p = self.sibling(name);
        std::fs::write(&p, bytes).expect("write");
        p
    }

    /// An executable shell script next to the repository, for GIT_EDITOR and the like.
    pub fn script(&self, name: &str, body: &str) -> PathBuf {
        use std::os::unix::fs::PermissionsExt;
        let p = self.outside(name, format!("#!/bin/sh\n{body}\n").as_bytes());
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        p
    }

    /// `git rev-parse <rev>`, or `None`.
    pub fn rev(&self, rev: &str) -> Option<String> {
        let r = self.git_run(&["rev-parse", "--verify", "-q", rev]);
        (r.code == 0).then(|| r.stdout.trim().to_string())
    }

    /// Every ref and its value: what a failed command must leave untouched.
    pub fn refs(&self) -> String {
        self.git_run(&["for-each-ref", "--format=%(refname) %(objectname)"])
            .stdout
    }

    /// Start the rate-limit flow from the fixture spec.
    pub fn new_rate_limit(&self) {
        self.aiflow(&["init"]).ok();
        let spec = fixture("specs/rate-limit.md");
        self.aiflow(&[
            "new",
            "rate-limit",
            "-F",
            spec.to_str().expect("utf-8 path"),
        ])
        .ok();
    }

    /// Plan the rate-limit flow (started with [`TestRepo::new_rate_limit`]) with `subtasks`
    /// (`(id, title)`, all `core`, in order), the way a user would: a model (the `command`
    /// provider, answering from a script) asks nothing and proposes one subtask, and a
    /// `plan edit -F` replaces it with these. The provider settings are removed afterwards.
    pub fn plan_subtasks(&self, subtasks: &[(&str, &str)]) {
        self.git(&["config", "aiflow.provider", "command"]);
        self.git(&[
            "config",
            "aiflow.command",
            r#"if [ "$AIFLOW_TEMPLATE" = questions ]; then echo '{"questions": []}'; else echo '{"subtasks": [{"id": "x", "title": "Placeholder", "phase": "core", "description": "", "files": [], "depends_on": []}]}'; fi"#,
        ]);
        self.aiflow(&["plan", "rate-limit"]).ok();
        self.aiflow(&["plan", "rate-limit"]).ok();
        let mut toml = String::new();
        for (id, title) in subtasks {
            toml.push_str(&format!(
                "[[subtask]]\nid = \"{id}\"\ntitle = \"{title}\"\nphase = \"core\"\n\n"
            ));
        }
        let file = self.outside("plan-edit.toml", toml.as_bytes());
        self.aiflow(&[
            "plan",
            "edit",
            "rate-limit",
            "-F",
            file.to_str().expect("utf-8"),
        ])
        .ok();
        self.git(&["config", "--unset", "aiflow.provider"]);
        self.git(&["config", "--unset", "aiflow.command"]);
    }

    /// `git fsck --strict` must be clean.
    #[track_caller]
    pub fn fsck(&self) {
        let r = self.git_run(&["fsck", "--strict", "--no-dangling"]);
        assert_eq!(r.code, 0, "fsck failed:\n{}{}", r.stdout, r.stderr);
        assert!(
            r.stderr.trim().is_empty() && r.stdout.trim().is_empty(),
            "fsck reported:\n{}{}",
            r.stdout,
            r.stderr
        );
    }
}

/// `text` must contain `needle`.
#[track_caller]
pub fn assert_has(text: &str, needle: &str) {
    assert!(text.contains(needle), "expected {needle:?} in:\n{text}");
}

/// `text` must not contain `needle`.
#[track_caller]
pub fn assert_lacks(text: &str, needle: &str) {
    assert!(
        !text.contains(needle),
        "did not expect {needle:?} in:\n{text}"
    );
}

// ---------------------------------------------------------------------------------------------
// A git daemon on 127.0.0.1
// ---------------------------------------------------------------------------------------------

/// `git daemon` serving every repository under `base`, pushes allowed; killed when dropped.
pub struct GitDaemon {
    child: std::process::Child,
    /// The port it listens on.
    pub port: u16,
}

/// A port nobody listens on right now.
pub fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    listener.local_addr().expect("local addr").port()
}

impl GitDaemon {
    /// Start the daemon; retried on another port if it does not come up.
    pub fn start(t: &TestRepo, base: &Path) -> Self {
        // Run git-daemon itself rather than `git daemon`: `git` would be a parent process that a
        // kill does not pass on to the daemon.
        let exec_path = t.git(&["--exec-path"]).trim().to_string();
        let program = Path::new(&exec_path).join("git-daemon");
        let program = program.to_str().expect("utf-8 exec path");
        let log = t.sibling("daemon.log");
        for _ in 0..5 {
            let port = free_port();
            let mut child = t
                .command_in(program, base)
                .args([
                    "--reuseaddr",
                    "--export-all",
                    "--enable=receive-pack",
                    "--informative-errors",
                    "--listen=127.0.0.1",
                    &format!("--port={port}"),
                    &format!("--base-path={}", base.display()),
                    base.to_str().expect("utf-8 path"),
                ])
                .stdout(Stdio::null())
                .stderr(std::fs::File::create(&log).expect("daemon log"))
                .spawn()
                .expect("start git daemon");
            let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
            loop {
                if std::net::TcpStream::connect_timeout(
                    &addr,
                    std::time::Duration::from_millis(200),
                )
                .is_ok()
                {
                    return GitDaemon { child, port };
                }
                if matches!(child.try_wait(), Ok(Some(_))) {
                    break;
                }
                if std::time::Instant::now() > deadline {
                    let _ = child.kill();
                    let _ = child.wait();
                    break;
                }
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
        }
        panic!(
            "git daemon did not come up:\n{}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
    }

    /// The URL of repository `repo` under the base path.
    pub fn url(&self, repo: &str) -> String {
        format!("git://127.0.0.1:{}/{repo}", self.port)
    }
}

impl Drop for GitDaemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
