//! The one way git-aiflow starts a process: git ([`super::cli`]), the coding agent, the
//! provider command, the editor, the pager and the hooks a shim chains to all go through
//! [`Process::run`], which feeds standard input from a thread, collects or forwards the output
//! as it comes, enforces a timeout, and fails with a typed [`ProcessError`] naming the command.
//!
//! Output is read on threads and written by the calling thread, so a [`Sink::Forward`] writer
//! need not be `Send` (the command's own output stream is not), and a child that writes more
//! than a limit keeps running instead of blocking on a full pipe: what is over the limit is
//! read and dropped.

use std::ffi::OsStr;
use std::io::{Read, Write};
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// How often a running child is checked for exit and timeout when it writes nothing.
const POLL: Duration = Duration::from_millis(20);

/// How often a child with a time limit whose pipes are closed is checked for exit.
const EXIT_POLL: Duration = Duration::from_millis(2);

/// What a child reads on standard input.
#[derive(Debug, Default)]
pub enum Input {
    /// Nothing (`/dev/null`).
    #[default]
    Null,
    /// Ours: the user's terminal, for an editor or a hook.
    Inherit,
    /// These bytes, then end of file. A child that exits without reading them all is not an
    /// error.
    Bytes(Vec<u8>),
}

/// Where a child's standard output or error goes.
#[derive(Default)]
pub enum Sink<'a> {
    /// Nowhere.
    Null,
    /// To ours, unchanged (a terminal stays a terminal).
    #[default]
    Inherit,
    /// To our standard error, whichever stream this is (a child's output kept off a standard
    /// output that carries JSON).
    OurStderr,
    /// Into [`Finished::stdout`] or [`Finished::stderr`], at most `limit` bytes (the rest is
    /// read and dropped).
    Capture {
        /// The most bytes kept.
        limit: usize,
    },
    /// Written to this writer as it comes.
    Forward(&'a mut dyn Write),
    /// Standard error only: wherever standard output goes, interleaved as it comes.
    AsStdout,
}

impl Sink<'_> {
    /// Everything, into [`Finished`].
    pub fn capture() -> Self {
        Sink::Capture { limit: usize::MAX }
    }

    fn stdio(&self) -> Stdio {
        match self {
            Sink::Null => Stdio::null(),
            Sink::Inherit => Stdio::inherit(),
            Sink::OurStderr => {
                use std::os::fd::AsFd;
                std::io::stderr()
                    .as_fd()
                    .try_clone_to_owned()
                    .map(Stdio::from)
                    .unwrap_or_else(|_| Stdio::inherit())
            }
            Sink::Capture { .. } | Sink::Forward(_) | Sink::AsStdout => Stdio::piped(),
        }
    }
}

/// A process to start.
pub struct Process<'a> {
    what: String,
    command: Command,
    stdin: Input,
    stdout: Sink<'a>,
    stderr: Sink<'a>,
    timeout: Option<Duration>,
    own_group: bool,
}

/// A process that ran to its end.
#[derive(Debug)]
pub struct Finished {
    /// How it exited.
    pub status: ExitStatus,
    /// Its standard output, when captured.
    pub stdout: Vec<u8>,
    /// Its standard error, when captured.
    pub stderr: Vec<u8>,
}

impl Finished {
    /// Whether it exited 0.
    pub fn success(&self) -> bool {
        self.status.success()
    }

    /// Its exit code; `None` when a signal ended it.
    pub fn code(&self) -> Option<i32> {
        self.status.code()
    }

    /// Its standard error as text.
    pub fn stderr_text(&self) -> String {
        String::from_utf8_lossy(&self.stderr).into_owned()
    }
}

