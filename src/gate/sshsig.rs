//! SSH signatures over review attestations: signed with the reviewer's key through `ssh-keygen`
//! exactly as git signs commits with `gpg.format=ssh`, verified in-process against an
//! allowed-signers file with the semantics of OpenSSH's `ssh-keygen -Y verify`.
//!
//! Signing shells out ([`sign`]) because the private key belongs to the reviewer's tools: a key
//! file, an ssh-agent, a hardware key, or whatever `gpg.ssh.program` stands for. Verifying
//! ([`verify`]) needs only public keys and runs in the gate, the hooks and a server's
//! `pre-receive` without any program.
//!
//! Verified key types: Ed25519, ECDSA P-256, RSA of 2048 to 4096 bits (`rsa-sha2-256` and
//! `rsa-sha2-512` signatures), and the FIDO keys `sk-ssh-ed25519@openssh.com` and
//! `sk-ecdsa-sha2-nistp256@openssh.com`. Not verified: ECDSA P-384 and P-521, DSA, RSA outside
//! those sizes, SSH certificates (and so `cert-authority` lines).
//!
//! Where this module departs from OpenSSH, it is stricter: a malformed line anywhere in the
//! allowed-signers file is an error (OpenSSH only notices lines it reaches), and a signature
//! whose reserved field is not empty is refused (OpenSSH ignores the field).

use crate::git::process::{Process, ProcessError, Sink};
use gix::bstr::ByteSlice;
use ssh_encoding::Decode;
use ssh_key::public::KeyData;
use ssh_key::{Algorithm, EcdsaCurve, HashAlg, PublicKey, SshSig};
use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

/// The SSHSIG namespace of review attestations.
pub const NAMESPACE: &str = "aiflow-review";

/// The program git runs when `gpg.ssh.program` is not set.
const DEFAULT_PROGRAM: &str = "ssh-keygen";

const ARMOR_BEGIN: &str = "-----BEGIN SSH SIGNATURE-----";
const ARMOR_END: &str = "-----END SSH SIGNATURE-----";
const CERT_SUFFIX: &str = "-cert-v01@openssh.com";

// ------------------------------------------------------------------------------------------------
// Signing

/// How to sign, read from git config exactly as git reads it for `gpg.format=ssh`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SigningSetup {
    /// The signing program: `gpg.ssh.program`, else `ssh-keygen`.
    pub program: String,
    /// A key file, with `~` expanded: a private key, or a public key whose private half is in an
    /// ssh-agent. When [`literal`](Self::literal), a public key in OpenSSH's one-line format
    /// (`ssh-ed25519 AAAA… comment`, without git's `key::` prefix).
    pub key: String,
    /// Whether `key` is a literal public key; its private half must be in an ssh-agent
    /// (`ssh-keygen -U`).
    pub literal: bool,
    /// The config key the key came from, for messages: `user.signingKey` or
    /// `gpg.ssh.defaultKeyCommand`.
    pub origin: &'static str,
}

impl SigningSetup {
    /// The key as messages name it: its path, or the fingerprint of a literal key.
    pub fn describe_key(&self) -> String {
        if !self.literal {
            return self.key.clone();
        }
        match PublicKey::from_openssh(self.key.trim()) {
            Ok(k) => format!("{} ({})", k.fingerprint(HashAlg::Sha256), self.origin),
            Err(_) => format!("{:?} ({})", self.key.trim(), self.origin),
        }
    }
}

/// Why a review could not be signed.
#[derive(Debug, thiserror::Error)]
pub enum SignError {
    /// Signing with SSH is not configured: `gpg.format` is not `ssh`, or no key is configured.
    #[error("{}", not_configured(.format.as_deref()))]
    NotConfigured {
        /// The value of `gpg.format`, if set.
        format: Option<String>,
    },
    /// `user.signingKey` names a path that cannot be expanded.
    #[error("user.signingKey {value:?} is not a usable path: {problem}")]
    KeyPath {
        /// The configured value.
        value: String,
        /// What is wrong.
        problem: String,
    },
    /// `gpg.ssh.defaultKeyCommand` failed or printed no key.
    #[error("gpg.ssh.defaultKeyCommand `{command}` {problem}")]
    DefaultKeyCommand {
        /// The configured command.
        command: String,
        /// What went wrong.
        problem: String,
    },
    /// The signing program is not installed.
    #[error(
        "`{program}` was not found: install OpenSSH's ssh-keygen (Debian/Ubuntu: openssh-client) or point gpg.ssh.program at it"
    )]
    ProgramMissing {
        /// The program.
        program: String,
    },
    /// The signing program could not be started.
    #[error("could not run `{program}`")]
    Spawn {
        /// The program.
        program: String,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// The configured key file cannot be read.
    #[error("cannot read the signing key {} (from user.signingKey)", path.display())]
    KeyUnreadable {
        /// The key file.
        path: PathBuf,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// The key is protected by a passphrase and no ssh-agent holds it.
    #[error(
        "the signing key {key} is protected by a passphrase and no ssh-agent offers it; git-aiflow never prompts: run `ssh-add {key}` (with SSH_AUTH_SOCK set) and sign again"
    )]
    Passphrase {
        /// The private key file.
        key: String,
    },
    /// The key must be in an ssh-agent, and it is not (or no agent is reachable).
    #[error(
        "the signing key {key} must be in an ssh-agent: run `ssh-add` on its private key and check that SSH_AUTH_SOCK points at the agent{}",
        suffix(.stderr)
    )]
    NotInAgent {
        /// The key, as [`SigningSetup::describe_key`] names it.
        key: String,
        /// What the signing program printed.
        stderr: String,
    },
    /// The signing program failed.
    #[error("`{program} -Y sign` failed with the key {key}{}", suffix(.stderr))]
    Failed {
        /// The program.
        program: String,
        /// The key, as [`SigningSetup::describe_key`] names it.
        key: String,
        /// What it printed on stderr.
        stderr: String,
    },
    /// A temporary file for the payload or the key could not be written.
    #[error("could not write a temporary file for signing")]
    TempFile {
        /// Why.
        #[source]
        source: io::Error,
    },
    /// The signing program succeeded but left no SSH signature.
    #[error("`{program} -Y sign` left no SSH signature: {problem}")]
    NoSignature {
        /// The program.
        program: String,
        /// What was wrong.
        problem: String,
    },
}

impl SignError {
    /// The [`SignError::NotConfigured`] error for `config`, for when [`signing_setup`] found no
    /// setup.
    pub fn not_configured(config: &gix::config::Snapshot<'_>) -> Self {
        SignError::NotConfigured {
            format: config
                .string("gpg.format")
                .map(|v| v.to_str_lossy().into_owned()),
        }
    }
}

fn not_configured(format: Option<&str>) -> String {
    let set_key = "`git config user.signingKey ~/.ssh/id_ed25519.pub` (a key file, or `key::ssh-ed25519 AAAA…` for a key in your ssh-agent)";
    match format {
        Some("ssh") => format!(
            "gpg.format is ssh but no signing key is configured: run {set_key}, or set gpg.ssh.defaultKeyCommand"
        ),
        Some(other) => format!(
            "reviews are signed with SSH keys, but gpg.format is {other:?}: run `git config gpg.format ssh` and {set_key}"
        ),
        None => format!(
            "reviews are signed with SSH keys, but gpg.format is not set: run `git config gpg.format ssh` and {set_key}"
        ),
    }
}

fn suffix(text: &str) -> String {
    let t = text.trim();
    if t.is_empty() {
        String::new()
    } else {
        format!(": {t}")
    }
}

/// From a git config snapshot: `None` when `gpg.format` is not `ssh` or no key is configured
/// (`user.signingKey`, else the first line of `gpg.ssh.defaultKeyCommand`'s output).
///
/// As in git: a `user.signingKey` starting with `key::` or `ssh-` is a literal public key (its
/// private half must be in an ssh-agent), anything else a path (`~` and `~user` are expanded);
/// `gpg.ssh.defaultKeyCommand` is split into words like a git alias (no shell) and run, and the
/// first line it prints must be such a literal key.
pub fn signing_setup(
    config: &gix::config::Snapshot<'_>,
) -> Result<Option<SigningSetup>, SignError> {
    if config.string("gpg.format").as_deref().map(|v| v.as_bytes()) != Some(b"ssh") {
        return Ok(None);
    }
    let program = config
        .string("gpg.ssh.program")
        .filter(|p| !p.is_empty())
        .map_or_else(
            || DEFAULT_PROGRAM.to_owned(),
            |p| p.to_str_lossy().into_owned(),
        );
    if let Some(value) = config.string("user.signingKey").filter(|v| !v.is_empty()) {
        let value = value.to_str_lossy().into_owned();
        let home = std::env::var_os("HOME").map(PathBuf::from);
        return Ok(Some(match literal_key(&value) {
            Some(key) => SigningSetup {
                program,
                key: key.to_owned(),
                literal: true,
                origin: "user.signingKey",
            },
            None => SigningSetup {
                program,
                key: expand_path(&value, home.as_deref())?,
                literal: false,
                origin: "user.signingKey",
            },
        }));
    }
    if let Some(command) = config
        .string("gpg.ssh.defaultKeyCommand")
        .filter(|v| !v.is_empty())
    {
        let command = command.to_str_lossy().into_owned();
        let key = default_key(&command)?;
        return Ok(Some(SigningSetup {
            program,
            key,
            literal: true,
            origin: "gpg.ssh.defaultKeyCommand",
        }));
    }
    Ok(None)
}

/// git's `is_literal_ssh_key`: `key::` then the key, or a key starting with `ssh-`.
fn literal_key(value: &str) -> Option<&str> {
    value
        .strip_prefix("key::")
        .or_else(|| value.starts_with("ssh-").then_some(value))
}

/// git's `interpolate_path` for `user.signingKey`.
fn expand_path(value: &str, home: Option<&Path>) -> Result<String, SignError> {
    let path = gix::config::Path::from(std::borrow::Cow::Borrowed(value.as_bytes().as_bstr()));
    let ctx = gix::config::path::interpolate::Context {
        home_dir: home,
        ..Default::default()
    };
    let expanded = path.interpolate(ctx).map_err(|e| SignError::KeyPath {
        value: value.to_owned(),
        problem: e.to_string(),
    })?;
    expanded
        .into_os_string()
        .into_string()
        .map_err(|_| SignError::KeyPath {
            value: value.to_owned(),
            problem: "it expands to a path that is not UTF-8".into(),
        })
}

/// Run `gpg.ssh.defaultKeyCommand` as git does and return the literal key of its first line.
fn default_key(command: &str) -> Result<String, SignError> {
    let fail = |problem: String| SignError::DefaultKeyCommand {
        command: command.to_owned(),
        problem,
    };
    let argv = split_cmdline(command).map_err(|p| fail(p.to_owned()))?;
    let Some((program, args)) = argv.split_first() else {
        return Err(fail("is empty".into()));
    };
    let out = Process::new(program, command)
        .args(args)
        .stdout(Sink::capture())
        .stderr(Sink::capture())
        .run()
        .map_err(|e| {
            fail(format!(
                "could not be run: {}",
                crate::git::process::cause(e)
            ))
        })?;
    if !out.status.success() {
        return Err(fail(format!(
            "failed ({}){}",
            out.status,
            suffix(&String::from_utf8_lossy(&out.stderr))
        )));
    }
    let stdout = String::from_utf8_lossy(&out.stdout);
    let first = stdout
        .split('\n')
        .next()
        .unwrap_or("")
        .trim_end_matches('\r');
    match literal_key(first) {
        Some(key) => Ok(key.to_owned()),
        None => Err(fail(format!(
            "printed no key: its first line must be `key::<public key>` or `ssh-…`, it was {first:?}"
        ))),
    }
}

/// git's `split_cmdline`: words separated by white space, `'…'` and `"…"` quoting, and `\`
/// escaping outside single quotes; no shell.
fn split_cmdline(line: &str) -> Result<Vec<String>, &'static str> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut quote = None;
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match (quote, c) {
            (None, c) if c.is_ascii_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            (None, '\'' | '"') => {
                quote = Some(c);
                in_word = true;
            }
            (Some(q), c) if c == q => quote = None,
            (q, '\\') if q != Some('\'') => {
                word.push(chars.next().ok_or("ends with a backslash")?);
                in_word = true;
            }
            (_, c) => {
                word.push(c);
                in_word = true;
            }
        }
    }
    if quote.is_some() {
        return Err("has an unclosed quote");
    }
    if in_word {
        words.push(word);
    }
    Ok(words)
}

