//! Commit-message trailers, read and written exactly as git does.
//!
//! gix's parser differs from git's on comment lines, whitespace-only separator lines, old-style
//! `Conflicts:` blocks, scissors lines and configured trailers, and a gate that disagrees with
//! `git log --format=%(trailers)` destroys trust. So this module follows git's `trailer.c` and
//! `commit.c` step by step:
//!
//! 1. the end of the message: the scissors line and everything after it, then trailing comment
//!    lines, blank lines and an old-style `Conflicts:` block are ignored
//!    (`ignored_log_message_bytes`);
//! 2. the title (first paragraph) never holds trailers;
//! 3. the trailer block is the last paragraph, scanned backwards, when all its lines are trailers,
//!    or when it holds a git-generated or configured trailer and at least 25 % trailer lines;
//! 4. lines starting with whitespace continue the trailer above them.
//!
//! Like `git log` and `git commit --trailer`, a `---` line does not end the message
//! (`--no-divider`). Reading allocates nothing unless a value spans several lines, because the
//! gate reads every commit of a range.

use gix::bstr::ByteSlice;
use std::borrow::Cow;

/// Lines git itself writes as trailers; they make a paragraph count as a trailer block.
const GIT_GENERATED_PREFIXES: [&[u8]; 2] = [b"Signed-off-by: ", b"(cherry picked from commit "];

/// What `git commit` writes before the part of the message it cuts off.
const CUT_LINE: &[u8] = b" ------------------------ >8 ------------------------\n";

/// The settings that change how git reads trailers.
#[derive(Debug, Clone)]
pub struct Rules {
    /// `core.commentString` / `core.commentChar` (default `#`).
    comment: Vec<u8>,
    /// `trailer.separators` (default `:`).
    separators: Vec<u8>,
    /// Tokens configured with `trailer.<name>.*`: the name and its optional `key`.
    configured: Vec<Configured>,
}

#[derive(Debug, Clone)]
struct Configured {
    name: Vec<u8>,
    key: Option<Vec<u8>>,
}

impl Default for Rules {
    fn default() -> Self {
        Rules {
            comment: b"#".to_vec(),
            separators: b":".to_vec(),
            configured: Vec::new(),
        }
    }
}

impl Rules {
    /// Rules with a comment string and separator characters, as `core.commentChar` and
    /// `trailer.separators` set them. Empty values keep the defaults.
    pub fn new(comment: &str, separators: &str) -> Self {
        let mut rules = Rules::default();
        if !comment.is_empty() {
            rules.comment = comment.as_bytes().to_vec();
        }
        if !separators.is_empty() {
            rules.separators = separators.as_bytes().to_vec();
        }
        rules
    }

    /// Add a configured trailer, as `trailer.<name>.key = <key>` (or any `trailer.<name>.*`
    /// setting when `key` is `None`) does.
    pub fn with_configured(mut self, name: &str, key: Option<&str>) -> Self {
        self.configured.push(Configured {
            name: name.as_bytes().to_vec(),
            key: key.map(|k| k.as_bytes().to_vec()),
        });
        self
    }

    /// The rules the repository's configuration sets: `core.commentString`, `core.commentChar`,
    /// `trailer.separators` and the `trailer.<name>.*` sections.
    pub fn from_config(config: &gix::config::Snapshot<'_>) -> Self {
        let mut rules = Rules::default();
        let file = config.plumbing();
        // `core.commentChar` and `core.commentString` are one setting: the last one wins.
        for section in file.sections_by_name("core").into_iter().flatten() {
            let mut seen: Vec<(String, usize)> = Vec::new();
            for name in section.value_names() {
                let lower = name.to_ascii_lowercase();
                if lower != "commentchar" && lower != "commentstring" {
                    continue;
                }
                let nth = match seen.iter_mut().find(|(n, _)| *n == name) {
                    Some((_, i)) => {
                        *i += 1;
                        *i
                    }
                    None => {
                        seen.push((name.clone(), 0));
                        0
                    }
                };
                if let Some(v) = section.values(&name).get(nth) {
                    // "auto" picks a character per message when git writes it; committed
                    // messages are read with the default.
                    rules.comment = if v.is_empty() || v.eq_ignore_ascii_case(b"auto") {
                        b"#".to_vec()
                    } else {
                        v.to_vec()
                    };
                }
            }
        }
        if let Some(s) = config.string("trailer.separators") {
            rules.separators = s.to_vec();
        }
        // A `trailer.<name>` is configured by the settings git reads for it; names differ only
        // in case are one trailer, and the last `key` wins.
        const SETTINGS: [&str; 6] = ["key", "command", "cmd", "where", "ifexists", "ifmissing"];
        for section in file.sections_by_name("trailer").into_iter().flatten() {
            let Some(name) = section.header().subsection_name() else {
                continue;
            };
            for setting in section.value_names() {
                if !SETTINGS.iter().any(|s| s.eq_ignore_ascii_case(&setting)) {
                    continue;
                }
                let idx = match rules
                    .configured
                    .iter()
                    .position(|c| c.name.eq_ignore_ascii_case(name.as_ref()))
                {
                    Some(i) => i,
                    None => {
                        rules.configured.push(Configured {
                            name: name.to_vec(),
                            key: None,
                        });
                        rules.configured.len() - 1
                    }
                };
                if setting.eq_ignore_ascii_case("key")
                    && let Some(v) = section.values(&setting).last()
                {
                    rules.configured[idx].key = Some(v.to_vec());
                }
            }
        }
        rules
    }

