//! Grounding a planning prompt: a compact map of the repository's most relevant files, after
//! Aider's repository map, within a token budget.
//!
//! Relevance comes from what the spec, the answers and the current plan mention: paths and file
//! names (`app/__init__.py`), and words (identifiers split at `_`, `-` and case changes, lowered,
//! with common English suffixes stripped so that `limiter`, `limits` and `limiting` meet). A file
//! scores for a mentioned path or name, for its stem's and directories' words, and for the words
//! of its top-level definitions. Each file shows its top-level definitions, found by cheap
//! language-agnostic rules (a line at column 0 starting with `def`, `class`, `fn`, `pub fn`,
//! `func`, `function`, `struct`, `impl`, `interface`, `type`, `export`, `module`, `CREATE`, …;
//! headings in Markdown), or else its first lines. The most relevant files come first; files that
//! do not fit the budget are left out, the least relevant first.
//!
//! Tokens are approximated as bytes / [`BYTES_PER_TOKEN`] (rounded up): BPE tokenizers average
//! 3.5 to 4.5 bytes per token on English and code. The budget counts the map's entries as the
//! prompt shows them (each path line and its indented lines), not the section's heading.

use crate::flow::grounding::{Grounding, MappedFile};
use serde::Serialize;
use std::collections::HashSet;

/// Bytes per approximate token.
pub const BYTES_PER_TOKEN: usize = 4;
/// The map's budget when neither `--context-budget` nor `aiflow.planContextBudget` sets one.
pub const DEFAULT_BUDGET: usize = 1024;
/// The largest budget accepted.
pub const MAX_BUDGET: usize = 1_000_000;
/// The most files whose blobs are read (shallow files first).
const MAX_SCAN: usize = 5000;
/// Files larger than this are not read.
const MAX_BLOB: u64 = 512 * 1024;
/// The most definition lines shown per file.
const MAX_LINES: usize = 40;
/// The first lines shown of a file without definitions.
const FIRST_LINES: usize = 5;
/// The longest line shown, in characters.
const MAX_LINE: usize = 120;
/// Git's binary heuristic: a NUL byte in the first 8000 bytes.
const BINARY_PROBE: usize = 8000;

/// One file of the map, as the template shows it.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct MapEntry {
    /// The path, relative to the repository root.
    pub path: String,
    /// The file's size in bytes.
    pub size: u64,
    /// Its top-level definitions (or first lines), each trimmed to one line.
    pub lines: Vec<String>,
    /// How many more such lines the file has than are shown.
    pub more: usize,
    /// How relevant the file was found (0: nothing mentioned it).
    #[serde(skip)]
    pub score: u32,
}

impl MapEntry {
    /// The bytes the entry takes in the prompt: the path line, four spaces before each line, and
    /// the "(and N more)" line.
    fn cost(&self) -> usize {
        self.path.len()
            + 1
            + self.lines.iter().map(|l| 4 + l.len() + 1).sum::<usize>()
            + if self.more > 0 {
                format!("    (and {} more)\n", self.more).len()
            } else {
                0
            }
    }
}

/// The map of a prompt and what it left out.
#[derive(Debug, Clone, Serialize, Default)]
pub struct RepoMap {
    /// The files shown, most relevant first.
    pub files: Vec<MapEntry>,
    /// The budget, in approximate tokens.
    pub budget: usize,
    /// The bytes the entries take.
    pub bytes: usize,
    /// The text files read that have something to show.
    pub candidates: usize,
    /// Candidates not shown for the budget.
    pub left_out: usize,
}

impl RepoMap {
    /// The provenance record: what was sent, with the file list's counts.
    pub fn grounding(&self, files_listed: usize, files_total: usize) -> Grounding {
        Grounding {
            budget: self.budget as u64,
            files_listed: files_listed as u64,
            files_total: files_total as u64,
            map: self
                .files
                .iter()
                .map(|f| MappedFile {
                    path: f.path.clone(),
                    bytes: f.cost() as u64,
                    size: f.size,
                    extra: Default::default(),
                })
                .collect(),
            map_left_out: self.left_out as u64,
            extra: Default::default(),
        }
    }

