//! Signed reviews: approvals signed with SSH keys that `ssh-keygen` makes inside each test,
//! verified by the gate in-process and cross-checked with `ssh-keygen -Y verify` on the
//! attestation as the README documents it. Skipped (with a message) only where `ssh-keygen` is
//! missing; CI installs it.

use crate::harness::{AS_GRACE, BIN, GitDaemon, Run, TestRepo};
use serde_json::Value;
use std::path::{Path, PathBuf};

const INTEGRATION: &str = "aiflow/rate-limit";
const SUBTASK: &str = "aiflow/rate-limit--a1-limiter";
const NOTES: &str = "refs/notes/aiflow";
const AS_MALLORY: &[(&str, &str)] = &[
    ("GIT_COMMITTER_NAME", "Mallory"),
    ("GIT_COMMITTER_EMAIL", "mallory@example.com"),
];

/// Whether `ssh-keygen` is here; says so when it is not.
fn have_ssh_keygen() -> bool {
    let ok = std::process::Command::new("ssh-keygen")
        .arg("-?")
        .output()
        .is_ok();
    if !ok {
        eprintln!("skipped: ssh-keygen is not installed (CI installs openssh-client)");
    }
    ok
}

/// A key pair made with `ssh-keygen` next to the repository: the private key's path and the
/// public key's line.
fn keygen(repo: &TestRepo, name: &str) -> (PathBuf, String) {
    let path = repo.sibling(&format!("key-{name}"));
    Run::of(repo.command("ssh-keygen").args([
        "-q",
        "-t",
        "ed25519",
        "-N",
        "",
        "-C",
        name,
        "-f",
        path.to_str().expect("utf-8"),
    ]))
    .ok();
    let public = std::fs::read_to_string(path.with_extension("pub"))
        .or_else(|_| std::fs::read_to_string(format!("{}.pub", path.display())))
        .expect("public key");
    (path, public.trim().to_owned())
}

/// Sign with `key` from now on (as a reviewer's git config would).
fn use_key(repo: &TestRepo, key: &Path) {
    repo.git(&["config", "gpg.format", "ssh"]);
    repo.git(&["config", "user.signingKey", key.to_str().expect("utf-8")]);
}

fn no_key(repo: &TestRepo) {
    let _ = repo.git_run(&["config", "--unset", "user.signingKey"]);
}

struct Keys {
    grace: PathBuf,
    ada: PathBuf,
    mallory: PathBuf,
    mallory_pub: String,
    signers: PathBuf,
}

/// main holds a policy requiring signed reviews, with Grace and Ada as allowed signers; the
/// rate-limit flow with subtasks a1 and b2 planned, a1 started with one commit by Ada. Hooks
/// installed; HEAD on the integration branch.
fn signed_repo() -> (TestRepo, Keys) {
    let repo = TestRepo::new();
    let (grace, grace_pub) = keygen(&repo, "grace");
    let (ada, ada_pub) = keygen(&repo, "ada");
    let (mallory, mallory_pub) = keygen(&repo, "mallory");
    repo.write(
        ".aiflow/allowed_signers",
        &format!(
            "grace@example.com namespaces=\"aiflow-review\" {grace_pub}\nada@example.com {ada_pub}\n"
        ),
    );
    repo.write(
        ".aiflow.toml",
        "schema = 1\n[gate]\nreviews = \"signed\"\nallowed-signers = \".aiflow/allowed_signers\"\n",
    );
    repo.git(&["add", ".aiflow.toml", ".aiflow/allowed_signers"]);
    repo.git(&["commit", "-q", "-m", "Require signed reviews"]);
    repo.new_rate_limit();
    repo.aiflow(&["hooks", "install"]).ok();
    repo.plan_subtasks(&[("a1", "Limiter"), ("b2", "Shared work")]);
    repo.aiflow(&["start", "a1"]).ok();
    repo.write("limiter.rs", "limit\n");
    repo.git(&["add", "limiter.rs"]);
    repo.git(&["commit", "-q", "-m", "Add the limiter"]);
    repo.git(&["switch", "-q", INTEGRATION]);
    let signers = repo.path.join(".aiflow/allowed_signers");
    (
        repo,
        Keys {
            grace,
            ada,
            mallory,
            mallory_pub,
            signers,
        },
    )
}

