//! The words the notes use for kinds of things: where a plan revision came from, a review's
//! verdict, who made a step. Each is an enum with the note's spelling as its name, and keeps a
//! word it does not know (a newer git-aiflow's, or a hand edit) as `Other`, so that reading a
//! note never fails on it: validation says what is wrong and how to fix it, and a note read and
//! written back keeps the word as it was.

use std::fmt;

/// An enum of known words, each with its spelling, plus `Other(String)` for the rest.
macro_rules! words {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident = $word:literal,)+ }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
        #[serde(from = "String", into = "String")]
        pub enum $name {
            $($(#[$vmeta])* $variant,)+
            /// A word this build does not know, kept as it was.
            Other(String),
        }

        impl $name {
            /// The known words, in the note's spelling.
            pub const WORDS: &'static [&'static str] = &[$($word),+];

            /// The note's spelling.
            pub fn as_str(&self) -> &str {
                match self {
                    $($name::$variant => $word,)+
                    $name::Other(w) => w,
                }
            }

            /// Whether this build knows the word.
            pub fn is_known(&self) -> bool {
                !matches!(self, $name::Other(_))
            }
        }

        impl From<String> for $name {
            fn from(word: String) -> Self {
                match word.as_str() {
                    $($word => $name::$variant,)+
                    _ => $name::Other(word),
                }
            }
        }

        impl From<&str> for $name {
            fn from(word: &str) -> Self {
                $name::from(word.to_owned())
            }
        }

        impl From<$name> for String {
            fn from(v: $name) -> String {
                match v {
                    $name::Other(w) => w,
                    known => known.as_str().to_owned(),
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl PartialEq<str> for $name {
            fn eq(&self, other: &str) -> bool {
                self.as_str() == other
            }
        }

        impl PartialEq<&str> for $name {
            fn eq(&self, other: &&str) -> bool {
                self.as_str() == *other
            }
        }
    };
}

words! {
    /// Where a plan revision came from.
    RevisionSource {
        /// A provider's answer (`model`).
        Model = "model",
        /// A human edit (`edit`).
        Edit = "edit",
        /// The merge of two sides' plans by `sync` (`merge`).
        Merge = "merge",
    }
}

words! {
    /// What a review decided.
    Verdict {
        /// The work is approved (`approved`).
        Approved = "approved",
        /// Changes are requested (`changes-requested`).
        ChangesRequested = "changes-requested",
    }
}

words! {
    /// Who made a step.
    StepAuthor {
        /// A human, with `git aiflow step` (`hand`).
        Hand = "hand",
        /// The coding agent, with `git aiflow exec` (`agent`).
        Agent = "agent",
    }
}

impl Default for Verdict {
    /// No verdict: an empty word, which validation refuses.
    fn default() -> Self {
        Verdict::Other(String::new())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Serialize, serde::Deserialize, Debug, PartialEq)]
    struct Doc {
        verdict: Verdict,
        source: RevisionSource,
        by: StepAuthor,
    }

    /// The TOML bytes are the words, known or not, and read back the same.
    #[test]
    fn words_round_trip_as_plain_strings() {
        let text = "verdict = \"changes-requested\"\nsource = \"model\"\nby = \"robot\"\n";
        let doc: Doc = toml::from_str(text).expect("parses");
        assert_eq!(doc.verdict, Verdict::ChangesRequested);
        assert_eq!(doc.source, RevisionSource::Model);
        assert_eq!(doc.by, StepAuthor::Other("robot".into()));
        assert!(!doc.by.is_known());
        assert_eq!(toml::to_string(&doc).expect("writes"), text);
        assert_eq!(
            serde_json::to_value(Verdict::Approved).expect("json"),
            serde_json::json!("approved")
        );
        for w in Verdict::WORDS {
            assert_eq!(Verdict::from(*w).as_str(), *w);
            assert!(Verdict::from(*w).is_known());
        }
    }
}