/// Sign `payload` under `namespace`, as git does: `<gpg.ssh.program|ssh-keygen> -Y sign -n <ns>
/// -f <keyfile> [-U] <file>`; returns the armored signature (`-----BEGIN SSH SIGNATURE-----` …).
///
/// The program never prompts: its stdin is closed and `SSH_ASKPASS_REQUIRE=force` keeps
/// OpenSSH (8.4 and later) from asking for a passphrase on the terminal; a passphrase-protected
/// key must be in an ssh-agent ([`SignError::Passphrase`]). A graphical askpass program that the
/// user configured in `SSH_ASKPASS` is still used.
pub fn sign(setup: &SigningSetup, payload: &[u8], namespace: &str) -> Result<String, SignError> {
    sign_with(setup, payload, namespace, |c| c)
}

/// [`sign`], with a last say on the command's environment (tests point it at their own agent).
fn sign_with(
    setup: &SigningSetup,
    payload: &[u8],
    namespace: &str,
    adjust: impl FnOnce(Process<'static>) -> Process<'static>,
) -> Result<String, SignError> {
    let temp = |source| SignError::TempFile { source };
    let dir = tempfile::Builder::new()
        .prefix(".aiflow-sign-")
        .tempdir()
        .map_err(temp)?;
    let key_file = if setup.literal {
        let path = dir.path().join("key.pub");
        std::fs::write(&path, format!("{}\n", setup.key.trim())).map_err(temp)?;
        path
    } else {
        let path = PathBuf::from(&setup.key);
        // ssh-keygen's own message for this is "Couldn't load public key": say which file.
        std::fs::File::open(&path).map_err(|source| SignError::KeyUnreadable {
            path: path.clone(),
            source,
        })?;
        path
    };
    let file = dir.path().join("payload");
    std::fs::write(&file, payload).map_err(temp)?;

    let mut cmd = Process::new(&setup.program, format!("`{}`", setup.program))
        .args(["-Y", "sign", "-n", namespace, "-f"])
        .args([&key_file]);
    if setup.literal {
        cmd = cmd.args(["-U"]);
    }
    let cmd = cmd
        .args([&file])
        .stdout(Sink::capture())
        .stderr(Sink::capture());
    let out = adjust(no_prompt(cmd)).run().map_err(|e| match e {
        ProcessError::Start { source, .. } if source.kind() == io::ErrorKind::NotFound => {
            SignError::ProgramMissing {
                program: setup.program.clone(),
            }
        }
        e => SignError::Spawn {
            program: setup.program.clone(),
            source: match e {
                ProcessError::Start { source, .. } | ProcessError::Wait { source, .. } => source,
                e @ ProcessError::TimedOut { .. } => io::Error::other(e.to_string()),
            },
        },
    })?;
    if !out.status.success() {
        return Err(sign_failure(
            setup,
            &String::from_utf8_lossy(&out.stderr),
            out.status,
        ));
    }
    let sig_file = dir.path().join("payload.sig");
    let text = std::fs::read_to_string(&sig_file).map_err(|e| SignError::NoSignature {
        program: setup.program.clone(),
        problem: format!("cannot read {}: {e}", sig_file.display()),
    })?;
    // As git does: strip CRs, in case the program runs on Windows.
    let text = text.replace('\r', "");
    if !text.starts_with(ARMOR_BEGIN) {
        return Err(SignError::NoSignature {
            program: setup.program.clone(),
            problem: format!("{} does not start with {ARMOR_BEGIN}", sig_file.display()),
        });
    }
    Ok(text)
}

/// Keep ssh-keygen off the terminal. With stdin not a terminal it asks through askpass when one
/// is allowed, else on `/dev/tty` (and would wait there); forcing askpass makes it use the user's
/// `SSH_ASKPASS` if set, else `false`, which answers at once with nothing.
fn no_prompt(cmd: Process<'_>) -> Process<'_> {
    let cmd = cmd.env("SSH_ASKPASS_REQUIRE", "force");
    if std::env::var_os("SSH_ASKPASS").is_none_or(|v| v.is_empty()) {
        cmd.env("SSH_ASKPASS", "false")
    } else {
        cmd
    }
}

fn sign_failure(setup: &SigningSetup, stderr: &str, status: std::process::ExitStatus) -> SignError {
    let key = setup.describe_key();
    if stderr.contains("incorrect passphrase") {
        // ssh-add wants the private key, which is next to a `.pub` one.
        let private = setup.key.strip_suffix(".pub").unwrap_or(&setup.key);
        return SignError::Passphrase {
            key: private.to_owned(),
        };
    }
    if stderr.contains("Couldn't get agent socket")
        || stderr.contains("Couldn't find key in agent")
        || (setup.literal && stderr.contains("agent"))
    {
        return SignError::NotInAgent {
            key,
            stderr: stderr.trim().to_owned(),
        };
    }
    let mut stderr = stderr.trim().to_owned();
    if stderr.contains("usage:") {
        stderr = format!(
            "{} does not know `-Y sign`: it needs OpenSSH 8.2p1 or later",
            setup.program
        );
    } else if stderr.is_empty() {
        stderr = format!("it exited with {status} and printed nothing");
    }
    SignError::Failed {
        program: setup.program.clone(),
        key,
        stderr,
    }
}

// ------------------------------------------------------------------------------------------------
// Allowed signers

/// A parsed allowed-signers file (git's `gpg.ssh.allowedSignersFile` format).
///
/// Each line is `principals [options] keytype base64 [comment]`: `principals` is a
/// comma-separated list of patterns (`*`, `?`, `!` negation, as OpenSSH's
/// `match_pattern_list`), quoted with `"` when it holds spaces; options are `namespaces="…"`
/// (patterns too), `valid-after="…"`, `valid-before="…"` (`YYYYMMDD[HHMM[SS]]`, local time
/// unless it ends in `Z` or `UTC`) and `cert-authority`. `#` starts a comment line.
#[derive(Debug, Clone)]
pub struct AllowedSigners {
    origin: String,
    entries: Vec<Entry>,
}

#[derive(Debug, Clone)]
struct Entry {
    /// 1-based.
    line: usize,
    /// The pattern list, as written (quotes removed).
    principals: String,
    namespaces: Option<String>,
    valid_after: Option<i64>,
    valid_before: Option<i64>,
    cert_authority: bool,
    key: KeyData,
}

/// An allowed-signers line that cannot be read. The gate fails closed on it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{origin}, line {line}: {problem}")]
pub struct ParseError {
    /// Where the file came from.
    pub origin: String,
    /// The line, counting from 1.
    pub line: usize,
    /// What is wrong with it.
    pub problem: String,
}

impl AllowedSigners {
    /// `origin` names where it came from, for messages (e.g. "allowed_signers in 3f2a1b…").
    /// Times without `Z` are read in the local time zone, as `ssh-keygen` reads them.
    pub fn parse(text: &str, origin: &str) -> Result<Self, ParseError> {
        Self::parse_in(text, origin, &SystemZone::default())
    }

    fn parse_in(text: &str, origin: &str, tz: &impl LocalZone) -> Result<Self, ParseError> {
        let mut entries = Vec::new();
        for (i, line) in text.lines().enumerate() {
            let err = |problem: String| ParseError {
                origin: origin.to_owned(),
                line: i + 1,
                problem,
            };
            if let Some(entry) = parse_line(line, i + 1, tz).map_err(err)? {
                entries.push(entry);
            }
        }
        Ok(AllowedSigners {
            origin: origin.to_owned(),
            entries,
        })
    }

    /// Where the file came from.
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// How many keys it lists.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether it lists no key.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

/// One line, as OpenSSH's `parse_principals_key_and_options` reads it; `None` for blank and
/// comment lines.
fn parse_line(line: &str, number: usize, tz: &impl LocalZone) -> Result<Option<Entry>, String> {
    let rest = line.trim_start_matches([' ', '\t', '\r', '\n']);
    if rest.is_empty() || rest.starts_with('#') {
        return Ok(None);
    }
    let (principals, rest) = principals_token(rest)?;
    if principals.is_empty() {
        return Err("the principals (the first word) are empty".into());
    }
    let first = rest.split([' ', '\t']).next().unwrap_or("");
    let (options, key_text) = if is_key_type(first) {
        ("", rest)
    } else {
        let end = options_end(rest)?;
        let key_text = rest[end..].trim_start_matches([' ', '\t']);
        if key_text.is_empty() {
            return Err(format!(
                "no key after {:?}: a line is `principals [options] keytype base64 [comment]`",
                &rest[..end]
            ));
        }
        (&rest[..end], key_text)
    };
    let options = parse_options(options, tz)?;
    let key = parse_key(key_text)?;
    Ok(Some(Entry {
        line: number,
        principals,
        namespaces: options.namespaces,
        valid_after: options.valid_after,
        valid_before: options.valid_before,
        cert_authority: options.cert_authority,
        key,
    }))
}

/// OpenSSH's `strdelimw` on the principals: up to white space, or a `"`-quoted part (which may
/// hold spaces) and then the rest.
fn principals_token(s: &str) -> Result<(String, &str), String> {
    let ws = [' ', '\t', '\r', '\n'];
    let Some(at) = s.find([' ', '\t', '\r', '\n', '"']) else {
        return Err(format!(
            "only {s:?}: a line is `principals [options] keytype base64 [comment]`"
        ));
    };
    if s[at..].starts_with('"') {
        let after = &s[at + 1..];
        let close = after
            .find('"')
            .ok_or("the principals have an unterminated quote")?;
        let token = format!("{}{}", &s[..at], &after[..close]);
        let rest = &after[close + 1..];
        if !rest.starts_with(ws) {
            // OpenSSH would end the principals at the quote and misread the rest.
            return Err(format!(
                "text right after the quoted principals: quote the whole list, as in \"{token}{}\"",
                rest.split(ws).next().unwrap_or("")
            ));
        }
        return Ok((token, rest.trim_start_matches(ws)));
    }
    Ok((s[..at].to_owned(), s[at..].trim_start_matches(ws)))
}

/// Key type names OpenSSH reads in key files (certificates too, so they can be refused by name).
fn is_key_type(word: &str) -> bool {
    matches!(
        word,
        "ssh-ed25519"
            | "ssh-rsa"
            | "ssh-dss"
            | "ecdsa-sha2-nistp256"
            | "ecdsa-sha2-nistp384"
            | "ecdsa-sha2-nistp521"
            | "sk-ssh-ed25519@openssh.com"
            | "sk-ecdsa-sha2-nistp256@openssh.com"
            | "ssh-xmss@openssh.com"
    ) || word.ends_with(CERT_SUFFIX)
}

/// OpenSSH's `sshkey_advance_past_options`: the first unquoted space or tab.
fn options_end(s: &str) -> Result<usize, String> {
    let b = s.as_bytes();
    let mut quoted = false;
    let mut i = 0;
    while i < b.len() && (quoted || (b[i] != b' ' && b[i] != b'\t')) {
        if b[i] == b'\\' && b.get(i + 1) == Some(&b'"') {
            i += 1;
        } else if b[i] == b'"' {
            quoted = !quoted;
        }
        i += 1;
    }
    if quoted {
        return Err("the options have an unterminated quote".into());
    }
    Ok(i)
}

#[derive(Default)]
struct Options {
    namespaces: Option<String>,
    valid_after: Option<i64>,
    valid_before: Option<i64>,
    cert_authority: bool,
}

/// OpenSSH's `sshsigopt_parse`: option names are case-insensitive; an unknown option is an error.
fn parse_options(mut s: &str, tz: &impl LocalZone) -> Result<Options, String> {
    let mut o = Options::default();
    while !s.is_empty() {
        if let Some(rest) = strip_prefix_ci(s, "cert-authority") {
            o.cert_authority = true;
            s = rest;
        } else if let Some(rest) = strip_prefix_ci(s, "namespaces=") {
            if o.namespaces.is_some() {
                return Err("more than one namespaces= option".into());
            }
            let (value, rest) = dequote(rest, "namespaces")?;
            o.namespaces = Some(value);
            s = rest;
        } else if let Some((name, rest)) = strip_prefix_ci(s, "valid-after=")
            .map(|r| ("valid-after", r))
            .or_else(|| strip_prefix_ci(s, "valid-before=").map(|r| ("valid-before", r)))
        {
            let slot = if name == "valid-after" {
                &mut o.valid_after
            } else {
                &mut o.valid_before
            };
            if slot.is_some() {
                return Err(format!("more than one {name}= option"));
            }
            let (value, rest) = dequote(rest, name)?;
            *slot = Some(parse_time(&value, tz).ok_or_else(|| {
                format!(
                    "{name}={value:?} is not a time: write YYYYMMDD, YYYYMMDDHHMM or YYYYMMDDHHMMSS, with a Z for UTC"
                )
            })?);
            s = rest;
        }
        if s.is_empty() {
            break;
        }
        let Some(rest) = s.strip_prefix(',') else {
            let name = s.split([',', '=']).next().unwrap_or(s);
            return Err(format!(
                "unknown option {name:?}: the options are namespaces=\"…\", valid-after=\"…\", valid-before=\"…\" and cert-authority"
            ));
        };
        if rest.is_empty() {
            return Err("the options end with a comma".into());
        }
        s = rest;
    }
    if let (Some(after), Some(before)) = (o.valid_after, o.valid_before)
        && before <= after
    {
        return Err("valid-before is not later than valid-after".into());
    }
    Ok(o)
}

fn strip_prefix_ci<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    let head = s.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &s[prefix.len()..])
}

/// OpenSSH's `opt_dequote`: `"…"`, with `\"` for a quote.
fn dequote<'a>(s: &'a str, name: &str) -> Result<(String, &'a str), String> {
    let Some(body) = s.strip_prefix('"') else {
        return Err(format!("{name}= needs a quoted value: {name}=\"…\""));
    };
    let mut out = String::new();
    let mut chars = body.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => return Ok((out, &body[i + 1..])),
            '\\' if body[i + 1..].starts_with('"') => {
                chars.next();
                out.push('"');
            }
            c => out.push(c),
        }
    }
    Err(format!("{name}= has no closing quote"))
}