    fn is_comment(&self, line: &[u8]) -> bool {
        line.starts_with(&self.comment)
    }
}

/// One trailer of a message: a slice of it, from the token to the end of its last
/// continuation line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Trailer<'a> {
    token: &'a [u8],
    raw_value: &'a [u8],
}

impl<'a> Trailer<'a> {
    /// The key as git lists it: the token, or the `trailer.<name>.key` it is configured as.
    /// `git log --format=%(trailers:key=…)` filters on this.
    pub fn key<'r>(&self, rules: &'r Rules) -> &'r [u8]
    where
        'a: 'r,
    {
        display_token(self.token, rules)
    }

    /// The value unfolded as `--unfold` does: continuation lines joined by one space, trimmed.
    pub fn value(&self) -> Cow<'a, [u8]> {
        let v = trim(self.raw_value);
        if !v.contains(&b'\n') {
            return Cow::Borrowed(v);
        }
        let mut out = Vec::with_capacity(v.len());
        let mut i = 0;
        while i < v.len() {
            let c = v[i];
            i += 1;
            if c == b'\n' {
                while i < v.len() && is_space(v[i]) {
                    i += 1;
                }
                out.push(b' ');
            } else {
                out.push(c);
            }
        }
        Cow::Owned(trim(&out).to_vec())
    }

    /// The value trimmed but not unfolded, as `git interpret-trailers` writes it back.
    fn folded_value(&self) -> &'a [u8] {
        trim(self.raw_value)
    }
}

/// Where a message's trailer block is, as `trailer_block_get()` finds it.
#[derive(Debug, Clone, Copy)]
pub struct Block<'a> {
    msg: &'a [u8],
    start: usize,
    end: usize,
}

impl<'a> Block<'a> {
    /// Find the trailer block of `msg` (a commit message: the bytes after the header).
    pub fn find(msg: &'a [u8], rules: &Rules) -> Self {
        // git reads the message as a C string: nothing after a NUL byte counts.
        let len = msg.find_byte(0).unwrap_or(msg.len());
        let text = &msg[..len];
        let end = len - ignored_log_message_bytes(text, rules);
        let start = trailer_block_start(&text[..end], rules);
        Block { msg, start, end }
    }

    /// Find the trailer block of a commit's message as `git log --format=%(trailers)` does:
    /// leading whitespace-only lines are skipped first.
    pub fn find_in_commit(msg: &'a [u8], rules: &Rules) -> Self {
        Block::find(skip_blank_lines(msg), rules)
    }

    /// Whether the message has no trailer block.
    pub fn is_empty(&self) -> bool {
        self.start >= self.end
    }

    /// The block's entries in order: each line, with continuation lines folded into the trailer
    /// above them (comment lines included; [`Block::trailers`] skips them).
    fn entries(&self, rules: &'a Rules) -> Entries<'a> {
        Entries {
            text: &self.msg[self.start..self.end],
            pos: 0,
            rules,
        }
    }

    /// The trailers in the block, in order, as `git interpret-trailers --parse` lists them.
    pub fn trailers(&self, rules: &'a Rules) -> impl Iterator<Item = Trailer<'a>> + 'a {
        self.entries(rules).filter_map(move |e| match e {
            Entry::Trailer(t) => Some(t),
            Entry::Other(_) => None,
        })
    }
}

/// One line (or a trailer with its continuation lines) of a trailer block.
#[derive(Debug, Clone, Copy)]
enum Entry<'a> {
    Trailer(Trailer<'a>),
    /// A non-trailer line, without its newline; comment lines are `Other` too.
    Other(&'a [u8]),
}

struct Entries<'a> {
    text: &'a [u8],
    pos: usize,
    rules: &'a Rules,
}

impl<'a> Iterator for Entries<'a> {
    type Item = Entry<'a>;

