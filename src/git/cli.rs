//! The one place that runs the `git` program, for what gix cannot do: reading objects that sit
//! in a server's quarantine during `pre-receive`, and (later) work-tree updates and the network.
//!
//! Every call returns a typed [`GitError`] naming the command and what git printed.

use std::io::{BufRead, BufReader, BufWriter, Read, Write};
use std::path::Path;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};

/// A failed `git` invocation.
#[derive(Debug, thiserror::Error)]
pub enum GitError {
    /// git could not be started.
    #[error("could not run `git {args}`")]
    Spawn {
        /// The arguments.
        args: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// git exited with an error.
    #[error("`git {args}` failed{}", stderr_suffix(.stderr))]
    Failed {
        /// The arguments.
        args: String,
        /// What git printed on stderr.
        stderr: String,
    },
    /// git's output was not what the protocol promises.
    #[error("`git {args}` answered unexpectedly: {problem}")]
    Protocol {
        /// The arguments.
        args: String,
        /// What was wrong.
        problem: String,
    },
}

fn stderr_suffix(stderr: &str) -> String {
    let s = stderr.trim();
    if s.is_empty() {
        String::new()
    } else {
        format!(": {s}")
    }
}

/// A `git` command run in `dir` (the environment is inherited: hooks rely on `GIT_DIR` and the
/// quarantine variables).
fn command(dir: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::new("git");
    cmd.current_dir(dir).args(args);
    cmd
}

/// Run git and return its stdout; a non-zero exit is an error carrying stderr.
pub fn output(dir: &Path, args: &[&str]) -> Result<Vec<u8>, GitError> {
    let joined = args.join(" ");
    let out = command(dir, args)
        .stdin(Stdio::null())
        .output()
        .map_err(|source| GitError::Spawn {
            args: joined.clone(),
            source,
        })?;
    if !out.status.success() {
        return Err(GitError::Failed {
            args: joined,
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        });
    }
    Ok(out.stdout)
}

/// A running `git cat-file --batch`: reads objects as git sees them, including a server's
/// quarantined objects during `pre-receive`, which gix does not see.
pub struct CatFile {
    child: Child,
    stdin: BufWriter<ChildStdin>,
    stdout: BufReader<ChildStdout>,
    header: Vec<u8>,
}

impl CatFile {
    const ARGS: &'static str = "cat-file --batch";

    /// Start `git cat-file --batch` in `dir`.
    pub fn start(dir: &Path) -> Result<Self, GitError> {
        let mut child = command(dir, &["cat-file", "--batch"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|source| GitError::Spawn {
                args: Self::ARGS.into(),
                source,
            })?;
        let stdin = BufWriter::new(child.stdin.take().expect("piped stdin"));
        let stdout = BufReader::new(child.stdout.take().expect("piped stdout"));
        Ok(CatFile {
            child,
            stdin,
            stdout,
            header: Vec::new(),
        })
    }

    fn protocol(problem: impl Into<String>) -> GitError {
        GitError::Protocol {
            args: Self::ARGS.into(),
            problem: problem.into(),
        }
    }

    /// Read the object named `spec` (an id, or `rev:path`) into `buf`; returns its type, or
    /// `None` when git says it is missing.
    pub fn read(&mut self, spec: &str, buf: &mut Vec<u8>) -> Result<Option<String>, GitError> {
        let io = |e: std::io::Error| Self::protocol(e.to_string());
        writeln!(self.stdin, "{spec}").map_err(io)?;
        self.stdin.flush().map_err(io)?;
        self.header.clear();
        self.stdout
            .read_until(b'\n', &mut self.header)
            .map_err(io)?;
        let header = String::from_utf8_lossy(&self.header).trim_end().to_owned();
        if header.is_empty() {
            return Err(Self::protocol("git stopped answering"));
        }
        if header.ends_with(" missing") || header.ends_with(" ambiguous") {
            return Ok(None);
        }
        let mut parts = header.split(' ');
        let (_, kind, size) = (parts.next(), parts.next(), parts.next());
        let (Some(kind), Some(size)) = (kind, size.and_then(|s| s.parse::<usize>().ok())) else {
            return Err(Self::protocol(format!("bad header {header:?}")));
        };
        buf.clear();
        buf.resize(size + 1, 0);
        self.stdout.read_exact(buf).map_err(io)?;
        buf.truncate(size);
        Ok(Some(kind.to_owned()))
    }
}

impl Drop for CatFile {
    fn drop(&mut self) {
        let _ = self.stdin.flush();
        // Closing stdin ends git; reap it so no zombie is left.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