/// A process that could not be run to its end.
#[derive(Debug, thiserror::Error)]
pub enum ProcessError {
    /// It could not be started (no such program, no permission, a bad directory).
    #[error("could not start {what}")]
    Start {
        /// The command, as the user would recognise it.
        what: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// Waiting for it, or reading what it wrote, failed.
    #[error("could not wait for {what}")]
    Wait {
        /// The command.
        what: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// It did not finish in time, and was killed.
    #[error("{what} did not finish within {} s; it was stopped", .after.as_secs())]
    TimedOut {
        /// The command.
        what: String,
        /// The limit.
        after: Duration,
    },
}

impl<'a> Process<'a> {
    /// `program` with no arguments yet, in the current directory, with our environment, no
    /// input, output inherited and no time limit. `what` names it in errors (for example
    /// "`git status`" or "the agent `claude -p`").
    pub fn new(program: impl AsRef<OsStr>, what: impl Into<String>) -> Self {
        Process {
            what: what.into(),
            command: Command::new(program),
            stdin: Input::Null,
            stdout: Sink::Inherit,
            stderr: Sink::Inherit,
            timeout: None,
            own_group: false,
        }
    }

    /// A command line run by `sh -c`, as git runs `core.editor`, `core.pager` and aliases: the
    /// shell splits it, and `args` follow as `"$@"`.
    pub fn shell(command_line: &str, args: &[&OsStr], what: impl Into<String>) -> Self {
        let mut p = Process::new("sh", what);
        if args.is_empty() {
            p.command.arg("-c").arg(command_line);
        } else {
            p.command
                .arg("-c")
                .arg(format!("{command_line} \"$@\""))
                .arg(command_line)
                .args(args);
        }
        p
    }

    /// Add arguments.
    pub fn args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.command.args(args);
        self
    }

    /// Run in `dir`.
    pub fn dir(mut self, dir: impl AsRef<Path>) -> Self {
        self.command.current_dir(dir);
        self
    }

    /// Set an environment variable.
    pub fn env(mut self, key: impl AsRef<OsStr>, value: impl AsRef<OsStr>) -> Self {
        self.command.env(key, value);
        self
    }

    /// Remove an environment variable.
    pub fn env_remove(mut self, key: impl AsRef<OsStr>) -> Self {
        self.command.env_remove(key);
        self
    }

    /// Set environment variables.
    pub fn envs<I, K, V>(mut self, vars: I) -> Self
    where
        I: IntoIterator<Item = (K, V)>,
        K: AsRef<OsStr>,
        V: AsRef<OsStr>,
    {
        self.command.envs(vars);
        self
    }

    /// What it reads.
    pub fn stdin(mut self, input: Input) -> Self {
        self.stdin = input;
        self
    }

    /// Where its standard output goes.
    pub fn stdout(mut self, sink: Sink<'a>) -> Self {
        self.stdout = sink;
        self
    }

    /// Where its standard error goes.
    pub fn stderr(mut self, sink: Sink<'a>) -> Self {
        self.stderr = sink;
        self
    }

    /// Kill it when it runs longer than `limit`.
    pub fn timeout(mut self, limit: Option<Duration>) -> Self {
        self.timeout = limit;
        self
    }

    /// Run it in a process group of its own, so that what it starts ends with it: at its time
    /// limit the whole group is killed, what it left running when it exited too, and an
    /// interrupt or termination of ours is passed on to the group. For commands that start
    /// others (a test suite) and read no terminal.
    pub fn own_group(mut self) -> Self {
        self.own_group = true;
        self
    }

    /// Start it, feed its input, route its output, and wait for it (or kill it at the time
    /// limit).
    pub fn run(mut self) -> Result<Finished, ProcessError> {
        let what = std::mem::take(&mut self.what);
        self.command
            .stdin(match self.stdin {
                Input::Null => Stdio::null(),
                Input::Inherit => Stdio::inherit(),
                Input::Bytes(_) => Stdio::piped(),
            })
            .stdout(self.stdout.stdio())
            .stderr(self.stderr.stdio());
        if self.own_group {
            use std::os::unix::process::CommandExt;
            self.command.process_group(0);
        }
        let start = Instant::now();
        let mut child = self.command.spawn().map_err(|source| ProcessError::Start {
            what: what.clone(),
            source,
        })?;
        let group = self.own_group.then(|| group::Guard::new(&child));
        let writer = match (std::mem::take(&mut self.stdin), child.stdin.take()) {
            (Input::Bytes(bytes), Some(mut pipe)) => Some(std::thread::spawn(move || {
                // A child that exits without reading everything closes the pipe: not an error.
                let _ = pipe.write_all(&bytes);
            })),
            _ => None,
        };
        let forwards = |sink: &Sink<'_>| matches!(sink, Sink::Forward(_) | Sink::AsStdout);
        if self.timeout.is_none() && !forwards(&self.stdout) && !forwards(&self.stderr) {
            // Nothing to forward as it comes and no time limit (git's own calls): the standard
            // library reads both pipes on this thread.
            let out = child
                .wait_with_output()
                .map_err(|source| ProcessError::Wait { what, source })?;
            if let Some(w) = writer {
                let _ = w.join();
            }
            let keep = |sink: &Sink<'_>, mut bytes: Vec<u8>| match sink {
                Sink::Capture { limit } => {
                    bytes.truncate(*limit);
                    bytes
                }
                _ => Vec::new(),
            };
            return Ok(Finished {
                status: out.status,
                stdout: keep(&self.stdout, out.stdout),
                stderr: keep(&self.stderr, out.stderr),
            });
        }
        let (tx, rx) = mpsc::channel::<(Stream, Vec<u8>)>();
        let mut readers = Vec::new();
        if let Some(out) = child.stdout.take() {
            readers.push(read_into(out, Stream::Out, tx.clone()));
        }
        if let Some(err) = child.stderr.take() {
            readers.push(read_into(err, Stream::Err, tx.clone()));
        }
        drop(tx);
        let mut routed = Routed::default();
        let deadline = self.timeout.map(|t| start + t);
        let status = loop {
            match rx.recv_timeout(POLL) {
                Ok((stream, chunk)) => {
                    routed.take(stream, &mut self.stdout, &mut self.stderr, &chunk);
                }
                Err(mpsc::RecvTimeoutError::Disconnected) if deadline.is_none() => {
                    // Everything it wrote is in, and there is no time limit: wait for its exit
                    // (polling here could sleep after the pipes closed and before it exited).
                    match child.wait() {
                        Ok(status) => break status,
                        Err(source) => {
                            kill(&mut child);
                            return Err(ProcessError::Wait { what, source });
                        }
                    }
                }
                Err(mpsc::RecvTimeoutError::Timeout | mpsc::RecvTimeoutError::Disconnected) => {}
            }
            match child.try_wait() {
                Ok(Some(status)) => break status,
                Ok(None) if deadline.is_some_and(|d| Instant::now() >= d) => {
                    kill(&mut child);
                    return Err(ProcessError::TimedOut {
                        what,
                        after: self.timeout.unwrap_or_default(),
                    });
                }
                Ok(None) => {
                    if readers.iter().all(|r| r.is_finished()) {
                        // Its pipes are closed: it is exiting, or runs on without output.
                        std::thread::sleep(EXIT_POLL);
                    }
                }
                Err(source) => {
                    kill(&mut child);
                    return Err(ProcessError::Wait { what, source });
                }
            }
        };
        // What it left running in its own group goes with it.
        if let Some(g) = &group {
            g.kill_all();
        }
        // The rest of what it wrote. A grandchild that kept the pipes open could hold them
        // forever: past the deadline, what it writes is not waited for.
        loop {
            let wait = match deadline {
                Some(d) => d.saturating_duration_since(Instant::now()),
                None => Duration::from_secs(u64::MAX / 4),
            };
            match rx.recv_timeout(wait.max(Duration::from_millis(1))) {
                Ok((stream, chunk)) => {
                    routed.take(stream, &mut self.stdout, &mut self.stderr, &chunk);
                }
                Err(_) => break,
            }
        }
        if let Some(w) = writer {
            let _ = w.join();
        }
        if let Some(e) = routed.failed {
            return Err(ProcessError::Wait { what, source: e });
        }
        Ok(Finished {
            status,
            stdout: routed.out,
            stderr: routed.err,
        })
    }
}