#[track_caller]
fn check(repo: &TestRepo, range: &str) -> Value {
    let r = repo.aiflow(&["check", "--json", range]);
    let v: Value = serde_json::from_str(&r.stdout)
        .unwrap_or_else(|e| panic!("no JSON ({e}):\n{}\n{}", r.stdout, r.stderr));
    assert_eq!(r.code, if v["ok"] == true { 0 } else { 1 }, "{v:#}");
    v
}

fn reasons(v: &Value) -> Vec<String> {
    v["failures"]
        .as_array()
        .expect("failures")
        .iter()
        .map(|f| f["reason"].as_str().expect("reason").to_owned())
        .collect()
}

/// The flow's note as TOML, and a way to write it back.
fn note(repo: &TestRepo) -> toml::Table {
    let anchor = anchor(repo);
    toml::from_str(&repo.git(&["notes", "--ref=aiflow", "show", &anchor])).expect("toml")
}

fn anchor(repo: &TestRepo) -> String {
    repo.git(&["rev-list", "--reverse", &format!("main..{INTEGRATION}")])
        .lines()
        .next()
        .expect("the anchor")
        .to_owned()
}

fn set_note(repo: &TestRepo, doc: &toml::Table) {
    repo.set_note(&anchor(repo), &toml::to_string(doc).expect("toml"));
}

/// The attestation of review `r` of subtask a1, built from the README's description, not from
/// the tool: one `key value` line each, values with `\`, newline and CR escaped.
fn attestation(r: &toml::Table) -> String {
    let esc = |v: &str| {
        v.replace('\\', "\\\\")
            .replace('\n', "\\n")
            .replace('\r', "\\r")
    };
    let s = |k: &str| {
        r.get(k)
            .and_then(|v| v.as_str())
            .unwrap_or_default()
            .to_owned()
    };
    let mut out = String::from("git-aiflow review attestation v1\nflow rate-limit\n");
    out.push_str(&format!("subtask {}\n", esc(&s("subtask"))));
    out.push_str(&format!("verdict {}\n", esc(&s("verdict"))));
    out.push_str(&format!("reviewer {}\n", esc(&s("reviewer"))));
    out.push_str(&format!("at {}\n", esc(&s("at"))));
    out.push_str(&format!("tool {}\n", esc(&s("tool"))));
    if let Some(c) = r.get("comment").and_then(|v| v.as_str()) {
        out.push_str(&format!("comment {}\n", esc(c)));
    }
    for c in r["commits"].as_array().expect("commits") {
        out.push_str(&format!(
            "commit {} {}\n",
            c["commit"].as_str().expect("commit"),
            c.get("content_id").and_then(|v| v.as_str()).unwrap_or("-")
        ));
    }
    out
}

/// `ssh-keygen -Y sign` of `payload` with `key` in the review namespace: the armored signature.
fn ssh_sign(repo: &TestRepo, key: &Path, payload: &str) -> String {
    let file = repo.outside("payload.txt", payload.as_bytes());
    let _ = std::fs::remove_file(format!("{}.sig", file.display()));
    Run::of(repo.command("ssh-keygen").args([
        "-Y",
        "sign",
        "-n",
        "aiflow-review",
        "-f",
        key.to_str().expect("utf-8"),
        file.to_str().expect("utf-8"),
    ]))
    .ok();
    std::fs::read_to_string(format!("{}.sig", file.display())).expect("signature")
}

/// What `ssh-keygen -Y verify` says of `signature` over `payload` by `principal`.
fn ssh_verify(
    repo: &TestRepo,
    signers: &Path,
    principal: &str,
    payload: &str,
    signature: &str,
) -> Run {
    let sig = repo.outside("check.sig", signature.as_bytes());
    let mut cmd = repo.command("ssh-keygen");
    cmd.args([
        "-Y",
        "verify",
        "-f",
        signers.to_str().expect("utf-8"),
        "-I",
        principal,
        "-n",
        "aiflow-review",
        "-s",
        sig.to_str().expect("utf-8"),
    ]);
    Run::of_stdin(&mut cmd, payload.as_bytes())
}