/// The time zone a local time (one without `Z`) is read in.
trait LocalZone {
    fn zone(&self) -> &jiff::tz::TimeZone;
}

impl LocalZone for jiff::tz::TimeZone {
    fn zone(&self) -> &jiff::tz::TimeZone {
        self
    }
}

/// The system's time zone, loaded the first time a local time needs it: loading it reads the
/// time zone database, which a hook should not pay for on every run.
#[derive(Default)]
struct SystemZone(std::cell::OnceCell<jiff::tz::TimeZone>);

impl LocalZone for SystemZone {
    fn zone(&self) -> &jiff::tz::TimeZone {
        self.0.get_or_init(jiff::tz::TimeZone::system)
    }
}

/// OpenSSH's `parse_absolute_time`: `YYYYMMDD`, `YYYYMMDDHHMM` or `YYYYMMDDHHMMSS`, in UTC with a
/// `Z` or `UTC` suffix, else local time as `mktime` reads it with `tm_isdst = 0`.
fn parse_time(s: &str, tz: &impl LocalZone) -> Option<i64> {
    let b = s.as_bytes();
    let (digits, utc) = if b.len() > 1 && b[b.len() - 1].eq_ignore_ascii_case(&b'z') {
        (&s[..s.len() - 1], true)
    } else if b.len() > 3 && b[b.len() - 3..].eq_ignore_ascii_case(b"utc") {
        (&s[..s.len() - 3], true)
    } else {
        (s, false)
    };
    if !matches!(digits.len(), 8 | 12 | 14) || !digits.bytes().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let num = |from: usize, to: usize| -> i64 {
        digits
            .get(from..to)
            .and_then(|d| d.parse().ok())
            .unwrap_or(0)
    };
    let (year, month, day) = (num(0, 4), num(4, 6), num(6, 8));
    let (hour, minute, second) = (num(8, 10), num(10, 12), num(12, 14));
    // strptime's ranges; mktime then normalises a day past the month's end (20250231 is 3 March).
    if !(1..=12).contains(&month)
        || !(1..=31).contains(&day)
        || hour > 23
        || minute > 59
        || second > 60
    {
        return None;
    }
    let first = jiff::civil::Date::new(i16::try_from(year).ok()?, i8::try_from(month).ok()?, 1)
        .ok()?
        .to_zoned(jiff::tz::TimeZone::UTC)
        .ok()?
        .timestamp()
        .as_second();
    let wall = first + (day - 1) * 86_400 + hour * 3600 + minute * 60 + second;
    let t = if utc {
        wall
    } else {
        wall - standard_offset(wall, tz.zone())
    };
    // OpenSSH refuses the time 0 (its "unset"); earlier times cannot be meant.
    (t > 0).then_some(t)
}

/// The UTC offset `mktime` applies to the wall-clock time `wall` (seconds, read as if UTC) when
/// told `tm_isdst = 0`: the zone's standard offset, even in summer. So in Berlin a
/// `valid-before="20250701"` ends at 01:00 CEST, as it does for `ssh-keygen`.
fn standard_offset(wall: i64, tz: &jiff::tz::TimeZone) -> i64 {
    let info = |t: i64| {
        jiff::Timestamp::from_second(t)
            .ok()
            .map(|ts| tz.to_offset_info(ts))
            .map(|i| (i64::from(i.offset().seconds()), i.dst().is_dst()))
    };
    let Some((mut offset, _)) = info(wall) else {
        return 0;
    };
    // The offset at the instant itself, found by iterating (it moves only near a transition).
    for _ in 0..2 {
        if let Some((o, _)) = info(wall - offset) {
            offset = o;
        }
    }
    if info(wall - offset).is_some_and(|(_, dst)| dst) {
        // In summer time: use the offset of the nearest time that is not.
        for months in 1..=12 {
            for sign in [-1, 1] {
                if let Some((o, false)) = info(wall - offset + sign * months * 30 * 86_400) {
                    return o;
                }
            }
        }
    }
    offset
}

/// `keytype base64 [comment]`: the key must be of the type it says it is.
fn parse_key(text: &str) -> Result<KeyData, String> {
    let mut words = text.split([' ', '\t']).filter(|w| !w.is_empty());
    let (Some(kind), Some(base64)) = (words.next(), words.next()) else {
        return Err(format!(
            "no key in {text:?}: expected `keytype base64 [comment]`"
        ));
    };
    if kind.ends_with(CERT_SUFFIX) {
        return Err(format!(
            "{kind} is an SSH certificate, and certificates are not supported: list the reviewer's plain public key"
        ));
    }
    if !is_key_type(kind) {
        return Err(format!(
            "{kind:?} is not an SSH key type (such as ssh-ed25519)"
        ));
    }
    let key = PublicKey::from_openssh(&format!("{kind} {base64}")).map_err(|e| {
        format!("the {kind} key does not decode ({e}): copy the whole line of the .pub file")
    })?;
    Ok(key.key_data().clone())
}

// ------------------------------------------------------------------------------------------------
// Pattern lists (OpenSSH's match.c)

/// OpenSSH's `match_pattern`: `*` matches any run of bytes, `?` any one byte.
fn match_pattern(s: &[u8], pattern: &[u8]) -> bool {
    let (mut si, mut pi) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while si < s.len() {
        if pi < pattern.len() && (pattern[pi] == b'?' || pattern[pi] == s[si]) {
            si += 1;
            pi += 1;
        } else if pi < pattern.len() && pattern[pi] == b'*' {
            star = Some((pi, si));
            pi += 1;
        } else if let Some((sp, ss)) = star {
            pi = sp + 1;
            si = ss + 1;
            star = Some((sp, ss + 1));
        } else {
            return false;
        }
    }
    pattern[pi..].iter().all(|&c| c == b'*')
}

/// How a string fares against a pattern list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Match {
    /// A negated pattern (`!…`) matches: refused, whatever else matches.
    Negated,
    /// No pattern matches.
    None,
    /// A pattern matches and no negated one does.
    Positive,
}

/// OpenSSH's `match_pattern_list` (case-sensitive): comma-separated patterns, `!` negates.
fn match_pattern_list(s: &str, list: &str) -> Match {
    let mut positive = false;
    for sub in list.split(',') {
        let (negated, pattern) = match sub.strip_prefix('!') {
            Some(p) => (true, p),
            None => (false, sub),
        };
        // OpenSSH stops at an empty pattern at the end of the list; an empty pattern only
        // matches the empty string anyway.
        if match_pattern(s.as_bytes(), pattern.as_bytes()) {
            if negated {
                return Match::Negated;
            }
            positive = true;
        }
    }
    if positive {
        Match::Positive
    } else {
        Match::None
    }
}

/// The first principal that names one identity: no wildcard, no negation.
fn first_literal(principals: &str) -> Option<&str> {
    principals
        .split(',')
        .find(|p| !p.is_empty() && !p.starts_with('!') && !p.contains(['*', '?']))
}

// ------------------------------------------------------------------------------------------------
// Verifying

/// Who signed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    /// The reviewer's identity as the allowed-signers file names it (usually an email). It is the
    /// claimed email when a valid line's principals match it; otherwise the first literal
    /// principal of the first valid line, which may differ from the claimed email: compare them.
    pub principal: String,
    /// `SHA256:…` as `ssh-keygen` prints it.
    pub fingerprint: String,
    /// e.g. `ED25519`, `ECDSA`, `RSA`, `ED25519-SK` (as `ssh-keygen`'s "with ED25519 key" says).
    pub algorithm: String,
}

/// Why a key listed in the allowed-signers file may not sign here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// The line of the allowed-signers file, counting from 1.
    pub line: usize,
    /// Why that line does not allow the signature.
    pub reason: RefusalReason,
}

/// What keeps an allowed-signers line from allowing a signature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RefusalReason {
    /// Its `namespaces=` option excludes the namespace.
    Namespace {
        /// The option's value.
        allowed: String,
        /// The namespace verified.
        namespace: String,
    },
    /// Signed before its `valid-after` time (unix seconds).
    NotYetValid {
        /// The line's `valid-after`.
        valid_after: i64,
        /// The verification time.
        at: i64,
    },
    /// Signed after its `valid-before` time (unix seconds).
    Expired {
        /// The line's `valid-before`.
        valid_before: i64,
        /// The verification time.
        at: i64,
    },
    /// Its principals are only patterns, and none matches the claimed email (or none was
    /// claimed), so they name nobody.
    PatternsOnly {
        /// The principals, as written.
        principals: String,
        /// The claimed email.
        claimed: Option<String>,
    },
    /// It is a `cert-authority` line; certificates are not supported.
    CertAuthority,
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let line = self.line;
        match &self.reason {
            RefusalReason::Namespace { allowed, namespace } => write!(
                f,
                "line {line} allows it only for namespaces=\"{allowed}\" (add {namespace} to them)"
            ),
            RefusalReason::NotYetValid { valid_after, at } => write!(
                f,
                "line {line} makes it valid only after {} and the signature time is {}",
                show_time(*valid_after),
                show_time(*at)
            ),
            RefusalReason::Expired { valid_before, at } => write!(
                f,
                "line {line} makes it valid only before {} and the signature time is {} (the key has expired: renew valid-before or list the reviewer's new key)",
                show_time(*valid_before),
                show_time(*at)
            ),
            RefusalReason::PatternsOnly {
                principals,
                claimed: Some(claimed),
            } => write!(
                f,
                "line {line} names only patterns ({principals}) and none matches {claimed} (principals are case-sensitive)"
            ),
            RefusalReason::PatternsOnly {
                principals,
                claimed: None,
            } => write!(
                f,
                "line {line} names only patterns ({principals}) and the review claims no email to match"
            ),
            RefusalReason::CertAuthority => write!(
                f,
                "line {line} is a cert-authority line, and SSH certificates are not supported (list the reviewer's own key)"
            ),
        }
    }
}

fn show_time(t: i64) -> String {
    jiff::Timestamp::from_second(t).map_or_else(|_| format!("@{t}"), |ts| ts.to_string())
}

