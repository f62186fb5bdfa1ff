//! The README's configuration snippets are what the tools read: every fenced `toml` block parses
//! as TOML, every `yaml` block as YAML (with PyYAML, through `python3`), and the hook-manager and
//! CI recipes say what the gate needs.

use std::process::{Command, Stdio};

/// Every fenced block of `lang` in `text`, with its line number, its fence's indentation
/// removed.
fn blocks(text: &str, lang: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    let mut open: Option<(usize, usize, String)> = None;
    for (n, line) in text.lines().enumerate() {
        let indent = line.len() - line.trim_start().len();
        let t = line.trim_start();
        match &mut open {
            None if t == format!("```{lang}") => open = Some((n + 1, indent, String::new())),
            Some((start, ind, body)) => {
                if t == "```" && indent == *ind {
                    out.push((*start, std::mem::take(body)));
                    open = None;
                } else {
                    body.push_str(line.get(*ind..).unwrap_or(line.trim_start()));
                    body.push('\n');
                }
            }
            None => {}
        }
    }
    out
}

fn readme() -> String {
    std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).expect("README")
}

/// Parse `yaml` with PyYAML and return it as JSON.
#[track_caller]
fn yaml(line: usize, yaml: &str) -> serde_json::Value {
    let mut child = Command::new("python3")
        .args([
            "-c",
            "import sys, json, yaml; print(json.dumps(yaml.safe_load(sys.stdin.read())))",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3 with PyYAML is needed to check the README's YAML");
    use std::io::Write;
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(yaml.as_bytes())
        .expect("write");
    let out = child.wait_with_output().expect("python3");
    assert!(
        out.status.success(),
        "README line {line}: not valid YAML:\n{yaml}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("JSON from python")
}

#[test]
fn every_toml_and_yaml_snippet_in_the_readme_parses() {
    let text = readme();
    let tomls = blocks(&text, "toml");
    assert!(!tomls.is_empty());
    for (line, body) in &tomls {
        if let Err(e) = body.parse::<toml::Table>() {
            panic!("README line {line}: not valid TOML: {e}\n{body}");
        }
    }
    let yamls = blocks(&text, "yaml");
    assert!(yamls.len() >= 4, "{yamls:?}");
    for (line, body) in &yamls {
        yaml(*line, body);
    }
}

#[test]
fn the_hook_manager_recipes_run_the_gate_hooks() {
    let text = readme();
    let parsed: Vec<serde_json::Value> = blocks(&text, "yaml")
        .iter()
        .map(|(l, b)| yaml(*l, b))
        .collect();
    // lefthook: each hook runs `git aiflow hook <name>`; pre-push gets the refs on stdin.
    let lefthook = parsed
        .iter()
        .find(|v| v.get("pre-push").is_some())
        .expect("the lefthook recipe");
    for hook in ["pre-merge-commit", "pre-commit", "pre-push"] {
        let run = lefthook[hook]["commands"]["aiflow"]["run"]
            .as_str()
            .unwrap_or_else(|| panic!("lefthook {hook}: no run: {lefthook}"));
        assert!(run.starts_with(&format!("git aiflow hook {hook}")), "{run}");
    }
    assert_eq!(
        lefthook["pre-push"]["commands"]["aiflow"]["use_stdin"],
        true
    );
    // pre-commit: no `rev` that names a release that does not exist; the hook is the one the
    // repository's .pre-commit-hooks.yaml describes.
    let precommit = parsed
        .iter()
        .find(|v| v.get("repos").is_some())
        .expect("the pre-commit recipe");
    let shipped = yaml(
        0,
        &std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/.pre-commit-hooks.yaml"
        ))
        .expect(".pre-commit-hooks.yaml"),
    );
    let repo = &precommit["repos"][0];
    assert_eq!(repo["repo"], "local", "{precommit}");
    assert!(repo.get("rev").is_none());
    let hook = &repo["hooks"][0];
    for key in [
        "id",
        "entry",
        "language",
        "stages",
        "pass_filenames",
        "always_run",
    ] {
        assert_eq!(hook[key], shipped[0][key], "{key}");
    }
}

#[test]
fn the_ci_recipes_fetch_the_flows_and_run_the_gate() {
    let text = readme();
    let ci: Vec<(usize, String)> = blocks(&text, "yaml")
        .into_iter()
        .filter(|(_, b)| b.contains("git aiflow check"))
        .collect();
    assert_eq!(ci.len(), 2, "the GitHub and GitLab jobs");
    for (line, body) in &ci {
        yaml(*line, body);
        assert!(
            body.contains("refs/notes/aiflow:refs/notes/aiflow"),
            "README line {line}: the job does not fetch the flows:\n{body}"
        );
    }
}
