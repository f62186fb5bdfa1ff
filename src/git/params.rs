//! `git -c key=value aiflow …`: git hands `-c` settings (and `--config-env`) to the commands it
//! runs, hooks included, in `GIT_CONFIG_PARAMETERS`. gix reads `GIT_CONFIG_COUNT` but not this
//! variable, so it is parsed here, as git's `parse_config_env_list` parses it, and applied over
//! the repository's configuration with the highest precedence, value bytes exactly as given.
//!
//! The format is a space-separated list of shell single-quoted words (`'` inside a word is
//! written `'\''`, `!` is written `'\!'`): `'key'='value'`, `'key'=` for a key given without a
//! value (boolean true), or the older `'key=value'`.

use gix::bstr::{BString, ByteSlice};

/// The variable git passes `-c` settings in.
pub const VAR: &str = "GIT_CONFIG_PARAMETERS";

/// A `GIT_CONFIG_PARAMETERS` that git would refuse too.
#[derive(Debug, thiserror::Error)]
#[error(
    "{VAR} is malformed ({what}); git would refuse it too: check the `-c` options or unset {VAR}"
)]
pub struct ParamsError {
    what: String,
}

/// One setting: the key as given, and its value (`None`: the key alone, meaning true).
pub type Setting = (BString, Option<BString>);

/// Parse the value of `GIT_CONFIG_PARAMETERS`.
pub fn parse(input: &[u8]) -> Result<Vec<Setting>, ParamsError> {
    let bogus = |what: &str| ParamsError { what: what.into() };
    let mut out = Vec::new();
    let mut rest = input.trim_start();
    while !rest.is_empty() {
        let (word, after) = dequote_step(rest).ok_or_else(|| bogus("an unterminated quote"))?;
        rest = after;
        match rest.first() {
            None | Some(b' ' | b'\t' | b'\n' | b'\r' | b'\x0b' | b'\x0c') => {
                // Old style: 'key=value', or 'key' alone.
                match word.find_byte(b'=') {
                    Some(eq) => out.push((
                        BString::from(&word[..eq]),
                        Some(BString::from(&word[eq + 1..])),
                    )),
                    None => out.push((BString::from(word), None)),
                }
            }
            Some(b'=') => {
                rest = &rest[1..];
                match rest.first() {
                    Some(b'\'') => {
                        let (value, after) = dequote_step(rest)
                            .ok_or_else(|| bogus("an unterminated quote in a value"))?;
                        if after.first().is_some_and(|c| !c.is_ascii_whitespace()) {
                            return Err(bogus("text after a quoted value"));
                        }
                        rest = after;
                        out.push((BString::from(word), Some(BString::from(value))));
                    }
                    None => out.push((BString::from(word), None)),
                    Some(c) if c.is_ascii_whitespace() => out.push((BString::from(word), None)),
                    Some(_) => return Err(bogus("an unquoted value")),
                }
            }
            Some(_) => return Err(bogus("text after a quoted key")),
        }
        rest = rest.trim_start();
    }
    Ok(out)
}

/// Read one single-quoted word from the start of `input` (which must start with `'`): the word
/// and what follows it. `None` when the quoting is broken.
fn dequote_step(input: &[u8]) -> Option<(Vec<u8>, &[u8])> {
    let mut rest = input.strip_prefix(b"'")?;
    let mut word = Vec::new();
    loop {
        let end = rest.find_byte(b'\'')?;
        word.extend_from_slice(&rest[..end]);
        rest = &rest[end + 1..];
        // `'\''` and `'\!'`: an escaped character between two quoted runs.
        match rest {
            [b'\\', c @ (b'\'' | b'!'), b'\'', tail @ ..] => {
                word.push(*c);
                rest = tail;
            }
            _ => return Some((word, rest)),
        }
    }
}

/// A configuration file (source: the command line) holding `settings`, in order.
pub fn as_config(settings: &[Setting]) -> Result<gix::config::File, ParamsError> {
    let mut file =
        gix::config::File::new(gix::config::file::Metadata::from(gix::config::Source::Cli));
    for (key, value) in settings {
        let bad = || ParamsError {
            what: format!("{key:?} is not a configuration key"),
        };
        let parsed = gix::config::KeyRef::parse_unvalidated(key.as_bstr()).ok_or_else(bad)?;
        let subsection = parsed.subsection_name.map(|s| s.to_owned());
        let mut section = file
            .section_mut_or_create_new(
                parsed.section_name,
                subsection.as_ref().map(|s| s.as_bstr()),
            )
            .map_err(|_| bad())?;
        section
            .push(parsed.value_name, value.as_ref().map(|v| v.as_bstr()))
            .map_err(|_| bad())?;
    }
    Ok(file)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(input: &str) -> Vec<(String, Option<String>)> {
        parse(input.as_bytes())
            .expect("parses")
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.map(|v| v.to_string())))
            .collect()
    }

    fn some(k: &str, v: &str) -> (String, Option<String>) {
        (k.into(), Some(v.into()))
    }

    #[test]
    fn what_git_2_47_writes() {
        // `git -c a.b -c c.d= -c 'e.f=x y' -c "g.h=O'Hara!" -c Sub.My.Section.Key=v -c x.y=a=b`
        let got = pairs(
            r#"'a.b'= 'c.d'='' 'e.f'='x y' 'g.h'='O'\''Hara'\!'' 'Sub.My.Section.Key'='v' 'x.y'='a=b'"#,
        );
        assert_eq!(
            got,
            [
                ("a.b".into(), None),
                some("c.d", ""),
                some("e.f", "x y"),
                some("g.h", "O'Hara!"),
                some("Sub.My.Section.Key", "v"),
                some("x.y", "a=b"),
            ]
        );
    }

    #[test]
    fn the_old_style_and_spacing() {
        assert_eq!(
            pairs("  'a.b=1'  'c.d' 'e.f= spaced '\n"),
            [
                some("a.b", "1"),
                ("c.d".into(), None),
                some("e.f", " spaced ")
            ]
        );
        assert_eq!(pairs(""), []);
    }

    #[test]
    fn what_git_refuses() {
        for bad in [
            "'a.b",
            "a.b=1",
            "'a.b'=1",
            "'a.b'='1'x",
            "'a.b'x",
            "'a.b'='1",
        ] {
            assert!(parse(bad.as_bytes()).is_err(), "{bad}");
        }
    }

    #[test]
    fn as_config_keeps_subsections_and_bytes() {
        let settings = parse(
            br#"'trailer.sign.key'='Signed-off-by: ' 'aiflow.exemptMerges'='false' 'core.x'="#,
        )
        .expect("parses");
        let file = as_config(&settings).expect("config");
        assert_eq!(
            file.string("trailer.sign.key").expect("value").to_string(),
            "Signed-off-by: "
        );
        assert_eq!(
            file.boolean("aiflow.exemptmerges").ok().flatten(),
            Some(false)
        );
        assert_eq!(file.boolean("core.x").ok().flatten(), Some(true));
        let err = as_config(&[(BString::from("nodot"), None)]).unwrap_err();
        assert!(err.to_string().contains("nodot"), "{err}");
    }
}