fn show_refusals(refusals: &[Refusal]) -> String {
    refusals
        .iter()
        .map(Refusal::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

/// Why a review signature is not accepted. [`code`](Self::code) tells the classes apart.
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    /// Not an SSH signature, or not one this module reads.
    #[error("the review signature is not a valid SSH signature ({problem}): sign the review again")]
    Malformed {
        /// What is wrong.
        problem: String,
    },
    /// A signature made for another namespace, so not a review attestation.
    #[error(
        "the review signature was made for the namespace {found:?}, not {expected:?}: it is not a review attestation (sign the review again)"
    )]
    Namespace {
        /// The namespace verified.
        expected: String,
        /// The signature's namespace.
        found: String,
    },
    /// The signature does not verify over the payload.
    #[error(
        "the review signature by {algorithm} key {fingerprint} does not match what it attests: the reviewed content changed after signing, or the signature was altered"
    )]
    Mismatch {
        /// The signing key's fingerprint.
        fingerprint: String,
        /// Its type, as `ssh-keygen` names it.
        algorithm: String,
    },
    /// A key type this module cannot verify.
    #[error(
        "the review signature was made with a {algorithm} key ({fingerprint}), which git-aiflow cannot verify: sign with an Ed25519 (recommended), ECDSA P-256 or RSA (2048 to 4096 bits) key"
    )]
    UnsupportedKey {
        /// The signing key's fingerprint.
        fingerprint: String,
        /// Its type.
        algorithm: String,
    },
    /// A signature made with an SSH certificate.
    #[error(
        "the review signature was made with an SSH certificate ({key_type}), and certificates are not supported: sign with the plain key and add it to {origin}"
    )]
    Certificate {
        /// The certificate type.
        key_type: String,
        /// Where the allowed signers came from.
        origin: String,
    },
    /// A valid signature by a key the allowed-signers file does not list.
    #[error(
        "the review signature was made by {algorithm} key {fingerprint}, which is not in {origin}: if it is the reviewer's, add the line `<email> {public_key}` to it"
    )]
    UnknownKey {
        /// The signing key's fingerprint.
        fingerprint: String,
        /// Its type, as `ssh-keygen` names it.
        algorithm: String,
        /// The key in OpenSSH's one-line format.
        public_key: String,
        /// Where the allowed signers came from.
        origin: String,
    },
    /// A valid signature by a listed key that no line allows here.
    #[error(
        "{algorithm} key {fingerprint} is in {origin} but may not sign this review: {}",
        show_refusals(.refusals)
    )]
    NotAllowed {
        /// The signing key's fingerprint.
        fingerprint: String,
        /// Its type, as `ssh-keygen` names it.
        algorithm: String,
        /// Where the allowed signers came from.
        origin: String,
        /// Why each line listing the key does not allow it, in file order.
        refusals: Vec<Refusal>,
    },
}

impl VerifyError {
    /// The gate's reason code: `bad-signature` when the signature is malformed or does not
    /// verify over the payload; `unknown-signer` when it verifies but its key is not in the
    /// allowed-signers file or not allowed there for this namespace, time or identity.
    pub fn code(&self) -> &'static str {
        match self {
            VerifyError::Malformed { .. }
            | VerifyError::Namespace { .. }
            | VerifyError::Mismatch { .. }
            | VerifyError::UnsupportedKey { .. } => "bad-signature",
            VerifyError::Certificate { .. }
            | VerifyError::UnknownKey { .. }
            | VerifyError::NotAllowed { .. } => "unknown-signer",
        }
    }
}