    /// One line saying what the map holds (for `--print-prompt`).
    pub fn summary(&self) -> String {
        if self.budget == 0 {
            return "no repository map (budget 0)".into();
        }
        format!(
            "repository map: {} file{} in {} bytes (~{} of {} tokens); {} of {} candidate files left out",
            self.files.len(),
            if self.files.len() == 1 { "" } else { "s" },
            self.bytes,
            self.bytes.div_ceil(BYTES_PER_TOKEN),
            self.budget,
            self.left_out,
            self.candidates
        )
    }
}

/// What the spec, the answers and the plan mention.
#[derive(Debug, Default)]
pub struct Mentions {
    /// Normalised words ([`normalize`]).
    words: HashSet<String>,
    /// File names (last path component), lowercase.
    names: HashSet<String>,
    /// Paths (holding a `/`), lowercase, without `./` or a leading `/`.
    paths: HashSet<String>,
}

/// Words too common to tell files apart.
const STOPWORDS: &[&str] = &[
    "the", "and", "for", "with", "that", "this", "from", "are", "not", "but", "all", "any", "can",
    "each", "has", "have", "its", "into", "must", "may", "one", "two", "per", "than", "then",
    "they", "them", "there", "these", "those", "when", "where", "which", "who", "will", "would",
    "should", "could", "without", "within", "other", "only", "also", "more", "most", "new", "use",
    "used", "using", "what", "how", "why", "your", "you", "our", "was", "were", "been", "being",
    "does", "done", "get", "set", "such", "same", "every", "after", "before", "over", "under",
    "about", "some", "instead", "like", "make", "made", "need", "needs", "via", "out", "own",
    "both", "between", "while", "keep", "their", "his", "her", "yes", "none", "true", "false",
    "null", "self", "return", "let", "var", "pub", "def", "class", "function", "func", "impl",
    "struct", "type", "export", "import", "from", "module", "const", "static", "public", "private",
    "int", "str", "string", "bool", "void", "com", "www", "http", "https",
];

impl Mentions {
    /// What `texts` mention.
    pub fn of<'a>(texts: impl IntoIterator<Item = &'a str>) -> Mentions {
        let mut m = Mentions::default();
        for text in texts {
            for token in text.split(|c: char| {
                c.is_whitespace()
                    || matches!(
                        c,
                        '`' | '"'
                            | '\''
                            | '('
                            | ')'
                            | '['
                            | ']'
                            | '<'
                            | '>'
                            | ','
                            | ';'
                            | '{'
                            | '}'
                            | '*'
                            | '|'
                            | '='
                    )
            }) {
                let token = token.trim_matches(|c: char| matches!(c, '.' | ':' | '!' | '?'));
                if token.is_empty() {
                    continue;
                }
                let lower = token.to_lowercase();
                if lower.contains("://") {
                    continue;
                }
                let path = lower.trim_start_matches("./").trim_matches('/');
                if path.contains('/') && !path.contains("//") {
                    m.paths.insert(path.to_string());
                }
                if let Some(name) = path.rsplit('/').next()
                    && looks_like_file_name(name)
                {
                    m.names.insert(name.to_string());
                }
                for w in words(token) {
                    m.words.insert(w);
                }
            }
        }
        m
    }

    /// Whether nothing was mentioned.
    pub fn is_empty(&self) -> bool {
        self.words.is_empty() && self.names.is_empty() && self.paths.is_empty()
    }
}