    fn next(&mut self) -> Option<Entry<'a>> {
        let text = self.text;
        if self.pos >= text.len() {
            return None;
        }
        let begin = self.pos;
        let mut end = next_line(text, begin);
        let line = &text[begin..end];
        let sep = find_separator(line, &self.rules.separators).filter(|&s| s >= 1);
        let Some(sep) = sep else {
            self.pos = end;
            return Some(Entry::Other(strip_newline(line)));
        };
        // Continuation lines: any following line starting with whitespace. git joins them to a
        // comment line shaped like a trailer too, and drops them with it.
        while end < text.len() && is_space(text[end]) {
            end = next_line(text, end);
        }
        self.pos = end;
        if self.rules.is_comment(line) {
            return Some(Entry::Other(strip_newline(&text[begin..end])));
        }
        let token = trim(&line[..sep]);
        Some(Entry::Trailer(Trailer {
            token,
            raw_value: &text[begin + sep + 1..end],
        }))
    }
}

/// The trailers of `msg`, as `git interpret-trailers --parse --no-divider` lists them:
/// `(key, value)` pairs, with a configured `trailer.<name>.key` replacing a token that matches
/// its name. [`parse_commit`] reads a committed message as `git log` does.
pub fn parse(msg: &[u8], rules: &Rules) -> Vec<(Vec<u8>, Vec<u8>)> {
    let block = Block::find(msg, rules);
    block
        .trailers(rules)
        .map(|t| (t.key(rules).to_vec(), t.value().into_owned()))
        .collect()
}

/// [`parse`] on a commit's message, as `git log --format=%(trailers:only,unfold)` reads it
/// (leading whitespace-only lines skipped).
pub fn parse_commit(msg: &[u8], rules: &Rules) -> Vec<(Vec<u8>, Vec<u8>)> {
    parse(skip_blank_lines(msg), rules)
}

/// pretty.c's `skip_blank_lines`: drop leading lines that hold only whitespace.
fn skip_blank_lines(msg: &[u8]) -> &[u8] {
    let mut pos = 0;
    while pos < msg.len() {
        let end = next_line(msg, pos);
        if !msg[pos..end].iter().all(|&c| is_space(c)) {
            break;
        }
        pos = end;
    }
    &msg[pos..]
}

/// [`parse`] printed as git prints it: a `token: value` line per trailer.
pub fn format_parsed(msg: &[u8], rules: &Rules) -> Vec<u8> {
    format_pairs(parse(msg, rules), rules)
}

/// [`parse_commit`] printed as `git log --format=%(trailers:only,unfold)` prints it.
pub fn format_parsed_commit(msg: &[u8], rules: &Rules) -> Vec<u8> {
    format_pairs(parse_commit(msg, rules), rules)
}

fn format_pairs(pairs: Vec<(Vec<u8>, Vec<u8>)>, rules: &Rules) -> Vec<u8> {
    let mut out = Vec::new();
    for (token, value) in pairs {
        push_trailer(&mut out, &token, &value, rules);
    }
    out
}

/// `msg` with the trailer `token: value` added exactly where and how
/// `git interpret-trailers --no-divider --trailer "token: value"` adds it with git's defaults
/// (`where = end`, `ifExists = addIfDifferentNeighbor`, `ifMissing = add`): appended to the
/// trailer block (git rewrites the block's lines in its canonical `Token: value` form), or as a
/// new block after a blank line.
pub fn add(msg: &[u8], token: &str, value: &str, rules: &Rules) -> Vec<u8> {
    // git completes a last line that lacks its newline before anything else.
    let completed;
    let msg = if msg.last().is_some_and(|&c| c != b'\n') {
        completed = [msg, b"\n"].concat();
        &completed[..]
    } else {
        msg
    };
    let block = Block::find(msg, rules);
    let (start, end) = (block.start.min(block.end), block.end);
    let mut out = Vec::with_capacity(msg.len() + token.len() + value.len() + 4);
    out.extend_from_slice(&msg[..start]);
    if !ends_with_blank_line(&msg[..start]) {
        out.push(b'\n');
    }
    let mut last: Option<(Vec<u8>, Vec<u8>)> = None;
    if !block.is_empty() {
        for entry in block.entries(rules) {
            match entry {
                Entry::Trailer(t) => {
                    let tok = t.key(rules);
                    let val = t.folded_value();
                    push_trailer(&mut out, tok, val, rules);
                    last = Some((tok.to_vec(), val.to_vec()));
                }
                Entry::Other(line) if rules.is_comment(line) => {}
                Entry::Other(line) => {
                    out.extend_from_slice(line);
                    out.push(b'\n');
                    last = None;
                }
            }
        }
    }
    let new_token = trim(token.as_bytes());
    let new_value = trim(value.as_bytes());
    let new_token = display_token(new_token, rules);
    let same_as_neighbour =
        last.is_some_and(|(t, v)| same_token(&t, new_token) && v.eq_ignore_ascii_case(new_value));
    if !same_as_neighbour {
        push_trailer(&mut out, new_token, new_value, rules);
    }
    out.extend_from_slice(&msg[end..]);
    out
}