/// Verify `armored` over `payload` in `namespace`, by a key in `signers` valid at `time` (unix
/// seconds; `None` = now), preferring the principal that matches `claimed_email` when the file
/// has several or patterns.
///
/// As `ssh-keygen -Y verify`: the signature must be for `namespace` and verify with the key it
/// carries; then some line of `signers` must list that exact key, allow `namespace` in its
/// `namespaces=` option, and be valid at `time`. Of those lines, one whose principals match
/// `claimed_email` gives that email as the principal; otherwise the first literal principal of
/// the first such line does (see [`Verified::principal`]).
pub fn verify(
    signers: &AllowedSigners,
    payload: &[u8],
    armored: &str,
    namespace: &str,
    time: Option<i64>,
    claimed_email: Option<&str>,
) -> Result<Verified, VerifyError> {
    let blob = dearmor(armored)?;
    if let Some(key_type) = signature_key_type(&blob).filter(|t| t.ends_with(CERT_SUFFIX)) {
        return Err(VerifyError::Certificate {
            key_type,
            origin: signers.origin.clone(),
        });
    }
    let sig = decode(&blob)?;
    let key = sig.public_key();
    let fingerprint = key.fingerprint(HashAlg::Sha256).to_string();
    let algorithm = key_type_name(key);
    if sig.namespace() != namespace {
        return Err(VerifyError::Namespace {
            expected: namespace.to_owned(),
            found: sig.namespace().to_owned(),
        });
    }
    if !supported(key) {
        return Err(VerifyError::UnsupportedKey {
            fingerprint,
            algorithm,
        });
    }
    if PublicKey::from(key.clone())
        .verify(namespace, payload, &sig)
        .is_err()
    {
        return Err(VerifyError::Mismatch {
            fingerprint,
            algorithm,
        });
    }
    let at = time.unwrap_or_else(now);
    let principal = signers.authorize(key, namespace, at, claimed_email, |refusals| {
        if refusals.is_empty() {
            VerifyError::UnknownKey {
                fingerprint: fingerprint.clone(),
                algorithm: algorithm.clone(),
                public_key: PublicKey::from(key.clone())
                    .to_openssh()
                    .unwrap_or_else(|_| "<its public key>".into()),
                origin: signers.origin.clone(),
            }
        } else {
            VerifyError::NotAllowed {
                fingerprint: fingerprint.clone(),
                algorithm: algorithm.clone(),
                origin: signers.origin.clone(),
                refusals,
            }
        }
    })?;
    Ok(Verified {
        principal,
        fingerprint,
        algorithm,
    })
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

impl AllowedSigners {
    /// The principal for `key`, or the error `refused` makes of the refusals (none: the key is
    /// not listed).
    fn authorize(
        &self,
        key: &KeyData,
        namespace: &str,
        at: i64,
        claimed: Option<&str>,
        refused: impl FnOnce(Vec<Refusal>) -> VerifyError,
    ) -> Result<String, VerifyError> {
        let mut refusals = Vec::new();
        let mut fallback = None;
        for e in self.entries.iter().filter(|e| e.key == *key) {
            let refuse = |reason| Refusal {
                line: e.line,
                reason,
            };
            if e.cert_authority {
                refusals.push(refuse(RefusalReason::CertAuthority));
                continue;
            }
            if let Some(allowed) = &e.namespaces
                && match_pattern_list(namespace, allowed) != Match::Positive
            {
                refusals.push(refuse(RefusalReason::Namespace {
                    allowed: allowed.clone(),
                    namespace: namespace.to_owned(),
                }));
                continue;
            }
            if let Some(valid_after) = e.valid_after
                && at < valid_after
            {
                refusals.push(refuse(RefusalReason::NotYetValid { valid_after, at }));
                continue;
            }
            if let Some(valid_before) = e.valid_before
                && at > valid_before
            {
                refusals.push(refuse(RefusalReason::Expired { valid_before, at }));
                continue;
            }
            if let Some(claimed) = claimed
                && match_pattern_list(claimed, &e.principals) == Match::Positive
            {
                return Ok(claimed.to_owned());
            }
            match first_literal(&e.principals) {
                Some(p) => {
                    fallback.get_or_insert_with(|| p.to_owned());
                }
                None => refusals.push(refuse(RefusalReason::PatternsOnly {
                    principals: e.principals.clone(),
                    claimed: claimed.map(str::to_owned),
                })),
            }
        }
        fallback.ok_or_else(|| refused(refusals))
    }
}

/// OpenSSH's `sshsig_dearmor`, forgiving white space around the armor.
fn dearmor(armored: &str) -> Result<Vec<u8>, VerifyError> {
    let malformed = |problem: &str| VerifyError::Malformed {
        problem: problem.to_owned(),
    };
    let text = armored.trim_start();
    let body = text
        .strip_prefix(ARMOR_BEGIN)
        .ok_or_else(|| malformed("it does not start with -----BEGIN SSH SIGNATURE-----"))?;
    let body = body
        .strip_prefix("\r\n")
        .or_else(|| body.strip_prefix('\n'))
        .ok_or_else(|| malformed("no line break after the BEGIN line"))?;
    let end = body
        .find(&format!("\n{ARMOR_END}"))
        .ok_or_else(|| malformed("no -----END SSH SIGNATURE----- line"))?;
    let b64: String = body[..end]
        .chars()
        .filter(|c| !c.is_ascii_whitespace())
        .collect();
    use ssh_encoding::base64::Encoding;
    ssh_encoding::base64::Base64::decode_vec(&b64).map_err(|_| malformed("its base64 is invalid"))
}

/// The key type a signature blob names, read without decoding the key (certificates are not
/// decodable here).
fn signature_key_type(blob: &[u8]) -> Option<String> {
    let rest = blob.strip_prefix(b"SSHSIG")?.get(4..)?; // version
    let key_blob = read_string(rest)?.0;
    let key_type = read_string(key_blob)?.0;
    String::from_utf8(key_type.to_vec()).ok()
}

fn read_string(b: &[u8]) -> Option<(&[u8], &[u8])> {
    let len = usize::try_from(u32::from_be_bytes(b.get(..4)?.try_into().ok()?)).ok()?;
    let body = b.get(4..4usize.checked_add(len)?)?;
    Some((body, &b[4 + len..]))
}

fn decode(blob: &[u8]) -> Result<SshSig, VerifyError> {
    let malformed = |problem: String| VerifyError::Malformed { problem };
    let mut reader = blob;
    let sig = SshSig::decode(&mut reader).map_err(|e| malformed(e.to_string()))?;
    if !reader.is_empty() {
        return Err(malformed("trailing data after the signature".into()));
    }
    if !sig.reserved().is_empty() {
        return Err(malformed("its reserved field is not empty".into()));
    }
    Ok(sig)
}

/// Whether [`PublicKey::verify`] can check a signature by `key` with the features compiled in.
fn supported(key: &KeyData) -> bool {
    match key {
        KeyData::Ed25519(_) | KeyData::SkEd25519(_) | KeyData::SkEcdsaSha2NistP256(_) => true,
        KeyData::Ecdsa(k) => k.curve() == EcdsaCurve::NistP256,
        // ssh-key's RSA takes 2048 bits at least, and the rsa crate 4096 at most.
        KeyData::Rsa(k) => {
            let bits = k.n.as_positive_bytes().map_or(0, |n| n.len() * 8);
            (2048..=4096).contains(&bits)
        }
        _ => false,
    }
}

/// The key type as `ssh-keygen` prints it ("with ED25519 key").
fn key_type_name(key: &KeyData) -> String {
    match key.algorithm() {
        Algorithm::Ed25519 => "ED25519".into(),
        Algorithm::SkEd25519 => "ED25519-SK".into(),
        Algorithm::Ecdsa { .. } => "ECDSA".into(),
        Algorithm::SkEcdsaSha2NistP256 => "ECDSA-SK".into(),
        Algorithm::Rsa { .. } => "RSA".into(),
        Algorithm::Dsa => "DSA".into(),
        other => other.as_str().to_ascii_uppercase(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::{Command, Stdio};
    use std::time::{Duration, Instant};

    // --------------------------------------------------------------------------------------------
    // Helpers

    fn parse(text: &str) -> Result<AllowedSigners, ParseError> {
        AllowedSigners::parse_in(text, "test file", &jiff::tz::TimeZone::UTC)
    }

    /// A well-formed ed25519 public key made from `n` (not a usable key pair).
    fn fake_key(n: u8) -> String {
        let key = KeyData::Ed25519(ssh_key::public::Ed25519PublicKey([n; 32]));
        PublicKey::from(key).to_openssh().unwrap()
    }

    fn key_data(openssh: &str) -> KeyData {
        PublicKey::from_openssh(openssh).unwrap().key_data().clone()
    }

    fn utc(s: &str) -> i64 {
        parse_time(s, &jiff::tz::TimeZone::UTC).unwrap()
    }

    fn armor(blob: &[u8]) -> String {
        use ssh_encoding::base64::Encoding;
        let b64 = ssh_encoding::base64::Base64::encode_string(blob);
        let lines: Vec<&str> = b64
            .as_bytes()
            .chunks(70)
            .map(|c| std::str::from_utf8(c).unwrap())
            .collect();
        format!("{ARMOR_BEGIN}\n{}\n{ARMOR_END}\n", lines.join("\n"))
    }

    fn put_string(out: &mut Vec<u8>, s: &[u8]) {
        out.extend(u32::try_from(s.len()).unwrap().to_be_bytes());
        out.extend(s);
    }

    /// A signature made in-process with a fixed ed25519 key, and its allowed-signers line.
    fn in_process_signature(payload: &[u8], namespace: &str) -> (String, String) {
        let pair = ssh_key::private::Ed25519Keypair::from_seed(&[7; 32]);
        let private = ssh_key::PrivateKey::from(pair);
        let sig = private.sign(namespace, HashAlg::Sha512, payload).unwrap();
        let public = private.public_key().to_openssh().unwrap();
        (
            sig.to_pem(ssh_key::LineEnding::LF).unwrap(),
            format!("grace@example.com {public}\n"),
        )
    }

    /// A scratch directory with OpenSSH's tools; `None` (and a note) when ssh-keygen is missing.
    struct Lab {
        dir: tempfile::TempDir,
    }

    impl Lab {
        fn new() -> Option<Lab> {
            let probe = Command::new("ssh-keygen")
                .args(["-Y", "verify"])
                .stdin(Stdio::null())
                .output();
            if probe
                .as_ref()
                .is_err_and(|e| e.kind() == io::ErrorKind::NotFound)
            {
                eprintln!("skipped: ssh-keygen is not installed (Debian/Ubuntu: openssh-client)");
                return None;
            }
            Some(Lab {
                dir: tempfile::tempdir().unwrap(),
            })
        }

        fn path(&self, name: &str) -> PathBuf {
            self.dir.path().join(name)
        }

        fn write(&self, name: &str, content: impl AsRef<[u8]>) -> PathBuf {
            let path = self.path(name);
            std::fs::write(&path, content).unwrap();
            path
        }

        /// `ssh-keygen -q -t <kind> [-b <bits>] -N <passphrase> -C <name> -f <dir>/<name>`.
        fn key(&self, name: &str, kind: &str, bits: Option<&str>, passphrase: &str) -> PathBuf {
            let path = self.path(name);
            let mut cmd = Command::new("ssh-keygen");
            cmd.args(["-q", "-t", kind]);
            if let Some(bits) = bits {
                cmd.args(["-b", bits]);
            }
            cmd.args(["-N", passphrase, "-C", name, "-f"]).arg(&path);
            let out = cmd.stdin(Stdio::null()).output().unwrap();
            assert!(out.status.success(), "{out:?}");
            path
        }

        fn public(&self, key: &Path) -> String {
            let text = std::fs::read_to_string(key.with_extension("pub")).unwrap();
            text.trim().to_owned()
        }

        /// The fingerprint as `ssh-keygen -l` prints it.
        fn fingerprint(&self, key: &Path) -> String {
            let out = Command::new("ssh-keygen")
                .arg("-lf")
                .arg(key.with_extension("pub"))
                .output()
                .unwrap();
            let text = String::from_utf8(out.stdout).unwrap();
            text.split(' ').nth(1).unwrap().to_owned()
        }

        /// `ssh-keygen -Y sign` with a key file and no agent.
        fn openssh_sign(
            &self,
            key: &Path,
            namespace: &str,
            payload: &[u8],
            opts: &[&str],
        ) -> String {
            let file = self.write("to-sign", payload);
            let _ = std::fs::remove_file(self.path("to-sign.sig"));
            let out = Command::new("ssh-keygen")
                .args(["-Y", "sign", "-n", namespace, "-f"])
                .arg(key)
                .args(opts)
                .arg(&file)
                .env_remove("SSH_AUTH_SOCK")
                .stdin(Stdio::null())
                .output()
                .unwrap();
            assert!(out.status.success(), "{out:?}");
            std::fs::read_to_string(self.path("to-sign.sig")).unwrap()
        }

        /// `ssh-keygen -Y verify`: whether it says Good, and what it printed.
        fn openssh_verify(
            &self,
            allowed: &str,
            principal: &str,
            namespace: &str,
            sig: &str,
            payload: &[u8],
            time: Option<i64>,
        ) -> (bool, String) {
            let allowed = self.write("allowed", allowed);
            let sig = self.write("verify.sig", sig);
            let mut cmd = Command::new("ssh-keygen");
            cmd.args(["-Y", "verify", "-f"])
                .arg(&allowed)
                .args(["-I", principal, "-n", namespace, "-s"])
                .arg(&sig);
            if let Some(t) = time {
                cmd.arg(format!("-Overify-time={}", openssh_time(t)));
            }
            let out = crate::gate::sshsig::tests::run_with_stdin(&mut cmd, payload);
            let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
            let text = format!("{stdout}{}", String::from_utf8_lossy(&out.stderr));
            (out.status.success() && stdout.starts_with("Good"), text)
        }

        /// `ssh-keygen -Y find-principals`: the principals it prints, or `None` when it fails.
        fn find_principals(&self, allowed: &str, sig: &str) -> Option<Vec<String>> {
            let allowed = self.write("allowed", allowed);
            let sig = self.write("find.sig", sig);
            let out = Command::new("ssh-keygen")
                .args(["-Y", "find-principals", "-f"])
                .arg(&allowed)
                .arg("-s")
                .arg(&sig)
                .stdin(Stdio::null())
                .output()
                .unwrap();
            out.status.success().then(|| {
                String::from_utf8(out.stdout)
                    .unwrap()
                    .lines()
                    .map(str::to_owned)
                    .collect()
            })
        }
    }

    fn openssh_time(t: i64) -> String {
        jiff::Timestamp::from_second(t)
            .unwrap()
            .strftime("%Y%m%d%H%M%SZ")
            .to_string()
    }

    fn run_with_stdin(cmd: &mut Command, input: &[u8]) -> std::process::Output {
        use std::io::Write;
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdin = child.stdin.take().unwrap();
        let input = input.to_vec();
        let writer = std::thread::spawn(move || {
            let _ = stdin.write_all(&input);
        });
        let out = child.wait_with_output().unwrap();
        writer.join().unwrap();
        out
    }

    /// The "with ED25519 key" word of ssh-keygen's Good line.
    fn openssh_algorithm(good: &str) -> &str {
        good.split(" with ")
            .nth(1)
            .unwrap()
            .split(' ')
            .next()
            .unwrap()
    }

    /// An `ssh-agent -D -a <socket>` of the test's own, killed on drop.
    struct Agent {
        child: std::process::Child,
        sock: PathBuf,
    }

    impl Agent {
        fn start(dir: &Path) -> Option<Agent> {
            let sock = dir.join("agent.sock");
            let child = match Command::new("ssh-agent")
                .arg("-D")
                .arg("-a")
                .arg(&sock)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
            {
                Ok(child) => child,
                Err(e) if e.kind() == io::ErrorKind::NotFound => {
                    eprintln!(
                        "skipped: ssh-agent is not installed (Debian/Ubuntu: openssh-client)"
                    );
                    return None;
                }
                Err(e) => panic!("ssh-agent: {e}"),
            };
            let agent = Agent { child, sock };
            let deadline = Instant::now() + Duration::from_secs(10);
            while !agent.sock.exists() {
                assert!(Instant::now() < deadline, "ssh-agent made no socket");
                std::thread::sleep(Duration::from_millis(20));
            }
            Some(agent)
        }

        /// `ssh-add <key>`, answering a passphrase prompt with `passphrase` through askpass.
        fn add(&self, lab: &Lab, key: &Path, passphrase: &str) {
            let askpass = lab.write("askpass", format!("#!/bin/sh\necho '{passphrase}'\n"));
            let mut perms = std::fs::metadata(&askpass).unwrap().permissions();
            std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o755);
            std::fs::set_permissions(&askpass, perms).unwrap();
            let out = Command::new("ssh-add")
                .arg(key)
                .env("SSH_AUTH_SOCK", &self.sock)
                .env("SSH_ASKPASS", &askpass)
                .env("SSH_ASKPASS_REQUIRE", "force")
                .stdin(Stdio::null())
                .output()
                .unwrap();
            assert!(out.status.success(), "ssh-add: {out:?}");
        }
    }

    impl Drop for Agent {
        fn drop(&mut self) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }

    /// A repository whose local config has `settings`, opened without global or system config.
    fn repo_with(settings: &[(&str, &str)]) -> (tempfile::TempDir, gix::Repository) {
        let dir = tempfile::tempdir().unwrap();
        let git = |args: &[&str]| {
            let out = Command::new("git")
                .args(args)
                .current_dir(dir.path())
                .env("GIT_CONFIG_GLOBAL", "/dev/null")
                .env("GIT_CONFIG_NOSYSTEM", "1")
                .output()
                .unwrap();
            assert!(out.status.success(), "git {args:?}: {out:?}");
        };
        git(&["init", "-q"]);
        for (key, value) in settings {
            git(&["config", key, value]);
        }
        let repo = gix::open_opts(dir.path(), gix::open::Options::isolated()).unwrap();
        (dir, repo)
    }

    fn setup_of(settings: &[(&str, &str)]) -> Result<Option<SigningSetup>, SignError> {
        let (_dir, repo) = repo_with(settings);
        signing_setup(&repo.config_snapshot())
    }

    const PAYLOAD: &[u8] = b"aiflow review v1\nflow: add-login\nsubtask: k3f9\npatch-id: 5d41402abc4b2a76b9719d911017c592\nverdict: approve\n";

    // --------------------------------------------------------------------------------------------
    // Parsing

    #[test]
    fn parses_comments_options_and_quotes() {
        let (k1, k2, k3) = (fake_key(1), fake_key(2), fake_key(3));
        let text = format!(
            "# reviewers\n\n   \t# indented comment\ngrace@example.com {k1} grace's laptop\r\n\
             \"Ada Lovelace,ada@example.com\" NAMESPACES=\"aiflow-review,git\",Valid-After=\"20260101\" {k2}\n\
             *@example.org,!eve@example.org\tcert-authority,valid-before=\"202701011200Z\"\t{k3}\n\
             bob@example.com namespaces=\"say \\\"hi\\\"\" {k1}\n"
        );
        let s = parse(&text).unwrap();
        assert_eq!(s.len(), 4);
        assert_eq!(s.origin(), "test file");
        let e = &s.entries;
        assert_eq!(
            (e[0].line, e[0].principals.as_str()),
            (4, "grace@example.com")
        );
        assert_eq!(e[0].key, key_data(&k1));
        assert!(e[0].namespaces.is_none() && !e[0].cert_authority);
        assert_eq!(e[1].principals, "Ada Lovelace,ada@example.com");
        assert_eq!(e[1].namespaces.as_deref(), Some("aiflow-review,git"));
        assert_eq!(e[1].valid_after, Some(utc("20260101Z")));
        assert_eq!(e[2].principals, "*@example.org,!eve@example.org");
        assert!(e[2].cert_authority);
        assert_eq!(e[2].valid_before, Some(utc("20270101120000Z")));
        assert_eq!(e[3].namespaces.as_deref(), Some("say \"hi\""));
        assert!(parse("").unwrap().is_empty());
        assert!(parse("# nothing\n\n").unwrap().is_empty());
    }

    #[test]
    fn parse_errors_name_the_line_and_the_fix() {
        let k = fake_key(1);
        let rsa_type = k.replace("ssh-ed25519", "ssh-rsa");
        let cases = [
            (format!("grace@example.com foo=\"x\" {k}"), "unknown option \"foo\""),
            (format!("grace@example.com namespaces=git {k}"), "needs a quoted value"),
            (format!("grace@example.com namespaces=\"git {k}"), "unterminated quote"),
            (format!("\"grace@example.com {k}"), "unterminated quote"),
            ("grace@example.com".into(), "only \"grace@example.com\""),
            ("grace@example.com cert-authority".into(), "no key after"),
            ("grace@example.com ssh-ed25519 AAAA!!!".into(), "does not decode"),
            ("grace@example.com ssh-ed25519".into(), "no key in"),
            (format!("grace@example.com {rsa_type}"), "does not decode"),
            (format!("grace@example.com valid-before=\"2026\" {k}"), "not a time"),
            (format!("grace@example.com valid-before=\"20261301\" {k}"), "not a time"),
            (
                format!("grace@example.com valid-after=\"20270101\",valid-before=\"20260101\" {k}"),
                "not later than valid-after",
            ),
            (
                format!("grace@example.com valid-after=\"20270101\",valid-after=\"20280101\" {k}"),
                "more than one valid-after",
            ),
            (format!("grace@example.com cert-authority, {k}"), "end with a comma"),
            (format!("\"\" {k}"), "principals (the first word) are empty"),
            (
                format!("\"Ada Lovelace\",ada@example.com {k}"),
                "quote the whole list, as in \"Ada Lovelace,ada@example.com\"",
            ),
            (
                "grace@example.com ssh-ed25519-cert-v01@openssh.com AAAA".into(),
                "certificates are not supported",
            ),
            ("grace@example.com ecdsa-sha2-nistp256 AAAAC3NzaC1lZDI1NTE5AAAAIAEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEB".into(), "does not decode"),
        ];
        for (line, want) in cases {
            let text = format!(
                "# first\n{}\n{line}\n",
                fake_key(9).replace("ssh-", "x@y ssh-")
            );
            let err = parse(&text).unwrap_err();
            assert_eq!(err.line, 3, "{line}: {err}");
            assert!(err.problem.contains(want), "{line}: {err}");
            assert!(err.to_string().starts_with("test file, line 3: "), "{err}");
        }
    }

    #[test]
    fn times_read_as_openssh_reads_them() {
        assert_eq!(utc("20260101Z"), 1_767_225_600);
        assert_eq!(utc("20260101z"), 1_767_225_600);
        assert_eq!(utc("20260101UTC"), 1_767_225_600);
        assert_eq!(utc("202601011230Z"), 1_767_225_600 + 12 * 3600 + 30 * 60);
        assert_eq!(
            utc("20260101123045Z"),
            1_767_225_600 + 12 * 3600 + 30 * 60 + 45
        );
        // mktime's normalisation: 31 February is 3 March.
        assert_eq!(utc("20250231Z"), utc("20250303Z"));
        let tz = jiff::tz::TimeZone::UTC;
        for bad in [
            "2026",
            "2026010",
            "20261301",
            "20260132",
            "20260101250000",
            "2026010aZ",
            "Z",
            "19700101Z",
        ] {
            assert_eq!(parse_time(bad, &tz), None, "{bad}");
        }
        // Local time is read with the zone's standard offset, even in summer (mktime with
        // tm_isdst = 0): midnight on 1 July in Berlin is 23:00 UTC, i.e. 01:00 CEST.
        if let Ok(berlin) = jiff::tz::TimeZone::get("Europe/Berlin") {
            assert_eq!(
                parse_time("20250701", &berlin),
                Some(utc("20250630230000Z"))
            );
            assert_eq!(
                parse_time("20250101", &berlin),
                Some(utc("20241231230000Z"))
            );
            assert_eq!(parse_time("20250701Z", &berlin), Some(utc("20250701Z")));
        }
    }

    #[test]
    fn patterns_match_as_openssh_does() {
        for (s, p) in [
            ("a@x.org", "*@x.org"),
            ("a@x.org", "?@x.org"),
            ("a@x.org", "*"),
            ("a@x.org", "a*x*"),
            ("aiflow-review", "aiflow-*"),
            ("", ""),
            ("", "*"),
        ] {
            assert!(match_pattern(s.as_bytes(), p.as_bytes()), "{s} ~ {p}");
        }
        for (s, p) in [
            ("a@x.org", "?@x"),
            ("ab@x.org", "?@x.org"),
            ("a@x.org", "A@x.org"),
            ("a@x.org", ""),
            ("a@x.orgg", "*@x.org"),
        ] {
            assert!(!match_pattern(s.as_bytes(), p.as_bytes()), "{s} !~ {p}");
        }
        assert_eq!(
            match_pattern_list("a@x.org", "b@x.org,*@x.org"),
            Match::Positive
        );
        assert_eq!(
            match_pattern_list("eve@x.org", "*@x.org,!eve@x.org"),
            Match::Negated
        );
        assert_eq!(
            match_pattern_list("eve@x.org", "!eve@x.org,*@x.org"),
            Match::Negated
        );
        assert_eq!(
            match_pattern_list("a@y.org", "*@x.org,!eve@x.org"),
            Match::None
        );
        assert_eq!(match_pattern_list("a@y.org", "!eve@x.org"), Match::None);
        assert_eq!(first_literal("*@x.org,!b@x.org,c@x.org"), Some("c@x.org"));
        assert_eq!(first_literal("*@x.org,!b@x.org"), None);
    }

    #[test]
    fn split_cmdline_as_git() {
        assert_eq!(split_cmdline("ssh-add -L").unwrap(), ["ssh-add", "-L"]);
        assert_eq!(
            split_cmdline("  sh -c 'echo \"key::a b\"'  ").unwrap(),
            ["sh", "-c", "echo \"key::a b\""]
        );
        assert_eq!(
            split_cmdline(r#"a "b \" c" d\ e"#).unwrap(),
            ["a", "b \" c", "d e"]
        );
        assert_eq!(split_cmdline("''").unwrap(), [""]);
        assert!(split_cmdline("a 'b").is_err());
        assert!(split_cmdline("a \\").is_err());
    }

    // --------------------------------------------------------------------------------------------
    // Principal choice and refusals, without signatures

    #[test]
    fn authorize_prefers_the_claimed_email_and_explains_refusals() {
        let (k1, k2, k3, k4, k5) = (
            fake_key(1),
            fake_key(2),
            fake_key(3),
            fake_key(4),
            fake_key(5),
        );
        let text = format!(
            "alice@example.com,alice@example.org {k1}\n\
             *@example.net,!mallory@example.net {k2}\n\
             bob@example.com namespaces=\"git\" {k3}\n\
             bob@example.com valid-before=\"20260101Z\" {k3}\n\
             ca@example.com cert-authority {k4}\n\
             later@example.com valid-after=\"20300101Z\" {k5}\n"
        );
        let s = parse(&text).unwrap();
        let at = utc("20260601Z");
        let who = |k: &str, claimed: Option<&str>| {
            s.authorize(&key_data(k), NAMESPACE, at, claimed, |refusals| {
                VerifyError::NotAllowed {
                    fingerprint: String::new(),
                    algorithm: String::new(),
                    origin: String::new(),
                    refusals,
                }
            })
        };
        let refusals = |r: Result<String, VerifyError>| match r {
            Err(VerifyError::NotAllowed { refusals, .. }) => refusals,
            other => panic!("expected a refusal, got {other:?}"),
        };
        assert_eq!(who(&k1, None).unwrap(), "alice@example.com");
        assert_eq!(
            who(&k1, Some("alice@example.org")).unwrap(),
            "alice@example.org"
        );
        // A literal principal is the fallback when the claim matches nothing: callers compare.
        assert_eq!(
            who(&k1, Some("bob@example.com")).unwrap(),
            "alice@example.com"
        );
        assert_eq!(
            who(&k2, Some("carol@example.net")).unwrap(),
            "carol@example.net"
        );
        let r = refusals(who(&k2, Some("mallory@example.net")));
        assert_eq!(r.len(), 1);
        assert_eq!(r[0].line, 2);
        assert!(matches!(r[0].reason, RefusalReason::PatternsOnly { .. }));
        assert!(
            r[0].to_string()
                .contains("none matches mallory@example.net")
        );
        assert!(
            refusals(who(&k2, None))[0]
                .to_string()
                .contains("claims no email")
        );
        let r = refusals(who(&k3, Some("bob@example.com")));
        assert_eq!(r.len(), 2);
        assert_eq!(
            r[0].reason,
            RefusalReason::Namespace {
                allowed: "git".into(),
                namespace: NAMESPACE.into()
            }
        );
        assert_eq!(
            r[1].reason,
            RefusalReason::Expired {
                valid_before: utc("20260101Z"),
                at
            }
        );
        assert!(
            r[1].to_string().contains("2026-01-01T00:00:00Z"),
            "{}",
            r[1]
        );
        assert_eq!(
            refusals(who(&k4, None))[0].reason,
            RefusalReason::CertAuthority
        );
        assert!(matches!(
            refusals(who(&k5, None))[0].reason,
            RefusalReason::NotYetValid { .. }
        ));
        let unknown = s.authorize(&key_data(&fake_key(6)), NAMESPACE, at, None, |r| {
            assert!(r.is_empty());
            VerifyError::Malformed {
                problem: "unlisted".into(),
            }
        });
        assert!(matches!(unknown, Err(VerifyError::Malformed { .. })));
    }

    // --------------------------------------------------------------------------------------------
    // Verifying, in-process

    #[test]
    fn in_process_signature_verifies_and_tampering_is_caught() {
        let (sig, allowed) = in_process_signature(PAYLOAD, NAMESPACE);
        let s = parse(&allowed).unwrap();
        let v = verify(&s, PAYLOAD, &sig, NAMESPACE, None, None).unwrap();
        assert_eq!(v.principal, "grace@example.com");
        assert_eq!(v.algorithm, "ED25519");
        assert!(v.fingerprint.starts_with("SHA256:"));
        // CRLF and surrounding white space are forgiven.
        let crlf = format!("\n  {}", sig.replace('\n', "\r\n"));
        assert!(verify(&s, PAYLOAD, &crlf, NAMESPACE, None, None).is_ok());

        let e = verify(&s, b"other", &sig, NAMESPACE, None, None).unwrap_err();
        assert!(matches!(e, VerifyError::Mismatch { .. }), "{e}");
        assert_eq!(e.code(), "bad-signature");
        let e = verify(&s, PAYLOAD, &sig, "git", None, None).unwrap_err();
        assert!(matches!(e, VerifyError::Namespace { .. }), "{e}");
        assert_eq!(e.code(), "bad-signature");
        for bad in [
            "",
            "hello",
            "-----BEGIN SSH SIGNATURE-----\nAAAA\n",
            &sig[..sig.len() / 2],
        ] {
            let e = verify(&s, PAYLOAD, bad, NAMESPACE, None, None).unwrap_err();
            assert!(matches!(e, VerifyError::Malformed { .. }), "{bad:?}: {e}");
        }
        let e = verify(&parse("").unwrap(), PAYLOAD, &sig, NAMESPACE, None, None).unwrap_err();
        assert_eq!(e.code(), "unknown-signer");
        let msg = e.to_string();
        assert!(
            msg.contains("not in test file") && msg.contains("<email> ssh-ed25519 AAAA"),
            "{msg}"
        );
    }

    #[test]
    fn unusual_signature_blobs_are_refused() {
        let (sig, allowed) = in_process_signature(PAYLOAD, NAMESPACE);
        let s = parse(&allowed).unwrap();
        let blob = dearmor(&sig).unwrap();
        // Trailing bytes.
        let mut long = blob.clone();
        long.push(0);
        let e = verify(&s, PAYLOAD, &armor(&long), NAMESPACE, None, None).unwrap_err();
        assert!(e.to_string().contains("trailing data"), "{e}");
        // A certificate's key type.
        let mut cert = b"SSHSIG".to_vec();
        cert.extend(1u32.to_be_bytes());
        let mut key = Vec::new();
        put_string(&mut key, b"ssh-ed25519-cert-v01@openssh.com");
        put_string(&mut key, b"nonce");
        put_string(&mut cert, &key);
        let e = verify(&s, PAYLOAD, &armor(&cert), NAMESPACE, None, None).unwrap_err();
        assert!(matches!(e, VerifyError::Certificate { .. }), "{e}");
        assert_eq!(e.code(), "unknown-signer");
    }

    // --------------------------------------------------------------------------------------------
    // Against OpenSSH

    const KINDS: [(&str, Option<&str>, &str); 3] = [
        ("ed25519", None, "ED25519"),
        ("ecdsa", Some("256"), "ECDSA"),
        ("rsa", Some("3072"), "RSA"),
    ];

    #[test]
    fn openssh_signatures_verify() {
        let Some(lab) = Lab::new() else { return };
        for (kind, bits, name) in KINDS {
            let key = lab.key(kind, kind, bits, "");
            let allowed = format!("grace@example.com {}\n", lab.public(&key));
            let s = parse(&allowed).unwrap();
            let hashes: &[&[&str]] = if kind == "rsa" {
                &[&[], &["-Ohashalg=sha256"]] // rsa-sha2-512 and rsa-sha2-256
            } else {
                &[&[]]
            };
            for opts in hashes {
                let sig = lab.openssh_sign(&key, NAMESPACE, PAYLOAD, opts);
                let (good, said) = lab.openssh_verify(
                    &allowed,
                    "grace@example.com",
                    NAMESPACE,
                    &sig,
                    PAYLOAD,
                    None,
                );
                assert!(good, "{said}");
                let v = verify(&s, PAYLOAD, &sig, NAMESPACE, None, None)
                    .unwrap_or_else(|e| panic!("{kind} {opts:?}: {e}"));
                assert_eq!(v.principal, "grace@example.com");
                assert_eq!(v.fingerprint, lab.fingerprint(&key));
                assert_eq!(v.algorithm, name);
                assert_eq!(openssh_algorithm(&said), name, "{said}");
            }
        }
    }

    #[test]
    fn our_signatures_verify_with_openssh() {
        let Some(lab) = Lab::new() else { return };
        for (kind, bits, name) in KINDS {
            let key = lab.key(kind, kind, bits, "");
            // user.signingKey as a private key file, no agent.
            let setup = setup_of(&[
                ("gpg.format", "ssh"),
                ("user.signingKey", key.to_str().unwrap()),
            ])
            .unwrap()
            .unwrap();
            assert!(!setup.literal);
            let sig = sign_with(&setup, PAYLOAD, NAMESPACE, |c| {
                c.env_remove("SSH_AUTH_SOCK")
            })
            .unwrap();
            assert!(sig.starts_with("-----BEGIN SSH SIGNATURE-----\n"), "{sig}");
            let allowed = format!("grace@example.com {}\n", lab.public(&key));
            let (good, said) = lab.openssh_verify(
                &allowed,
                "grace@example.com",
                NAMESPACE,
                &sig,
                PAYLOAD,
                None,
            );
            assert_eq!(
                said.lines().next().unwrap(),
                format!(
                    "Good \"aiflow-review\" signature for grace@example.com with {name} key {}",
                    lab.fingerprint(&key)
                ),
                "{said}"
            );
            assert!(good);
            let v = verify(
                &parse(&allowed).unwrap(),
                PAYLOAD,
                &sig,
                NAMESPACE,
                None,
                None,
            )
            .unwrap();
            assert_eq!(v.algorithm, name);
        }
    }

    #[test]
    fn refusals_match_openssh() {
        let Some(lab) = Lab::new() else { return };
        let key = lab.key("grace", "ed25519", None, "");
        let other = lab.key("other", "ed25519", None, "");
        let public = lab.public(&key);
        let line = |options: &str| format!("grace@example.com {options} {public}\n");
        let sig = lab.openssh_sign(&key, NAMESPACE, PAYLOAD, &[]);
        let git_sig = lab.openssh_sign(&key, "git", PAYLOAD, &[]);
        // One byte of the raw signature (the blob's last bytes) flipped.
        let mut blob = dearmor(&sig).unwrap();
        let last = blob.len() - 1;
        blob[last] ^= 1;
        let flipped = armor(&blob);
        // One base64 character in the middle changed.
        let mut garbled = sig.clone().into_bytes();
        let mid = garbled.len() / 2;
        garbled[mid] = if garbled[mid] == b'A' { b'B' } else { b'A' };
        let garbled = String::from_utf8(garbled).unwrap();
        let at_2019 = utc("20190601Z");

        struct Case<'a> {
            what: &'a str,
            allowed: String,
            sig: &'a str,
            payload: &'a [u8],
            time: Option<i64>,
            code: &'a str,
        }
        let cases = [
            Case {
                what: "tampered payload",
                allowed: line(""),
                sig: &sig,
                payload: b"verdict: approve\n",
                time: None,
                code: "bad-signature",
            },
            Case {
                what: "flipped signature byte",
                allowed: line(""),
                sig: &flipped,
                payload: PAYLOAD,
                time: None,
                code: "bad-signature",
            },
            Case {
                what: "garbled base64",
                allowed: line(""),
                sig: &garbled,
                payload: PAYLOAD,
                time: None,
                code: "bad-signature",
            },
            Case {
                what: "another namespace",
                allowed: line(""),
                sig: &git_sig,
                payload: PAYLOAD,
                time: None,
                code: "bad-signature",
            },
            Case {
                what: "expired",
                allowed: line("valid-before=\"20200101Z\""),
                sig: &sig,
                payload: PAYLOAD,
                time: None,
                code: "unknown-signer",
            },
            Case {
                what: "not yet valid",
                allowed: line("valid-after=\"20200101\""),
                sig: &sig,
                payload: PAYLOAD,
                time: Some(at_2019),
                code: "unknown-signer",
            },
            Case {
                what: "namespaces option",
                allowed: line("namespaces=\"git,aiflow-*x\""),
                sig: &sig,
                payload: PAYLOAD,
                time: None,
                code: "unknown-signer",
            },
            Case {
                what: "key not in file",
                allowed: format!("grace@example.com {}\n", lab.public(&other)),
                sig: &sig,
                payload: PAYLOAD,
                time: None,
                code: "unknown-signer",
            },
            Case {
                what: "cert-authority line",
                allowed: line("cert-authority"),
                sig: &sig,
                payload: PAYLOAD,
                time: None,
                code: "unknown-signer",
            },
            Case {
                what: "negated principal",
                allowed: format!("*@example.com,!grace@example.com {public}\n"),
                sig: &sig,
                payload: PAYLOAD,
                time: None,
                code: "unknown-signer",
            },
        ];
        for c in &cases {
            let (good, said) = lab.openssh_verify(
                &c.allowed,
                "grace@example.com",
                NAMESPACE,
                c.sig,
                c.payload,
                c.time,
            );
            assert!(!good, "{}: ssh-keygen accepted it: {said}", c.what);
            let s = parse(&c.allowed).unwrap();
            let e = verify(
                &s,
                c.payload,
                c.sig,
                NAMESPACE,
                c.time,
                Some("grace@example.com"),
            )
            .expect_err(c.what);
            assert_eq!(e.code(), c.code, "{}: {e}", c.what);
        }
        // The same files accept it in the window, for both.
        let window =
            line("namespaces=\"git,aiflow-*\",valid-after=\"20200101\",valid-before=\"20991231Z\"");
        let (good, said) =
            lab.openssh_verify(&window, "grace@example.com", NAMESPACE, &sig, PAYLOAD, None);
        assert!(good, "{said}");
        verify(
            &parse(&window).unwrap(),
            PAYLOAD,
            &sig,
            NAMESPACE,
            None,
            None,
        )
        .unwrap();
        // valid-before is inclusive, to the second.
        let edge = line("valid-before=\"20260101000000Z\"");
        for (t, ok) in [(utc("20260101Z"), true), (utc("20260101Z") + 1, false)] {
            let (good, said) = lab.openssh_verify(
                &edge,
                "grace@example.com",
                NAMESPACE,
                &sig,
                PAYLOAD,
                Some(t),
            );
            assert_eq!(good, ok, "{said}");
            assert_eq!(
                verify(
                    &parse(&edge).unwrap(),
                    PAYLOAD,
                    &sig,
                    NAMESPACE,
                    Some(t),
                    None
                )
                .is_ok(),
                ok
            );
        }
    }

    #[test]
    fn local_times_match_openssh() {
        let Some(lab) = Lab::new() else { return };
        let Ok(berlin) = jiff::tz::TimeZone::get("Europe/Berlin") else {
            eprintln!("skipped: no Europe/Berlin in the time zone database");
            return;
        };
        let key = lab.key("grace", "ed25519", None, "");
        let sig = lab.openssh_sign(&key, NAMESPACE, PAYLOAD, &[]);
        let allowed = format!(
            "grace@example.com valid-before=\"20250701\" {}\n",
            lab.public(&key)
        );
        let s = AllowedSigners::parse_in(&allowed, "test file", &berlin).unwrap();
        // Around 00:30 CEST on 1 July (22:30 UTC on 30 June), where the tm_isdst quirk decides.
        for t in [utc("20250630223000Z"), utc("20250630233000Z")] {
            let allowed_file = lab.write("allowed", &allowed);
            let sig_file = lab.write("verify.sig", &sig);
            let out = run_with_stdin(
                Command::new("ssh-keygen")
                    .args(["-Y", "verify", "-f"])
                    .arg(&allowed_file)
                    .args(["-I", "grace@example.com", "-n", NAMESPACE, "-s"])
                    .arg(&sig_file)
                    .arg(format!("-Overify-time={}", openssh_time(t)))
                    .env("TZ", "Europe/Berlin"),
                PAYLOAD,
            );
            let ours = verify(&s, PAYLOAD, &sig, NAMESPACE, Some(t), None).is_ok();
            assert_eq!(ours, out.status.success(), "at {}: {out:?}", show_time(t));
        }
    }

    #[test]
    fn principal_choice_matches_find_principals() {
        let Some(lab) = Lab::new() else { return };
        let keys: Vec<PathBuf> = (1..=5)
            .map(|i| lab.key(&format!("k{i}"), "ed25519", None, ""))
            .collect();
        let p: Vec<String> = keys.iter().map(|k| lab.public(k)).collect();
        let allowed = format!(
            "# team\n\
             alice@example.com,alice@example.org {}\n\
             *@example.net,!mallory@example.net {}\n\
             bob@example.com namespaces=\"git\" {}\n\
             bob@example.com {}\n\
             \"Grace Hopper,grace@example.com\" {}\n",
            p[0], p[1], p[2], p[2], p[3]
        );
        let s = parse(&allowed).unwrap();
        let sigs: Vec<String> = keys
            .iter()
            .map(|k| lab.openssh_sign(k, NAMESPACE, PAYLOAD, &[]))
            .collect();
        let ours = |i: usize, claimed: Option<&str>| {
            verify(&s, PAYLOAD, &sigs[i], NAMESPACE, None, claimed).map(|v| v.principal)
        };
        let openssh_ok = |i: usize, principal: &str| {
            lab.openssh_verify(&allowed, principal, NAMESPACE, &sigs[i], PAYLOAD, None)
                .0
        };

        // Several principals: find-principals lists them all; we name the first, or the claimed.
        let found = lab.find_principals(&allowed, &sigs[0]).unwrap();
        assert_eq!(found, ["alice@example.com", "alice@example.org"]);
        assert_eq!(ours(0, None).unwrap(), found[0]);
        assert_eq!(
            ours(0, Some("alice@example.org")).unwrap(),
            "alice@example.org"
        );
        assert!(openssh_ok(0, "alice@example.org"));

        // Patterns: find-principals prints the patterns; we take the claimed email they match.
        let found = lab.find_principals(&allowed, &sigs[1]).unwrap();
        assert_eq!(found, ["*@example.net", "!mallory@example.net"]);
        assert_eq!(
            ours(1, Some("carol@example.net")).unwrap(),
            "carol@example.net"
        );
        assert!(openssh_ok(1, "carol@example.net"));
        assert!(!openssh_ok(1, "mallory@example.net"));
        assert_eq!(
            ours(1, Some("mallory@example.net")).unwrap_err().code(),
            "unknown-signer"
        );
        assert_eq!(ours(1, None).unwrap_err().code(), "unknown-signer");

        // find-principals ignores namespaces= (the first line); verify goes on to the second.
        assert_eq!(
            lab.find_principals(&allowed, &sigs[2]).unwrap(),
            ["bob@example.com"]
        );
        assert!(openssh_ok(2, "bob@example.com"));
        assert_eq!(ours(2, Some("bob@example.com")).unwrap(), "bob@example.com");

        // A quoted list with a space.
        let found = lab.find_principals(&allowed, &sigs[3]).unwrap();
        assert_eq!(found, ["Grace Hopper", "grace@example.com"]);
        assert!(openssh_ok(3, "Grace Hopper"));
        assert_eq!(
            ours(3, Some("grace@example.com")).unwrap(),
            "grace@example.com"
        );

        // Not in the file.
        assert_eq!(lab.find_principals(&allowed, &sigs[4]), None);
        let e = ours(4, None).unwrap_err();
        assert!(matches!(e, VerifyError::UnknownKey { .. }), "{e}");
        assert!(e.to_string().contains(&lab.fingerprint(&keys[4])), "{e}");
    }

    /// FIDO keys without hardware: the signature a security key would make, built from an
    /// ordinary key pair, checked by OpenSSH and by us.
    #[test]
    fn fido_signatures_verify_like_openssh() {
        use sha2::Digest;
        use ssh_key::private::KeypairData;
        use ssh_key::sha2;
        let Some(lab) = Lab::new() else { return };
        for (kind, name) in [("ed25519", "ED25519-SK"), ("ecdsa", "ECDSA-SK")] {
            let file = lab.key(kind, kind, None, "");
            let private = ssh_key::PrivateKey::read_openssh_file(&file).unwrap();
            let pair = private.key_data();
            let (public, sig_type) = match pair {
                KeypairData::Ed25519(k) => (
                    KeyData::SkEd25519(ssh_key::public::SkEd25519::new(k.public, "ssh:")),
                    "sk-ssh-ed25519@openssh.com",
                ),
                KeypairData::Ecdsa(ssh_key::private::EcdsaKeypair::NistP256 { public, .. }) => (
                    KeyData::SkEcdsaSha2NistP256(ssh_key::public::SkEcdsaSha2NistP256::new(
                        *public, "ssh:",
                    )),
                    "sk-ecdsa-sha2-nistp256@openssh.com",
                ),
                _ => unreachable!(),
            };
            let (flags, counter) = (0x01u8, 42u32); // user present
            let inner = SshSig::signed_data(NAMESPACE, HashAlg::Sha512, PAYLOAD).unwrap();
            let mut message = sha2::Sha256::digest(b"ssh:").to_vec();
            message.push(flags);
            message.extend(counter.to_be_bytes());
            message.extend(sha2::Sha256::digest(&inner));
            let raw: ssh_key::Signature = signature::Signer::try_sign(pair, &message).unwrap();

            let mut sig_blob = Vec::new();
            put_string(&mut sig_blob, sig_type.as_bytes());
            put_string(&mut sig_blob, raw.as_bytes());
            sig_blob.push(flags);
            sig_blob.extend(counter.to_be_bytes());
            let mut key_blob = Vec::new();
            ssh_encoding::Encode::encode(&public, &mut key_blob).unwrap();
            let mut blob = b"SSHSIG".to_vec();
            blob.extend(1u32.to_be_bytes());
            put_string(&mut blob, &key_blob);
            put_string(&mut blob, NAMESPACE.as_bytes());
            put_string(&mut blob, b"");
            put_string(&mut blob, b"sha512");
            put_string(&mut blob, &sig_blob);
            let sig = armor(&blob);

            let line = PublicKey::from(public).to_openssh().unwrap();
            let allowed = format!("grace@example.com {line}\n");
            let (good, said) = lab.openssh_verify(
                &allowed,
                "grace@example.com",
                NAMESPACE,
                &sig,
                PAYLOAD,
                None,
            );
            assert!(good, "{kind}: {said}");
            assert_eq!(openssh_algorithm(&said), name);
            let s = parse(&allowed).unwrap();
            let v = verify(&s, PAYLOAD, &sig, NAMESPACE, None, None).unwrap();
            assert_eq!(v.algorithm, name);
            assert_eq!(
                said.lines().next().unwrap().rsplit(' ').next().unwrap(),
                v.fingerprint
            );

            let (good, _) =
                lab.openssh_verify(&allowed, "grace@example.com", NAMESPACE, &sig, b"x", None);
            assert!(!good);
            let e = verify(&s, b"x", &sig, NAMESPACE, None, None).unwrap_err();
            assert_eq!(e.code(), "bad-signature", "{e}");
        }
    }

    #[test]
    fn unsupported_keys_are_named() {
        let Some(lab) = Lab::new() else { return };
        for (kind, bits) in [("ecdsa", "384"), ("rsa", "1024")] {
            let key = lab.key(kind, kind, Some(bits), "");
            let allowed = format!("grace@example.com {}\n", lab.public(&key));
            let sig = lab.openssh_sign(&key, NAMESPACE, PAYLOAD, &[]);
            let e = verify(
                &parse(&allowed).unwrap(),
                PAYLOAD,
                &sig,
                NAMESPACE,
                None,
                None,
            )
            .unwrap_err();
            assert!(
                matches!(e, VerifyError::UnsupportedKey { .. }),
                "{kind}-{bits}: {e}"
            );
            assert!(e.to_string().contains("sign with an Ed25519"), "{e}");
        }
    }

    // --------------------------------------------------------------------------------------------
    // Signing through git config

    #[test]
    fn setup_follows_git_config() {
        assert_eq!(setup_of(&[]).unwrap(), None);
        assert_eq!(setup_of(&[("user.signingKey", "/k")]).unwrap(), None);
        assert_eq!(
            setup_of(&[("gpg.format", "openpgp"), ("user.signingKey", "/k")]).unwrap(),
            None
        );
        assert_eq!(setup_of(&[("gpg.format", "ssh")]).unwrap(), None);
        let s = setup_of(&[
            ("gpg.format", "ssh"),
            ("user.signingKey", "/keys/id_ed25519"),
        ])
        .unwrap()
        .unwrap();
        assert_eq!(
            s,
            SigningSetup {
                program: "ssh-keygen".into(),
                key: "/keys/id_ed25519".into(),
                literal: false,
                origin: "user.signingKey"
            }
        );
        let k = fake_key(1);
        for value in [format!("key::{k}"), k.clone()] {
            let s = setup_of(&[
                ("gpg.format", "ssh"),
                ("gpg.ssh.program", "/opt/bin/op-ssh-sign"),
                ("user.signingKey", &value),
            ])
            .unwrap()
            .unwrap();
            assert_eq!(
                (s.program.as_str(), s.key.as_str(), s.literal),
                ("/opt/bin/op-ssh-sign", k.as_str(), true)
            );
            assert!(
                s.describe_key().starts_with("SHA256:"),
                "{}",
                s.describe_key()
            );
        }
        // user.signingKey wins over gpg.ssh.defaultKeyCommand, which is then not run.
        let s = setup_of(&[
            ("gpg.format", "ssh"),
            ("user.signingKey", "/k"),
            ("gpg.ssh.defaultKeyCommand", "false"),
        ])
        .unwrap()
        .unwrap();
        assert_eq!(s.key, "/k");
        assert_eq!(
            expand_path("~/.ssh/id_ed25519.pub", Some(Path::new("/home/grace"))).unwrap(),
            "/home/grace/.ssh/id_ed25519.pub"
        );
        assert!(matches!(
            expand_path("~/.ssh/k", None),
            Err(SignError::KeyPath { .. })
        ));
    }

    #[test]
    fn default_key_command_as_git_runs_it() {
        let dir = tempfile::tempdir().unwrap();
        let k = fake_key(1);
        let line = dir.path().join("line");
        std::fs::write(&line, format!("key::{k}\nkey::{}\n", fake_key(2))).unwrap();
        let command = format!("cat '{}'", line.display());
        let s = setup_of(&[
            ("gpg.format", "ssh"),
            ("gpg.ssh.defaultKeyCommand", &command),
        ])
        .unwrap()
        .unwrap();
        assert_eq!(
            (s.key.as_str(), s.literal, s.origin),
            (k.as_str(), true, "gpg.ssh.defaultKeyCommand")
        );
        let cases = [
            ("false", "failed"),
            ("echo ecdsa-sha2-nistp256 AAAA", "printed no key"),
            ("/nonexistent/ssh-add -L", "could not be run"),
            ("echo 'unclosed", "unclosed quote"),
        ];
        for (command, want) in cases {
            let e = setup_of(&[
                ("gpg.format", "ssh"),
                ("gpg.ssh.defaultKeyCommand", command),
            ])
            .unwrap_err();
            assert!(
                matches!(e, SignError::DefaultKeyCommand { .. }),
                "{command}: {e}"
            );
            assert!(e.to_string().contains(want), "{command}: {e}");
        }
    }

    #[test]
    fn not_configured_says_how_to_configure() {
        for (settings, want) in [
            (&[][..], "gpg.format is not set"),
            (
                &[("gpg.format", "openpgp")][..],
                "gpg.format is \"openpgp\"",
            ),
            (&[("gpg.format", "ssh")][..], "no signing key is configured"),
        ] {
            let (_dir, repo) = repo_with(settings);
            let msg = SignError::not_configured(&repo.config_snapshot()).to_string();
            assert!(msg.contains(want), "{msg}");
            assert!(msg.contains("git config user.signingKey"), "{msg}");
        }
    }

    #[test]
    fn sign_reports_missing_program_and_unreadable_key() {
        let dir = tempfile::tempdir().unwrap();
        let key = dir.path().join("key");
        std::fs::write(&key, "not read").unwrap();
        let setup = SigningSetup {
            program: "/nonexistent/ssh-keygen".into(),
            key: key.to_str().unwrap().into(),
            literal: false,
            origin: "user.signingKey",
        };
        let e = sign(&setup, PAYLOAD, NAMESPACE).unwrap_err();
        assert!(matches!(e, SignError::ProgramMissing { .. }), "{e}");
        assert!(e.to_string().contains("openssh-client"), "{e}");
        let setup = SigningSetup {
            key: "/nonexistent/key".into(),
            ..setup
        };
        let e = sign(&setup, PAYLOAD, NAMESPACE).unwrap_err();
        assert!(matches!(e, SignError::KeyUnreadable { .. }), "{e}");
    }

    #[test]
    fn signs_through_git_config_and_an_agent() {
        let Some(lab) = Lab::new() else { return };
        let Some(agent) = Agent::start(lab.dir.path()) else {
            return;
        };
        let key = lab.key("grace", "ed25519", None, "secret");
        agent.add(&lab, &key, "secret");
        let public = lab.public(&key);
        let allowed = format!("grace@example.com {public}\n");
        let keyline = lab.write("keyline", format!("key::{public}\n"));
        let pub_path = format!("{}.pub", key.display());
        let default_cmd = format!("cat {}", keyline.display());
        let configs: [&[(&str, &str)]; 4] = [
            // A public key file; ssh-keygen finds the private half in the agent.
            &[("gpg.format", "ssh"), ("user.signingKey", &pub_path)],
            // Literal keys, signed with -U.
            &[
                ("gpg.format", "ssh"),
                ("user.signingKey", &format!("key::{public}")),
            ],
            &[("gpg.format", "ssh"), ("user.signingKey", &public)],
            &[
                ("gpg.format", "ssh"),
                ("gpg.ssh.defaultKeyCommand", &default_cmd),
            ],
        ];
        for settings in configs {
            let setup = setup_of(settings).unwrap().unwrap();
            let sig = sign_with(&setup, PAYLOAD, NAMESPACE, |c| {
                c.env("SSH_AUTH_SOCK", &agent.sock)
            })
            .unwrap_or_else(|e| panic!("{settings:?}: {e}"));
            let (good, said) = lab.openssh_verify(
                &allowed,
                "grace@example.com",
                NAMESPACE,
                &sig,
                PAYLOAD,
                None,
            );
            assert!(good, "{settings:?}: {said}");
            let v = verify(
                &parse(&allowed).unwrap(),
                PAYLOAD,
                &sig,
                NAMESPACE,
                None,
                None,
            )
            .unwrap();
            assert_eq!(v.principal, "grace@example.com");
        }
        // A literal key the agent does not hold, and no agent at all.
        let other = lab.key("other", "ed25519", None, "");
        let setup = setup_of(&[
            ("gpg.format", "ssh"),
            ("user.signingKey", &format!("key::{}", lab.public(&other))),
        ])
        .unwrap()
        .unwrap();
        let e = sign_with(&setup, PAYLOAD, NAMESPACE, |c| {
            c.env("SSH_AUTH_SOCK", &agent.sock)
        })
        .unwrap_err();
        assert!(matches!(e, SignError::NotInAgent { .. }), "{e}");
        let e = sign_with(&setup, PAYLOAD, NAMESPACE, |c| {
            c.env_remove("SSH_AUTH_SOCK")
        })
        .unwrap_err();
        assert!(matches!(e, SignError::NotInAgent { .. }), "{e}");
        assert!(e.to_string().contains("ssh-add"), "{e}");
    }

    #[test]
    fn passphrase_without_agent_fails_fast() {
        let Some(lab) = Lab::new() else { return };
        let key = lab.key("locked", "ed25519", None, "secret");
        let private = key.to_str().unwrap().to_owned();
        // The private key, and its public key with the private one beside it.
        for value in [private.clone(), format!("{private}.pub")] {
            let setup = setup_of(&[("gpg.format", "ssh"), ("user.signingKey", &value)])
                .unwrap()
                .unwrap();
            let (tx, rx) = std::sync::mpsc::channel();
            std::thread::spawn(move || {
                let _ = tx.send(sign_with(&setup, PAYLOAD, NAMESPACE, |c| {
                    c.env_remove("SSH_AUTH_SOCK")
                }));
            });
            let result = rx
                .recv_timeout(Duration::from_secs(30))
                .expect("signing with a locked key hung instead of failing");
            match result.unwrap_err() {
                SignError::Passphrase { key } => assert_eq!(key, private),
                e => panic!("{value}: {e}"),
            }
        }
        let e = SignError::Passphrase {
            key: private.clone(),
        }
        .to_string();
        assert!(
            e.contains(&format!("`ssh-add {private}`")) && e.contains("never prompts"),
            "{e}"
        );
    }

    /// `cargo test --release --lib bench_verify -- --ignored --nocapture`
    #[test]
    #[ignore = "a measurement, not a test"]
    fn bench_verify_ed25519() {
        let (sig, allowed) = in_process_signature(PAYLOAD, NAMESPACE);
        let s = parse(&allowed).unwrap();
        let rounds = 2000;
        let start = Instant::now();
        for _ in 0..rounds {
            verify(
                &s,
                PAYLOAD,
                &sig,
                NAMESPACE,
                None,
                Some("grace@example.com"),
            )
            .unwrap();
        }
        let each = start.elapsed() / rounds;
        eprintln!("one ed25519 verify (dearmor, decode, check, allowed-signers match): {each:?}");
    }
}