#[test]
fn a_signed_approval_passes_and_says_who_signed() {
    if !have_ssh_keygen() {
        return;
    }
    let (repo, keys) = signed_repo();
    let range = format!("{INTEGRATION}..{SUBTASK}");
    use_key(&repo, &keys.grace);
    let out = repo
        .aiflow_env(&["approve", "a1", "-m", "Looks right.\nShip it."], AS_GRACE)
        .ok();
    assert!(out.contains("signed (ED25519 key SHA256:"), "{out}");
    assert!(out.contains("of grace@example.com"), "{out}");
    let v = check(&repo, &range);
    assert_eq!(v["ok"], true, "{v:#}");
    assert_eq!(v["reviews"], "signed");
    assert_eq!(v["signatures"][0]["signer"], "grace@example.com", "{v:#}");
    assert_eq!(
        v["signatures"][0]["commit"],
        repo.rev(SUBTASK).expect("tip").as_str()
    );
    let review = repo.aiflow(&["review", "a1"]).ok();
    assert!(review.contains("signed by grace@example.com"), "{review}");
    // The attestation is what the README says, and OpenSSH agrees the signature is Grace's.
    let doc = note(&repo);
    let r = doc["reviews"][0].as_table().expect("review");
    let payload = attestation(r);
    let sig = r["signature"].as_str().expect("signature");
    let good = ssh_verify(&repo, &keys.signers, "grace@example.com", &payload, sig);
    assert!(
        good.stdout
            .contains("Good \"aiflow-review\" signature for grace@example.com"),
        "{good:?}"
    );
    // And the hooks let it in.
    repo.git(&["merge", "-q", "--no-ff", "--no-edit", SUBTASK]);
}

#[test]
fn unsigned_unknown_and_tampered_reviews_are_refused_with_their_codes() {
    if !have_ssh_keygen() {
        return;
    }
    let (repo, keys) = signed_repo();
    let range = format!("{INTEGRATION}..{SUBTASK}");
    // No key: approve says what to configure, and records nothing.
    no_key(&repo);
    let notes = repo.rev(NOTES);
    let err = repo.aiflow_env(&["approve", "a1"], AS_GRACE).fails(1);
    assert!(err.contains("requires signed reviews"), "{err}");
    assert!(err.contains("gpg.format ssh"), "{err}");
    assert_eq!(repo.rev(NOTES), notes);
    // A key the file does not allow: refused before anything is written.
    use_key(&repo, &keys.mallory);
    let err = repo.aiflow_env(&["approve", "a1"], AS_MALLORY).fails(1);
    assert!(err.contains("would not pass the gate"), "{err}");
    assert_eq!(repo.rev(NOTES), notes);

    use_key(&repo, &keys.grace);
    repo.aiflow_env(&["approve", "a1"], AS_GRACE).ok();
    assert_eq!(check(&repo, &range)["ok"], true);
    let signed = note(&repo);
    let with = |edit: &dyn Fn(&mut toml::Table)| {
        let mut doc = signed.clone();
        let r = doc["reviews"].as_array_mut().expect("reviews")[0]
            .as_table_mut()
            .expect("review");
        edit(r);
        set_note(&repo, &doc);
        reasons(&check(&repo, &range))
    };
    // The record without its signature.
    assert_eq!(
        with(&|r| {
            r.remove("signature");
        }),
        ["unsigned-review"]
    );
    // Signed over the same attestation by a key the file does not name.
    let mallory_sig = {
        let r = signed["reviews"][0].as_table().expect("review");
        ssh_sign(&repo, &keys.mallory, &attestation(r))
    };
    assert_eq!(
        with(&|r| {
            r.insert("signature".into(), mallory_sig.clone().into());
        }),
        ["unknown-signer"]
    );
    // Changed after it was signed: the time, the comment, a commit.
    for field in ["at", "comment"] {
        let got = with(&|r| {
            let v = if field == "at" {
                "2020-01-01T00:00:00+00:00"
            } else {
                "typed later"
            };
            r.insert(field.into(), v.into());
        });
        assert_eq!(got, ["bad-signature"], "{field}");
    }
    // A typed trailer alone, outside any flow: not enough when reviews must be signed.
    let typed = repo.git_stdin(
        &["commit-tree", "main^{tree}", "-p", "main"],
        "Hot fix\n\nReviewed-by: Grace Hopper <grace@example.com>\n",
    );
    assert_eq!(
        reasons(&check(&repo, &format!("main..{}", typed.trim()))),
        ["unsigned-review"]
    );
    set_note(&repo, &signed);
    assert_eq!(check(&repo, &range)["ok"], true);
}