/// `name` has a dot inside, followed by a letter (`routes.py`, `__init__.py`, `Cargo.toml`), or
/// is one of the usual extension-less files.
fn looks_like_file_name(name: &str) -> bool {
    if matches!(
        name,
        "makefile" | "dockerfile" | "gemfile" | "rakefile" | "procfile"
    ) {
        return true;
    }
    match name.rfind('.') {
        Some(i) if i > 0 && i + 1 < name.len() => {
            let ext = &name[i + 1..];
            ext.len() <= 8
                && ext.chars().all(|c| c.is_ascii_alphanumeric())
                && ext.chars().any(|c| c.is_ascii_alphabetic())
        }
        _ => false,
    }
}

/// The normalised words of `text`: split at anything not a letter or digit and at case changes
/// (`RateLimiter`: `rate`, `limiter`), lowered, stopwords and words under 3 characters dropped,
/// then [`normalize`]d.
fn words(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    for piece in text.split(|c: char| !c.is_alphanumeric()) {
        let mut word = String::new();
        let mut prev: Option<char> = None;
        let chars: Vec<char> = piece.chars().collect();
        for (i, &c) in chars.iter().enumerate() {
            let boundary = match prev {
                Some(p) => {
                    (p.is_lowercase() && c.is_uppercase())
                        || (p.is_alphabetic() != c.is_alphabetic())
                        // `HTTPServer`: the boundary is before the last capital of a run.
                        || (p.is_uppercase()
                            && c.is_uppercase()
                            && chars.get(i + 1).is_some_and(|n| n.is_lowercase()))
                }
                None => false,
            };
            if boundary && !word.is_empty() {
                push_word(&mut out, &word);
                word.clear();
            }
            word.push(c);
            prev = Some(c);
        }
        push_word(&mut out, &word);
    }
    out
}

fn push_word(out: &mut Vec<String>, word: &str) {
    let lower = word.to_lowercase();
    if lower.chars().count() < 3
        || lower.chars().all(|c| c.is_ascii_digit())
        || STOPWORDS.contains(&lower.as_str())
    {
        return;
    }
    let n = normalize(&lower);
    if !out.contains(&n) {
        out.push(n);
    }
}

/// `word` (lowercase) without a common English suffix, so that forms of one word meet:
/// `limits`, `limited`, `limiter`, `limiting` are all `limit`; `routes` and `route` are `rout`.
fn normalize(word: &str) -> String {
    let mut w = word.to_string();
    let n = w.len();
    if n > 4 && w.ends_with("ies") {
        w.truncate(n - 3);
        w.push('y');
    } else if n > 5 && w.ends_with("ing") {
        w.truncate(n - 3);
    } else if n > 4 && (w.ends_with("ed") || w.ends_with("er")) {
        w.truncate(n - 2);
    } else if n > 3 && w.ends_with('s') && !w.ends_with("ss") {
        w.truncate(n - 1);
    }
    if w.len() > 4 && w.ends_with('e') {
        w.pop();
    }
    w
}

/// The words a definition line defines or names (its identifiers).
fn line_words(line: &str) -> Vec<String> {
    words(line)
}

/// Keywords that start a top-level definition, after any modifiers.
const DEFINITION_WORDS: &[&str] = &[
    "def",
    "class",
    "fn",
    "func",
    "fun",
    "function",
    "struct",
    "enum",
    "union",
    "trait",
    "impl",
    "interface",
    "type",
    "typedef",
    "module",
    "mod",
    "defmodule",
    "object",
    "record",
    "protocol",
    "extension",
    "namespace",
    "macro_rules!",
    "data",
    "package",
];

/// Modifiers before a definition keyword.
const MODIFIERS: &[&str] = &[
    "pub",
    "pub(crate)",
    "pub(super)",
    "async",
    "public",
    "private",
    "protected",
    "internal",
    "static",
    "abstract",
    "final",
    "sealed",
    "unsafe",
    "default",
    "open",
    "export",
    "declare",
    "inline",
    "extern",
];

