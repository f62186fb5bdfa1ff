//! Flow slugs: the names that become branch names, and how to derive one from a title.
//!
//! A slug is deliberately narrower than what git allows in a ref name: lower-case ASCII letters,
//! digits and single hyphens. That rules out every dangerous form at once (`..`, `~`, `^`, `:`,
//! spaces, control characters, a leading `-`, a `.lock` suffix), keeps the branch name readable in
//! every shell and GUI, and reserves `--` for subtask branches (`aiflow/<slug>--<id>-<title>`), so
//! a flow's integration branch can never collide with another flow's subtask branch.

/// The longest slug accepted, in bytes.
const MAX_SLUG_LEN: usize = 64;

/// Why a slug was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SlugError {
    /// Nothing given.
    #[error("the slug is empty")]
    Empty,
    /// Too long.
    #[error("the slug `{slug}` is {len} characters long; the limit is {MAX_SLUG_LEN}")]
    TooLong {
        /// The slug, shortened for display.
        slug: String,
        /// Its length.
        len: usize,
    },
    /// A character outside `[a-z0-9-]`.
    #[error("the slug `{slug}` contains {what}")]
    BadChar {
        /// The slug, escaped for display.
        slug: String,
        /// The character, described.
        what: String,
        /// A corrected slug, when one can be derived.
        suggestion: Option<String>,
    },
    /// Starts or ends with `-`, or contains `--`.
    #[error("the slug `{slug}` {what}")]
    BadHyphen {
        /// The slug.
        slug: String,
        /// What is wrong with its hyphens.
        what: &'static str,
        /// A corrected slug, when one can be derived.
        suggestion: Option<String>,
    },
}

impl SlugError {
    /// How to fix it.
    pub fn hint(&self) -> String {
        let rule = "a slug is lower-case letters, digits and single hyphens, such as `rate-limit`";
        let suggestion = match self {
            SlugError::BadChar { suggestion, .. } | SlugError::BadHyphen { suggestion, .. } => {
                suggestion.as_ref()
            }
            _ => None,
        };
        match suggestion {
            Some(s) => format!("{rule}; try `{s}`"),
            None => rule.to_string(),
        }
    }
}

/// The subcommands of the commands that also take a flow's slug where the subcommand would be:
/// (command, its subcommands). A new flow may not take one of these names, or `git aiflow plan
/// show` would show the current plan instead of planning flow `show`. A unit test in
/// `src/cli/new.rs` keeps this list equal to the CLI's.
pub const COMMAND_WORDS: &[(&str, &[&str])] = &[
    ("plan", &["diff", "edit", "expand", "help", "log", "show"]),
    ("audit", &["accept", "dismiss", "help"]),
];

/// The command that reads `slug` as one of its subcommands, if any.
pub fn command_word(slug: &str) -> Option<&'static str> {
    COMMAND_WORDS
        .iter()
        .find(|(_, words)| words.contains(&slug))
        .map(|(command, _)| *command)
}

/// Check that `slug` is a valid flow slug.
pub fn validate_slug(slug: &str) -> Result<(), SlugError> {
    if slug.is_empty() {
        return Err(SlugError::Empty);
    }
    let shown = || {
        let mut s: String = slug
            .chars()
            .take(80)
            .collect::<String>()
            .escape_debug()
            .to_string();
        if slug.chars().count() > 80 {
            s.push('…');
        }
        s
    };
    let suggestion = || slugify(slug).filter(|s| s != slug);
    if let Some(c) = slug
        .chars()
        .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-'))
    {
        let what = match c {
            ' ' => "a space".to_string(),
            '.' if slug.contains("..") => "`..`".to_string(),
            c if c.is_control() => format!("the control character U+{:04X}", c as u32),
            c if c.is_ascii_uppercase() => format!("the upper-case letter `{c}`"),
            c => format!("the character `{c}`"),
        };
        return Err(SlugError::BadChar {
            slug: shown(),
            what,
            suggestion: suggestion(),
        });
    }
    if slug.len() > MAX_SLUG_LEN {
        return Err(SlugError::TooLong {
            slug: shown(),
            len: slug.len(),
        });
    }
    let what = if slug.starts_with('-') {
        Some("starts with `-`")
    } else if slug.ends_with('-') {
        Some("ends with `-`")
    } else if slug.contains("--") {
        Some("contains `--`, which is reserved for subtask branches")
    } else {
        None
    };
    if let Some(what) = what {
        return Err(SlugError::BadHyphen {
            slug: shown(),
            what,
            suggestion: suggestion(),
        });
    }
    Ok(())
}