impl Process<'_> {
    /// Run `self | next`: this process's standard output is `next`'s input, both run at once.
    /// Standard errors, and `next`'s output, are captured whatever the sinks say; there is no
    /// time limit. Returns both ends, this one's without stdout.
    pub fn pipe(mut self, mut next: Process<'_>) -> Result<(Finished, Finished), ProcessError> {
        let what = std::mem::take(&mut self.what);
        let next_what = std::mem::take(&mut next.what);
        let input = std::mem::take(&mut self.stdin);
        self.command
            .stdin(match input {
                Input::Null => Stdio::null(),
                Input::Inherit => Stdio::inherit(),
                Input::Bytes(_) => Stdio::piped(),
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut first = self.command.spawn().map_err(|source| ProcessError::Start {
            what: what.clone(),
            source,
        })?;
        let Some(link) = first.stdout.take() else {
            kill(&mut first);
            return Err(ProcessError::Wait {
                what,
                source: std::io::Error::other("no pipe to its output"),
            });
        };
        let second = next
            .command
            .stdin(Stdio::from(link))
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn();
        let second = match second {
            Ok(child) => child,
            Err(source) => {
                kill(&mut first);
                return Err(ProcessError::Start {
                    what: next_what,
                    source,
                });
            }
        };
        let writer = match (input, first.stdin.take()) {
            (Input::Bytes(bytes), Some(mut pipe)) => Some(std::thread::spawn(move || {
                let _ = pipe.write_all(&bytes);
            })),
            _ => None,
        };
        let first_err = first.stderr.take().map(|mut e| {
            std::thread::spawn(move || {
                let mut buf = Vec::new();
                let _ = e.read_to_end(&mut buf);
                buf
            })
        });
        let out = second
            .wait_with_output()
            .map_err(|source| ProcessError::Wait {
                what: next_what,
                source,
            })?;
        if let Some(w) = writer {
            let _ = w.join();
        }
        let status = first
            .wait()
            .map_err(|source| ProcessError::Wait { what, source })?;
        let stderr = first_err.and_then(|t| t.join().ok()).unwrap_or_default();
        Ok((
            Finished {
                status,
                stdout: Vec::new(),
                stderr,
            },
            Finished {
                status: out.status,
                stdout: out.stdout,
                stderr: out.stderr,
            },
        ))
    }
}

/// No editor to start.
#[derive(Debug, thiserror::Error)]
#[error("the terminal is dumb and no editor is set")]
pub struct NoEditor;

impl NoEditor {
    /// What to do about it.
    pub fn hint(&self) -> &'static str {
        "give the text with -m or -F, or set GIT_EDITOR, core.editor or EDITOR"
    }
}