#[test]
fn the_signer_is_the_keys_principal_and_allowed_signers_come_from_the_protected_branch() {
    if !have_ssh_keygen() {
        return;
    }
    let (repo, keys) = signed_repo();
    let range = format!("{INTEGRATION}..{SUBTASK}");
    // Ada, the author, claims to be Grace but signs with her own key: her key is allowed as
    // ada@example.com, who may not approve her own commit.
    use_key(&repo, &keys.ada);
    let err = repo.aiflow_env(&["approve", "a1"], AS_GRACE).fails(1);
    assert!(
        err.contains("ada@example.com (the principal your key is allowed as)"),
        "{err}"
    );
    assert!(err.contains("self-review"), "{err}");
    // The same record made by hand is refused by the gate.
    use_key(&repo, &keys.grace);
    repo.aiflow_env(&["approve", "a1"], AS_GRACE).ok();
    let mut doc = note(&repo);
    {
        let r = doc["reviews"].as_array_mut().expect("reviews")[0]
            .as_table_mut()
            .expect("review");
        let sig = ssh_sign(&repo, &keys.ada, &attestation(r));
        r.insert("signature".into(), sig.into());
    }
    set_note(&repo, &doc);
    assert_eq!(reasons(&check(&repo, &range)), ["self-review"]);

    // Mallory adds her key to the allowed signers on the incoming branch: the gate reads them
    // from the integration branch, where she is unknown.
    repo.git(&["switch", "-q", SUBTASK]);
    let mut file = std::fs::read_to_string(&keys.signers).expect("signers");
    file.push_str(&format!("mallory@example.com {}\n", keys.mallory_pub));
    repo.write(".aiflow/allowed_signers", &file);
    repo.git(&["commit", "-q", "-am", "Trust Mallory"]);
    repo.git(&["switch", "-q", INTEGRATION]);
    use_key(&repo, &keys.mallory);
    let err = repo.aiflow_env(&["approve", "a1"], AS_MALLORY).fails(1);
    assert!(err.contains("would not pass the gate"), "{err}");
    // Grace's record of both commits, re-signed by Mallory by hand: unknown here, although the
    // incoming branch names her.
    use_key(&repo, &keys.grace);
    repo.aiflow_env(&["approve", "a1"], AS_GRACE).ok();
    let mut doc = note(&repo);
    {
        let reviews = doc["reviews"].as_array_mut().expect("reviews");
        let r = reviews
            .last_mut()
            .and_then(toml::Value::as_table_mut)
            .expect("review");
        let sig = ssh_sign(&repo, &keys.mallory, &attestation(r));
        r.insert("signature".into(), sig.into());
        reviews.remove(0);
    }
    set_note(&repo, &doc);
    assert_eq!(
        reasons(&check(&repo, &range)),
        ["unknown-signer", "unknown-signer"]
    );
}