/// Derive a slug from free text (a title): lower-case ASCII words joined by single hyphens,
/// cut at a word boundary to at most 48 bytes. `None` when the text has no ASCII letter or digit.
pub fn slugify(text: &str) -> Option<String> {
    const TARGET: usize = 48;
    let mut words: Vec<String> = Vec::new();
    let mut cur = String::new();
    for c in text.chars() {
        if c.is_ascii_alphanumeric() {
            cur.push(c.to_ascii_lowercase());
        } else if c == '\'' || c == '\u{2019}' {
            // "don't" -> "dont"
        } else if !cur.is_empty() {
            words.push(std::mem::take(&mut cur));
        }
    }
    if !cur.is_empty() {
        words.push(cur);
    }
    let mut out = String::new();
    for w in words {
        let extra = if out.is_empty() { w.len() } else { w.len() + 1 };
        if out.len() + extra > TARGET {
            if out.is_empty() {
                out.push_str(&w[..TARGET]);
            }
            break;
        }
        if !out.is_empty() {
            out.push('-');
        }
        out.push_str(&w);
    }
    (!out.is_empty()).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_plain_slugs() {
        for s in ["rate-limit", "a", "v2", "fix-42-login"] {
            validate_slug(s).expect(s);
        }
    }

    #[test]
    fn refuses_ref_name_hazards() {
        let cases = [
            ("a..b", "`..`"),
            ("a~1", "`~`"),
            ("a^", "`^`"),
            ("a:b", "`:`"),
            ("has space", "a space"),
            ("-lead", "starts with `-`"),
            ("x.lock", "`.`"),
            ("tab\there", "U+0009"),
            ("Upper", "upper-case"),
            ("a--b", "reserved"),
            ("trail-", "ends with"),
            ("caf\u{e9}", "`\u{e9}`"),
        ];
        for (slug, needle) in cases {
            let e = validate_slug(slug).unwrap_err();
            assert!(e.to_string().contains(needle), "{slug}: {e}");
        }
        let long = "a".repeat(65);
        assert!(matches!(
            validate_slug(&long),
            Err(SlugError::TooLong { len: 65, .. })
        ));
        assert_eq!(validate_slug(""), Err(SlugError::Empty));
    }

    #[test]
    fn suggests_a_fix() {
        let e = validate_slug("Rate Limit").unwrap_err();
        assert!(e.hint().contains("try `rate-limit`"), "{}", e.hint());
    }

    #[test]
    fn slugify_titles() {
        assert_eq!(
            slugify("Rate limiting for the public API").as_deref(),
            Some("rate-limiting-for-the-public-api")
        );
        assert_eq!(slugify("  Don't  panic!! ").as_deref(), Some("dont-panic"));
        assert_eq!(slugify("../../etc/passwd").as_deref(), Some("etc-passwd"));
        assert_eq!(slugify("日本語"), None);
        let long = slugify(&"word ".repeat(40)).expect("slug");
        assert!(long.len() <= 48 && !long.ends_with('-'), "{long}");
        validate_slug(&long).expect("derived slugs are valid");
        assert_eq!(slugify(&"x".repeat(100)).expect("slug").len(), 48);
    }
}