/// The editor git would use: `GIT_EDITOR`, `core.editor`, `VISUAL` (unless the terminal is dumb),
/// `EDITOR`, then `vi`; none on a dumb terminal.
pub fn editor(repo: &gix::Repository) -> Result<String, NoEditor> {
    if let Some(e) = std::env::var_os("GIT_EDITOR").filter(|v| !v.is_empty()) {
        return Ok(e.to_string_lossy().into_owned());
    }
    if let Some(e) = repo
        .config_snapshot()
        .string("core.editor")
        .filter(|v| !v.is_empty())
    {
        return Ok(e.to_string());
    }
    let dumb = std::env::var("TERM").map(|t| t == "dumb").unwrap_or(true);
    if !dumb && let Some(e) = std::env::var_os("VISUAL").filter(|v| !v.is_empty()) {
        return Ok(e.to_string_lossy().into_owned());
    }
    if let Some(e) = std::env::var_os("EDITOR").filter(|v| !v.is_empty()) {
        return Ok(e.to_string_lossy().into_owned());
    }
    if dumb {
        return Err(NoEditor);
    }
    Ok("vi".to_string())
}

/// Let the user edit `file` with `editor` (a command line, as `GIT_EDITOR` or `core.editor` give
/// it), on the terminal, in `dir`; returns how the editor exited. As git does, the shell splits
/// the command line and the file follows as `"$@"`.
pub fn edit(editor: &str, file: &Path, dir: &Path) -> Result<ExitStatus, ProcessError> {
    Process::shell(
        editor,
        &[file.as_os_str()],
        format!("the editor `{editor}`"),
    )
    .dir(dir)
    .stdin(Input::Inherit)
    .run()
    .map(|done| done.status)
}