/// Write `token: value\n` the way git's `format_trailers` does.
fn push_trailer(out: &mut Vec<u8>, token: &[u8], value: &[u8], rules: &Rules) {
    out.extend_from_slice(token);
    let last = token.iter().rev().find(|&&c| !is_space(c)).copied();
    if let Some(c) = last
        && !rules.separators.contains(&c)
    {
        // With `trailer.separators` empty git writes its string's terminator, a NUL.
        out.push(rules.separators.first().copied().unwrap_or(0));
        out.push(b' ');
    }
    out.extend_from_slice(value);
    out.push(b'\n');
}

/// The token as git prints it: a configured `trailer.<name>.key` replaces a token matching
/// `<name>` or the key (`parse_trailer`).
fn display_token<'r>(token: &'r [u8], rules: &'r Rules) -> &'r [u8] {
    let t = strip_separator(token);
    for c in &rules.configured {
        if token_matches(t, c) {
            return c.key.as_deref().unwrap_or(token);
        }
    }
    token
}

/// git's `token_matches_item`: `strncasecmp` over the token's length against the configured
/// name or key, so a token that is a prefix of either matches.
fn token_matches(token: &[u8], c: &Configured) -> bool {
    prefix_ci(&c.name, token) || c.key.as_deref().is_some_and(|k| prefix_ci(k, token))
}

/// Whether `s` starts with `prefix`, ignoring ASCII case.
fn prefix_ci(s: &[u8], prefix: &[u8]) -> bool {
    s.len() >= prefix.len() && s[..prefix.len()].eq_ignore_ascii_case(prefix)
}

/// git's `same_token`: the shorter token, without trailing separators, is a prefix of the other.
fn same_token(a: &[u8], b: &[u8]) -> bool {
    let (a, b) = (strip_separator(a), strip_separator(b));
    let n = a.len().min(b.len());
    a[..n].eq_ignore_ascii_case(&b[..n])
}

/// git's `token_len_without_separator`: the token without trailing non-alphanumerics.
fn strip_separator(token: &[u8]) -> &[u8] {
    let end = token
        .iter()
        .rposition(|c| c.is_ascii_alphanumeric())
        .map_or(0, |i| i + 1);
    &token[..end]
}

/// git's `find_separator`: the position of the separator after a token of `[A-Za-z0-9-]`,
/// optionally followed by spaces; `None` when the line is not shaped like a trailer.
fn find_separator(line: &[u8], separators: &[u8]) -> Option<usize> {
    let mut whitespace_found = false;
    for (i, &c) in line.iter().enumerate() {
        if separators.contains(&c) {
            return Some(i);
        }
        if !whitespace_found && (c.is_ascii_alphanumeric() || c == b'-') {
            continue;
        }
        if i != 0 && (c == b' ' || c == b'\t') {
            whitespace_found = true;
            continue;
        }
        break;
    }
    None
}

/// git's `ignored_log_message_bytes`: the scissors line and what follows, then trailing comment
/// lines, blank lines and an old-style `Conflicts:` block.
fn ignored_log_message_bytes(buf: &[u8], rules: &Rules) -> usize {
    let len = buf.len();
    let cutoff = locate_end(buf, rules);
    let mut boc = 0;
    let mut bol = 0;
    let mut in_conflicts = false;
    while bol < cutoff {
        let next = next_line(buf, bol);
        let line = &buf[bol..];
        if buf[bol..cutoff].starts_with(&rules.comment) || buf[bol] == b'\n' {
            if boc == 0 {
                boc = bol;
            }
        } else if line.starts_with(b"Conflicts:\n") {
            in_conflicts = true;
            if boc == 0 {
                boc = bol;
            }
        } else if in_conflicts && buf[bol] == b'\t' {
            // A path of the conflicts block.
        } else if boc != 0 {
            boc = 0;
            in_conflicts = false;
        }
        bol = next;
    }
    if boc != 0 { len - boc } else { len - cutoff }
}