/// Whether `line` (at column 0) starts a top-level definition.
fn is_definition(line: &str) -> bool {
    let upper = line.trim_start();
    if upper.starts_with("CREATE ") || upper.starts_with("create table") {
        return true;
    }
    let mut exported = false;
    for word in line.split_whitespace() {
        let bare = word.trim_end_matches(['(', '{', ':']);
        if MODIFIERS.contains(&bare) {
            exported |= bare == "export" || bare.starts_with("pub");
            continue;
        }
        // `export const x`, `pub const X`: an exported value is part of the interface.
        if exported && matches!(bare, "const" | "let" | "var" | "static") {
            return true;
        }
        return DEFINITION_WORDS.contains(&bare) || (exported && word.ends_with('('));
    }
    false
}

fn is_c_like(path: &str) -> bool {
    let lower = path.to_lowercase();
    [".c", ".h", ".cc", ".cpp", ".cxx", ".hpp", ".hh", ".m"]
        .iter()
        .any(|e| lower.ends_with(e))
}

fn is_markdown(path: &str) -> bool {
    let lower = path.to_lowercase();
    [".md", ".markdown", ".rst", ".adoc"]
        .iter()
        .any(|e| lower.ends_with(e))
}

/// `line` without its end, cut to [`MAX_LINE`] characters.
fn shown(line: &str) -> String {
    let line = line.trim_end();
    let line = line.strip_suffix('{').map(str::trim_end).unwrap_or(line);
    line.chars().take(MAX_LINE).collect()
}

/// The lines a file shows in the map, and how many more there are: its top-level definitions
/// (Markdown: its headings), else its first non-blank lines.
pub fn outline(path: &str, text: &str) -> (Vec<String>, usize) {
    let usable = |l: &&str| !l.contains("```") && !l.trim().is_empty();
    let defs: Vec<&str> = if is_markdown(path) {
        // Headings, outside fenced blocks.
        let mut fenced = false;
        text.lines()
            .filter(|l| {
                if l.starts_with("```") || l.starts_with("~~~") {
                    fenced = !fenced;
                }
                !fenced && l.starts_with('#')
            })
            .filter(usable)
            .collect()
    } else {
        text.lines()
            .filter(|l| !l.starts_with(char::is_whitespace) && is_definition(l))
            .filter(usable)
            .collect()
    };
    // C and its kin define functions at column 0 after a return type: `int main(void)`.
    let defs = if defs.is_empty() && is_c_like(path) {
        text.lines()
            .filter(|l| {
                l.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
                    && l.contains('(')
                    && !l.trim_end().ends_with(';')
            })
            .filter(usable)
            .collect()
    } else {
        defs
    };
    if defs.is_empty() {
        let first: Vec<String> = text
            .lines()
            .filter(usable)
            .take(FIRST_LINES)
            .map(shown)
            .collect();
        let total = text.lines().filter(usable).count();
        return (first, total.saturating_sub(FIRST_LINES));
    }
    let more = defs.len().saturating_sub(MAX_LINES);
    (defs.into_iter().take(MAX_LINES).map(shown).collect(), more)
}

/// Entry points: files worth showing when nothing else is relevant.
fn entry_point(name: &str) -> bool {
    let stem = name.split('.').next().unwrap_or(name);
    matches!(
        stem,
        "main" | "lib" | "mod" | "index" | "app" | "__init__" | "server" | "cli" | "readme"
    ) || matches!(
        name,
        "cargo.toml" | "package.json" | "pyproject.toml" | "go.mod" | "setup.py" | "gemfile"
    )
}