/// The underlying cause of `e`, for an error that names the command itself already: the
/// system's error, or for a timeout, the timeout.
pub fn cause(e: ProcessError) -> Box<dyn std::error::Error + Send + Sync> {
    match e {
        ProcessError::Start { source, .. } | ProcessError::Wait { source, .. } => Box::new(source),
        e @ ProcessError::TimedOut { .. } => Box::new(e),
    }
}

impl std::fmt::Debug for Process<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Process")
            .field("what", &self.what)
            .field("command", &self.command)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Clone, Copy)]
enum Stream {
    Out,
    Err,
}

/// What has come in so far.
#[derive(Default)]
struct Routed {
    out: Vec<u8>,
    err: Vec<u8>,
    /// A forward writer failed; the child keeps running to its end, its output dropped.
    failed: Option<std::io::Error>,
}

impl Routed {
    fn take<'s>(&mut self, stream: Stream, out: &mut Sink<'s>, err: &mut Sink<'s>, chunk: &[u8]) {
        let (stream, sink) = match (stream, &*err) {
            (Stream::Out, _) | (Stream::Err, Sink::AsStdout) => (Stream::Out, out),
            (Stream::Err, _) => (Stream::Err, err),
        };
        match sink {
            Sink::Capture { limit } => {
                let buf = match stream {
                    Stream::Out => &mut self.out,
                    Stream::Err => &mut self.err,
                };
                let room = limit.saturating_sub(buf.len());
                buf.extend_from_slice(&chunk[..room.min(chunk.len())]);
            }
            Sink::Forward(w) if self.failed.is_none() => {
                if let Err(e) = w.write_all(chunk).and_then(|()| w.flush()) {
                    self.failed = Some(e);
                }
            }
            Sink::Forward(_) | Sink::Null | Sink::Inherit | Sink::OurStderr | Sink::AsStdout => {}
        }
    }
}

/// Read `pipe` to its end on a thread, sending each chunk.
fn read_into(
    mut pipe: impl Read + Send + 'static,
    stream: Stream,
    tx: mpsc::Sender<(Stream, Vec<u8>)>,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let mut buf = vec![0; 64 * 1024];
        loop {
            match pipe.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => {
                    if tx.send((stream, buf[..n].to_vec())).is_err() {
                        break;
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(_) => break,
            }
        }
    })
}

fn kill(child: &mut Child) {
    let _ = child.kill();
    let _ = child.wait();
}

/// Process groups of children run with [`Process::own_group`].
mod group {
    use std::process::Child;
    use std::sync::atomic::{AtomicI32, Ordering};

    /// The group of the child running now (0: none).
    static CURRENT: AtomicI32 = AtomicI32::new(0);

    /// The signals passed on to the group.
    const SIGNALS: [libc::c_int; 3] = [libc::SIGINT, libc::SIGTERM, libc::SIGHUP];

    /// While alive, an interrupt or termination of ours kills the group first; when dropped
    /// (the child has exited, or was killed at its time limit), whatever is left in the group
    /// is killed.
    pub struct Guard {
        pgid: libc::pid_t,
        previous: Vec<libc::sighandler_t>,
    }

    impl Guard {
        pub fn new(child: &Child) -> Guard {
            let pgid = child.id() as libc::pid_t;
            CURRENT.store(pgid, Ordering::SeqCst);
            let previous = SIGNALS
                .iter()
                // SAFETY: `on_signal` only calls async-signal-safe functions (kill, signal,
                // raise) and reads an atomic.
                .map(|&sig| unsafe {
                    libc::signal(sig, on_signal as *const () as libc::sighandler_t)
                })
                .collect();
            Guard { pgid, previous }
        }