/// git's `wt_status_locate_end`: where the scissors line starts, or the length.
fn locate_end(buf: &[u8], rules: &Rules) -> usize {
    let mut pattern = Vec::with_capacity(1 + rules.comment.len() + CUT_LINE.len());
    pattern.push(b'\n');
    pattern.extend_from_slice(&rules.comment);
    pattern.extend_from_slice(CUT_LINE);
    if buf.starts_with(&pattern[1..]) {
        return 0;
    }
    // git searches a NUL-terminated string: nothing after a NUL byte counts.
    let text = match buf.find_byte(0) {
        Some(nul) => &buf[..nul],
        None => buf,
    };
    match text.find(&pattern) {
        Some(p) => (p + 1).min(buf.len()),
        None => buf.len(),
    }
}

/// git's `find_trailer_block_start` on `buf` (the message without its ignored end).
fn trailer_block_start(buf: &[u8], rules: &Rules) -> usize {
    let len = buf.len();
    // The first paragraph is the title and cannot hold trailers.
    let mut s = 0;
    while s < len {
        if !rules.is_comment(&buf[s..]) && is_blank_line(&buf[s..]) {
            break;
        }
        s = next_line(buf, s);
    }
    let end_of_title = s;

    let mut only_spaces = true;
    let mut recognized_prefix = false;
    let mut trailer_lines = 0usize;
    let mut non_trailer_lines = 0usize;
    let mut possible_continuation_lines = 0usize;

    let mut l = last_line(buf, len);
    while let Some(bol) = l {
        if bol < end_of_title {
            break;
        }
        let line = &buf[bol..];
        l = last_line(buf, bol);
        if rules.is_comment(line) {
            non_trailer_lines += possible_continuation_lines;
            possible_continuation_lines = 0;
            continue;
        }
        if is_blank_line(line) {
            if only_spaces {
                continue;
            }
            non_trailer_lines += possible_continuation_lines;
            if (recognized_prefix && trailer_lines * 3 >= non_trailer_lines)
                || (trailer_lines > 0 && non_trailer_lines == 0)
            {
                return next_line(buf, bol);
            }
            return len;
        }
        only_spaces = false;

        if GIT_GENERATED_PREFIXES.iter().any(|p| line.starts_with(p)) {
            trailer_lines += 1;
            possible_continuation_lines = 0;
            recognized_prefix = true;
            continue;
        }

        let separator = find_separator(line, &rules.separators);
        if let Some(pos) = separator.filter(|&p| p >= 1 && !is_space(line[0])) {
            trailer_lines += 1;
            possible_continuation_lines = 0;
            if !recognized_prefix {
                // git compares the line's first `pos` bytes, untrimmed.
                if rules
                    .configured
                    .iter()
                    .any(|c| token_matches(&line[..pos], c))
                {
                    recognized_prefix = true;
                }
            }
        } else if is_space(line[0]) {
            possible_continuation_lines += 1;
        } else {
            non_trailer_lines += 1 + possible_continuation_lines;
            possible_continuation_lines = 0;
        }
    }
    len
}

/// git's `ends_with_blank_line`.
fn ends_with_blank_line(buf: &[u8]) -> bool {
    last_line(buf, buf.len()).is_some_and(|l| is_blank_line(&buf[l..]))
}

/// git's `last_line`: the start of the line before `len` (a final newline belongs to the last
/// line).
fn last_line(buf: &[u8], len: usize) -> Option<usize> {
    match len {
        0 => None,
        1 => Some(0),
        _ => Some(buf[..len - 1].rfind_byte(b'\n').map_or(0, |i| i + 1)),
    }
}

/// The start of the line after the one starting at `pos`.
fn next_line(buf: &[u8], pos: usize) -> usize {
    buf[pos..]
        .find_byte(b'\n')
        .map_or(buf.len(), |i| pos + i + 1)
}

/// git's `is_blank_line`: only whitespace up to the newline (or the end).
fn is_blank_line(line: &[u8]) -> bool {
    for &c in line {
        if c == b'\n' {
            return true;
        }
        if !is_space(c) {
            return false;
        }
    }
    true
}