/// How relevant `path` (showing `lines`) is to `m`.
pub fn score(path: &str, lines: &[String], m: &Mentions) -> u32 {
    let lower = path.to_lowercase();
    let mut score = 0;
    if m.paths
        .iter()
        .any(|p| lower == *p || lower.ends_with(&format!("/{p}")))
    {
        score += 40;
    }
    let (dirs, name) = match lower.rsplit_once('/') {
        Some((d, n)) => (d, n),
        None => ("", lower.as_str()),
    };
    if m.names.contains(name) {
        score += 20;
    }
    // Words of the stem as spelled, so that case changes split words (`RateLimiter.java`).
    let orig_name = path.rsplit('/').next().unwrap_or(path);
    let stem = match orig_name.rsplit_once('.') {
        Some((s, _)) if !s.is_empty() => s,
        _ => orig_name,
    };
    let stem_words = words(stem);
    score += 6 * stem_words.iter().filter(|w| m.words.contains(*w)).count() as u32;
    let dir_words: HashSet<String> = words(dirs).into_iter().collect();
    score += 2 * dir_words.iter().filter(|w| m.words.contains(*w)).count() as u32;
    let mut defined: HashSet<String> = HashSet::new();
    for l in lines {
        defined.extend(line_words(l));
    }
    score += defined
        .iter()
        .filter(|w| m.words.contains(*w))
        .count()
        .min(10) as u32;
    if score == 0 && entry_point(name) {
        score = 1;
    }
    score
}

/// A file read from the tree.
pub struct Candidate {
    /// Its path.
    pub path: String,
    /// Its size in bytes.
    pub size: u64,
    /// Its text.
    pub text: String,
}

/// The map of `candidates` for `mentions` within `budget` tokens.
pub fn build(candidates: Vec<Candidate>, mentions: &Mentions, budget: usize) -> RepoMap {
    let mut entries: Vec<MapEntry> = candidates
        .into_iter()
        .map(|c| {
            let (lines, more) = outline(&c.path, &c.text);
            let score = score(&c.path, &lines, mentions);
            MapEntry {
                path: c.path,
                size: c.size,
                lines,
                more,
                score,
            }
        })
        .filter(|e| !e.lines.is_empty())
        .collect();
    // Candidates: the files with something to show.
    let count = entries.len();
    // Most relevant first; then shallow paths, then by name: the same order every time.
    entries.sort_by(|a, b| {
        b.score
            .cmp(&a.score)
            .then_with(|| {
                a.path
                    .matches('/')
                    .count()
                    .cmp(&b.path.matches('/').count())
            })
            .then_with(|| a.path.cmp(&b.path))
    });
    let mut room = budget.saturating_mul(BYTES_PER_TOKEN);
    let mut files = Vec::new();
    let mut bytes = 0;
    for mut e in entries {
        let cost = e.cost();
        if cost <= room {
            room -= cost;
            bytes += cost;
            files.push(e);
            continue;
        }
        // A relevant file that does not fit whole shows as many of its first lines as fit.
        if e.score > 0 {
            let total = e.lines.len() + e.more;
            while e.lines.len() > 1 {
                e.lines.pop();
                e.more = total - e.lines.len();
                if e.cost() <= room {
                    break;
                }
            }
            let cost = e.cost();
            if cost <= room {
                room -= cost;
                bytes += cost;
                files.push(e);
            }
        }
    }
    RepoMap {
        left_out: count - files.len(),
        files,
        budget,
        bytes,
        candidates: count,
    }
}