#[test]
fn a_server_requires_signed_reviews_from_its_own_config() {
    if !have_ssh_keygen() {
        return;
    }
    // A repository without any policy file; the server alone asks for signatures.
    let repo = TestRepo::new();
    let (grace, grace_pub) = keygen(&repo, "grace");
    repo.new_rate_limit();
    repo.plan_subtasks(&[("a1", "Limiter")]);
    repo.aiflow(&["start", "a1"]).ok();
    repo.write("limiter.rs", "limit\n");
    repo.git(&["add", "limiter.rs"]);
    repo.git(&["commit", "-q", "-m", "Add the limiter"]);
    repo.git(&["switch", "-q", "main"]);
    // Approved without a key (nothing here requires one), merged.
    repo.aiflow_env(&["approve", "a1"], AS_GRACE).ok();
    repo.git(&["switch", "-q", INTEGRATION]);
    repo.git(&["merge", "-q", "--no-ff", "--no-edit", SUBTASK]);
    repo.git(&["switch", "-q", "main"]);

    let server = repo.sibling("server.git");
    repo.git(&[
        "init",
        "-q",
        "--bare",
        "-b",
        "main",
        server.to_str().expect("utf-8"),
    ]);
    Run::of(
        repo.command_in(BIN, &server)
            .args(["hooks", "install", "--server"]),
    )
    .ok();
    let signers = repo.outside(
        "server-allowed-signers",
        format!("grace@example.com {grace_pub}\n").as_bytes(),
    );
    let server_config = |args: &[&str]| Run::of(repo.command_in("git", &server).args(args)).ok();
    server_config(&["config", "aiflow.reviews", "signed"]);
    server_config(&[
        "config",
        "aiflow.allowedSignersFile",
        signers.to_str().expect("utf-8"),
    ]);
    let daemon = GitDaemon::start(&repo, server.parent().expect("parent"));
    repo.git(&["remote", "add", "origin", &daemon.url("server.git")]);
    repo.git(&["push", "-q", "origin", "main"]);
    let err = repo
        .git_run(&["push", "origin", INTEGRATION, NOTES])
        .fails(1);
    assert!(err.contains("remote: aiflow:"), "{err}");
    assert!(err.contains("[unsigned-review]"), "{err}");
    // Approved again, signed, and merged again: accepted, with the flows in the same push.
    repo.git(&[
        "update-ref",
        &format!("refs/heads/{INTEGRATION}"),
        &format!("{INTEGRATION}^1"),
    ]);
    use_key(&repo, &grace);
    repo.aiflow_env(&["reject", "a1", "-m", "Sign it"], AS_GRACE)
        .ok();
    repo.aiflow_env(&["approve", "a1"], AS_GRACE).ok();
    repo.git(&["switch", "-q", INTEGRATION]);
    repo.git(&["merge", "-q", "--no-ff", "--no-edit", SUBTASK]);
    repo.git(&["switch", "-q", "main"]);
    repo.git(&["push", "-q", "origin", INTEGRATION, NOTES]);
    assert_eq!(
        Run::of(
            repo.command_in("git", &server)
                .args(["rev-parse", INTEGRATION])
        )
        .ok()
        .trim(),
        repo.rev(INTEGRATION).expect("tip")
    );
}

/// Outside flows, under a policy that requires signed reviews, a hand-written review trailer is
/// refused, and the hint's command, `git aiflow approve --range A..B` run as printed (the range
/// filled in) with the reviewer's signing key, is what makes the range pass.
#[test]
fn the_signed_review_hint_runs_as_printed_with_a_key() {
    if !have_ssh_keygen() {
        return;
    }
    let (repo, keys) = signed_repo();
    repo.aiflow(&["hooks", "uninstall"]).ok();
    repo.git(&["switch", "-q", "-c", "feature", "main"]);
    repo.write("feature.txt", "feature\n");
    repo.git(&["add", "feature.txt"]);
    repo.git(&[
        "commit",
        "-q",
        "-m",
        "Add a feature\n\nReviewed-by: Grace Hopper <grace@example.com>",
    ]);
    let r = repo.aiflow_bin(&["check", "main..feature"]);
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    let out = format!("{}{}", r.stdout, r.stderr);
    let hint = "`git aiflow approve --range A..B`";
    assert!(out.contains(hint), "{out}");
    assert!(out.contains("a signing key"), "{out}");
    use_key(&repo, &keys.grace);
    let cmd = hint.trim_matches('`').replace("A..B", "main..feature");
    let mut sh = repo.command("sh");
    sh.args(["-c", &cmd]).envs(AS_GRACE.iter().copied());
    let approved = Run::of(&mut sh);
    assert_eq!(approved.code, 0, "{approved:?}");
    let v = check(&repo, "main..feature");
    assert_eq!(v["ok"], true, "{v:#}");
    assert_eq!(v["signatures"][0]["signer"], "grace@example.com", "{v:#}");
}