/// git's `isspace`: space, tab, newline and carriage return only.
fn is_space(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\n' | b'\r')
}

fn trim(s: &[u8]) -> &[u8] {
    let start = s.iter().position(|&c| !is_space(c)).unwrap_or(s.len());
    let end = s
        .iter()
        .rposition(|&c| !is_space(c))
        .map_or(start, |e| e + 1);
    &s[start..end]
}

fn strip_newline(line: &[u8]) -> &[u8] {
    line.strip_suffix(b"\n").unwrap_or(line)
}

/// `msg` without every line, anywhere in it, that starts a trailer whose key is one of `keys`
/// (any letter case; `Key:` or `Key :`), with the continuation lines that follow such a line;
/// trailing blank lines are dropped. Returns the new message and the lines removed. This is how
/// text an agent wrote is kept from claiming a review or a step it was not given.
pub fn strip_keys(msg: &[u8], keys: &[&str]) -> (Vec<u8>, Vec<String>) {
    let mut out = Vec::with_capacity(msg.len());
    let mut removed = Vec::new();
    let mut in_removed = false;
    for line in msg.split_inclusive(|&c| c == b'\n') {
        let text = line.strip_suffix(b"\n").unwrap_or(line);
        let text = text.strip_suffix(b"\r").unwrap_or(text);
        if in_removed && text.first().is_some_and(|&c| c == b' ' || c == b'\t') {
            continue;
        }
        in_removed = false;
        let t = text.trim_ascii_start();
        let hit = keys.iter().any(|k| {
            t.len() > k.len()
                && t[..k.len()].eq_ignore_ascii_case(k.as_bytes())
                && t[k.len()..].trim_ascii_start().starts_with(b":")
        });
        if hit {
            removed.push(String::from_utf8_lossy(text).trim().to_owned());
            in_removed = true;
            continue;
        }
        out.extend_from_slice(line);
    }
    while out.ends_with(b"\n\n") {
        out.pop();
    }
    if out.iter().all(u8::is_ascii_whitespace) {
        out.clear();
    }
    if !out.is_empty() && !out.ends_with(b"\n") {
        out.push(b'\n');
    }
    (out, removed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(msg: &str) -> String {
        String::from_utf8(format_parsed(msg.as_bytes(), &Rules::default())).unwrap()
    }

    #[test]
    fn the_five_cases_where_gix_differs_from_git() {
        assert_eq!(
            parsed("S\n\nReviewed-by: A\n# c\nAcked-by: B\n"),
            "Reviewed-by: A\nAcked-by: B\n"
        );
        assert_eq!(
            parsed("S\n\nReviewed-by: A\n# Please enter\n"),
            "Reviewed-by: A\n"
        );
        assert_eq!(parsed("S\n   \nReviewed-by: A\n"), "Reviewed-by: A\n");
        assert_eq!(
            parsed("S\n\nReviewed-by: A\n\nConflicts:\n\tfile.c\n"),
            "Reviewed-by: A\n"
        );
        assert_eq!(
            parsed(
                "S\n\nReviewed-by: A\n# ------------------------ >8 ------------------------\nfoo: bar\n"
            ),
            "Reviewed-by: A\n"
        );
    }

    #[test]
    fn title_only_and_the_25_percent_rule() {
        assert_eq!(parsed("Reviewed-by: A\n"), "");
        assert_eq!(parsed("S\n\nfree text\nReviewed-by: A\n"), "");
        assert_eq!(
            parsed("S\n\nfree text\nSigned-off-by: A <a@x>\n"),
            "Signed-off-by: A <a@x>\n"
        );
        assert_eq!(
            parsed("S\n\nReviewed-by: A\n  more\n   text\n"),
            "Reviewed-by: A more text\n"
        );
    }

    #[test]
    fn add_appends_or_opens_a_block() {
        let r = Rules::default();
        assert_eq!(
            add(b"S\n\nbody\n", "Reviewed-by", "R <r@x>", &r),
            b"S\n\nbody\n\nReviewed-by: R <r@x>\n"
        );
        assert_eq!(
            add(b"S\n\nAcked-by : B\n", "Reviewed-by", "R <r@x>", &r),
            b"S\n\nAcked-by: B\nReviewed-by: R <r@x>\n"
        );
        assert_eq!(
            add(b"S\n\nReviewed-by: R <r@x>\n", "Reviewed-by", "r <R@x>", &r),
            b"S\n\nReviewed-by: R <r@x>\n"
        );
    }
}