        /// Kill every process left in the group.
        pub fn kill_all(&self) {
            // SAFETY: a negative pid names the group the child leads; a group that is already
            // empty makes kill fail with ESRCH, which is fine.
            unsafe { libc::kill(-self.pgid, libc::SIGKILL) };
        }
    }

    impl Drop for Guard {
        fn drop(&mut self) {
            for (&sig, &old) in SIGNALS.iter().zip(&self.previous) {
                // SAFETY: restores the handler that was there before `new`.
                unsafe { libc::signal(sig, old) };
            }
            CURRENT.store(0, Ordering::SeqCst);
            self.kill_all();
        }
    }

    extern "C" fn on_signal(sig: libc::c_int) {
        let pgid = CURRENT.load(Ordering::SeqCst);
        // SAFETY: async-signal-safe calls only: kill the child's group, then die of the same
        // signal as we would have without the handler.
        unsafe {
            if pgid > 0 {
                libc::kill(-pgid, libc::SIGKILL);
            }
            libc::signal(sig, libc::SIG_DFL);
            libc::raise(sig);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::OsString;

    #[test]
    fn captures_feeds_and_reports_the_exit() {
        let done = Process::shell("cat; echo err >&2; exit 3", &[], "test")
            .stdin(Input::Bytes(b"hello".to_vec()))
            .stdout(Sink::capture())
            .stderr(Sink::capture())
            .run()
            .expect("runs");
        assert_eq!(done.stdout, b"hello");
        assert_eq!(done.stderr_text(), "err\n");
        assert_eq!(done.code(), Some(3));
    }

    #[test]
    fn forwards_as_it_comes_and_keeps_a_limit() {
        let mut seen = Vec::new();
        let done = Process::shell("printf 'a%.0s' $(seq 1 100000); echo tail >&2", &[], "test")
            .stdout(Sink::Capture { limit: 10 })
            .stderr(Sink::Forward(&mut seen))
            .run()
            .expect("runs");
        assert_eq!(done.stdout, b"aaaaaaaaaa");
        assert!(done.success());
        assert_eq!(seen, b"tail\n");
    }

    #[test]
    fn standard_error_can_follow_standard_output() {
        let mut seen = Vec::new();
        let done = Process::shell("echo out; sleep 0.1; echo err >&2", &[], "test")
            .stdout(Sink::Forward(&mut seen))
            .stderr(Sink::AsStdout)
            .run()
            .expect("runs");
        assert!(done.success());
        assert_eq!(seen, b"out\nerr\n");
    }

    #[test]
    fn shell_arguments_follow_as_positional_parameters() {
        let a = OsString::from("one two");
        let done = Process::shell("printf '%s|'", &[a.as_os_str(), OsStr::new("x")], "test")
            .stdout(Sink::capture())
            .run()
            .expect("runs");
        assert_eq!(done.stdout, b"one two|x|");
    }

    #[test]
    fn a_timeout_kills_and_says_so() {
        let started = Instant::now();
        let e = Process::shell("sleep 5", &[], "the sleeper")
            .timeout(Some(Duration::from_millis(200)))
            .run()
            .expect_err("times out");
        assert!(matches!(e, ProcessError::TimedOut { .. }), "{e}");
        assert_eq!(
            e.to_string(),
            "the sleeper did not finish within 0 s; it was stopped"
        );
        assert!(started.elapsed() < Duration::from_secs(4));
    }

    #[test]
    fn a_pipe_connects_the_two_and_keeps_both_statuses() {
        let (first, second) = Process::shell("cat; echo one >&2; exit 4", &[], "first")
            .stdin(Input::Bytes(b"b\na\n".to_vec()))
            .pipe(Process::new("sort", "second"))
            .expect("runs");
        assert_eq!(first.code(), Some(4));
        assert_eq!(first.stderr_text(), "one\n");
        assert!(second.success());
        assert_eq!(second.stdout, b"a\nb\n");
    }

    #[test]
    fn a_missing_program_is_a_start_error() {
        let e = Process::new("/nonexistent/aiflow-no-such-program", "nothing")
            .run()
            .expect_err("cannot start");
        assert!(matches!(e, ProcessError::Start { .. }), "{e}");
    }
}