/// Read the text files among the first 5000 of `entries` (path and blob id, shallow files
/// first) from `repo`, skipping symlinks, submodules, files over 512 KiB and binary files.
pub fn read(repo: &gix::Repository, entries: &[(String, gix::ObjectId)]) -> Vec<Candidate> {
    use gix::odb::pack::Find;
    // Blobs are mostly deltas of one another in a pack: keep the decoded bases, and read in pack
    // order so that each base is at hand when its deltas are read.
    let mut repo = repo.clone();
    crate::work::stats::tune(&mut repo);
    let mut buf = Vec::new();
    let mut ordered: Vec<_> = entries
        .iter()
        .take(MAX_SCAN)
        .map(|(path, id)| {
            let at = repo
                .objects
                .location_by_oid(id, &mut buf)
                .ok()
                .flatten()
                .map_or((u32::MAX, u64::MAX), |l| (l.pack_id, l.pack_offset));
            (at, path, id)
        })
        .collect();
    ordered.sort_unstable_by_key(|(at, _, id)| (*at, **id));
    let mut out = Vec::new();
    for (_, path, id) in ordered {
        let Ok(header) = repo.find_header(*id) else {
            continue;
        };
        if header.kind() != gix::object::Kind::Blob || header.size() > MAX_BLOB {
            continue;
        }
        let Ok(blob) = repo.find_blob(*id) else {
            continue;
        };
        let data = &blob.data;
        if data[..data.len().min(BINARY_PROBE)].contains(&0) {
            continue;
        }
        out.push(Candidate {
            path: path.clone(),
            size: data.len() as u64,
            text: String::from_utf8_lossy(data).into_owned(),
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cand(path: &str, text: &str) -> Candidate {
        Candidate {
            path: path.into(),
            size: text.len() as u64,
            text: text.into(),
        }
    }

    #[test]
    fn words_split_identifiers_and_meet_across_forms() {
        assert_eq!(words("RateLimiter"), vec!["rate", "limit"]);
        assert_eq!(words("api_keys"), vec!["api", "key"]);
        assert_eq!(words("XMLParser"), vec!["xml", "pars"]);
        assert_eq!(words("limiting the limits"), vec!["limit"]);
        assert_eq!(normalize("routes"), normalize("route"));
        assert_eq!(normalize("entries"), "entry");
        // Stopwords and short words are dropped.
        assert!(words("the a of to and").is_empty());
    }

    #[test]
    fn mentions_find_paths_names_and_words() {
        let m = Mentions::of([
            "Add routes in `app/__init__.py` and ./src/Limits.rs, see https://x.org/a.html.",
        ]);
        assert!(m.paths.contains("app/__init__.py"), "{m:?}");
        assert!(m.paths.contains("src/limits.rs"), "{m:?}");
        assert!(m.names.contains("__init__.py"), "{m:?}");
        assert!(!m.paths.iter().any(|p| p.contains("x.org")), "{m:?}");
        assert!(
            m.words.contains("rout") && m.words.contains("limit"),
            "{m:?}"
        );
    }

    #[test]
    fn outlines_take_top_level_definitions_in_any_language() {
        let py = "import os\n\nclass Bucket:\n    def take(self):\n        pass\n\ndef make_app():\n    return 1\nasync def serve():\n    pass\n";
        assert_eq!(
            outline("app/x.py", py).0,
            vec!["class Bucket:", "def make_app():", "async def serve():"]
        );
        let rs = "use std::fmt;\n\npub struct Limiter {\n    n: u32,\n}\n\nimpl Limiter {\n    pub fn new() -> Self {}\n}\npub(crate) fn helper(x: u32) -> u32 {\n}\npub use foo::bar;\n";
        assert_eq!(
            outline("src/l.rs", rs).0,
            vec![
                "pub struct Limiter",
                "impl Limiter",
                "pub(crate) fn helper(x: u32) -> u32"
            ]
        );
        let go = "package main\n\nimport \"fmt\"\n\nfunc main() {\n}\ntype Server struct {\n}\n";
        assert_eq!(
            outline("m.go", go).0,
            vec!["package main", "func main()", "type Server struct"]
        );
        let js = "const x = 1;\nexport function route(a) {\n}\nexport const LIMIT = 5;\nfunction local() {}\n";
        assert_eq!(
            outline("a.js", js).0,
            vec![
                "export function route(a)",
                "export const LIMIT = 5;",
                "function local() {}"
            ]
        );
        let c = "#include <stdio.h>\n\nstatic int count;\nint main(int argc, char **argv)\n{\n    return helper(1);\n}\nstatic void helper(int x);\n";
        assert_eq!(outline("m.c", c).0, vec!["int main(int argc, char **argv)"]);
        let sql = "-- schema\nCREATE TABLE api_keys (\n  id int\n);\n";
        assert_eq!(
            outline("db/schema.sql", sql).0,
            vec!["CREATE TABLE api_keys ("]
        );
        let md = "# Title\n\ntext\n\n## Usage\n```\n# not a heading\n```\n";
        assert_eq!(outline("README.md", md).0, vec!["# Title", "## Usage"]);
        // No definitions: the first non-blank lines.
        let plain = "\nalpha\nbeta\n\ngamma\ndelta\nepsilon\nzeta\n";
        let (lines, more) = outline("notes.txt", plain);
        assert_eq!(lines, vec!["alpha", "beta", "gamma", "delta", "epsilon"]);
        assert_eq!(more, 1);
    }

    #[test]
    fn relevant_files_come_first_and_the_rest_is_cut_to_the_budget() {
        let m = Mentions::of(["Limit requests per API key in the existing app/routes.py."]);
        let files = vec![
            cand(
                "zz/unrelated.py",
                &"def unrelated_thing():\n    pass\n".repeat(20),
            ),
            cand("app/routes.py", "def index():\n    pass\n"),
            cand("app/limiter.py", "class Limiter:\n    pass\n"),
            cand("docs/other.py", "def other():\n    pass\n"),
        ];
        let all = build(
            files.iter().map(|c| cand(&c.path, &c.text)).collect(),
            &m,
            10_000,
        );
        let order: Vec<&str> = all.files.iter().map(|f| f.path.as_str()).collect();
        assert_eq!(order[..2], ["app/routes.py", "app/limiter.py"], "{order:?}");
        assert_eq!(all.left_out, 0);
        assert_eq!(all.candidates, 4);
        // A budget for the two relevant files only.
        let need: usize = all.files[..2].iter().map(MapEntry::cost).sum();
        let small = build(files, &m, need.div_ceil(BYTES_PER_TOKEN));
        let order: Vec<&str> = small.files.iter().map(|f| f.path.as_str()).collect();
        assert_eq!(order, ["app/routes.py", "app/limiter.py"]);
        assert_eq!(small.left_out, 2);
        assert!(small.bytes <= small.budget * BYTES_PER_TOKEN);
        let g = small.grounding(4, 4);
        assert_eq!(g.map.len(), 2);
        assert_eq!(g.map_left_out, 2);
        assert_eq!(
            g.map.iter().map(|f| f.bytes).sum::<u64>(),
            small.bytes as u64
        );
        // Budget 0: nothing.
        let none = build(vec![cand("app/routes.py", "def index(): pass\n")], &m, 0);
        assert!(none.files.is_empty());
        assert_eq!(none.left_out, 1);
    }

    #[test]
    fn a_relevant_file_too_big_for_the_budget_shows_its_first_definitions() {
        let m = Mentions::of(["the bucket"]);
        let text: String = (0..100)
            .map(|i| format!("def bucket_{i}():\n    pass\n"))
            .collect();
        let map = build(vec![cand("bucket.py", &text)], &m, 30);
        assert_eq!(map.files.len(), 1);
        let f = &map.files[0];
        assert!(!f.lines.is_empty() && f.lines.len() < MAX_LINES, "{f:?}");
        assert_eq!(f.lines.len() + f.more, 100);
        assert!(map.bytes <= 30 * BYTES_PER_TOKEN, "{}", map.bytes);
    }

    #[test]
    fn the_provenance_record_round_trips_through_toml() {
        let map = build(
            vec![cand("app/routes.py", "def index():\n    pass\n")],
            &Mentions::of(["routes"]),
            100,
        );
        let g = map.grounding(3, 7);
        let text = toml::to_string(&g).unwrap();
        let back: Grounding = toml::from_str(&text).unwrap();
        assert_eq!(back, g);
        assert!(text.contains("path = \"app/routes.py\""), "{text}");
    }
}
