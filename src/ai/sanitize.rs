//! Model output is data, also on a terminal: remove terminal control sequences and other
//! invisible steering from text before it is printed or stored.
//!
//! Where: a provider's answer is cleaned where it enters (every provider, in
//! [`super::provider`], with [`clean_model_text`], which cleans each JSON string literal as the
//! value it stands for); every string read out of a model's JSON is cleaned again after decoding
//! (`crate::ai::answer`), and so is every title and description of a plan, edits included; text
//! read back from notes is cleaned when it is printed, since a note can be written by anyone who
//! can push `refs/notes/aiflow`; and `--json` output writes these characters as `\u` escapes
//! ([`SafeJson`]), keeping the values exact.
//!
//! What is removed, whole: CSI sequences (`ESC [` or U+009B, parameter and intermediate bytes, a
//! final byte), OSC strings (`ESC ]` or U+009D, up to BEL or ST), including OSC 8 hyperlinks and
//! OSC 52 clipboard writes, DCS, SOS, PM and APC strings (`ESC P`, `ESC X`, `ESC ^`, `ESC _` or
//! U+0090, U+0098, U+009E, U+009F, up to ST or BEL), and every other escape sequence (`ESC`,
//! intermediate bytes, a final byte). A string sequence that another control character or the
//! end of the text interrupts loses only its introducer: the rest is kept as text. Then every
//! remaining C0 and C1 control character and DEL, except newline and tab; the bidirectional
//! embedding, override and isolate controls (U+202A–U+202E, U+2066–U+2069, "Trojan Source"),
//! so that text shows in the order it is stored; and Unicode tag characters (U+E0000–U+E007F),
//! which no terminal shows but a model reading the text later would.
//!
//! What is normalised: `\r\n` and a bare `\r` become `\n` (a bare `\r` would let a line
//! overwrite itself on a terminal).
//!
//! What is kept: every other character, tabs, newlines, and the implicit direction marks
//! (U+200E, U+200F, U+061C), which cannot reorder text.

use std::borrow::Cow;

const ESC: char = '\x1b';
const BEL: char = '\x07';
/// The 8-bit String Terminator.
const ST: char = '\u{9c}';

/// `text` without terminal control sequences, control characters (but newline and tab),
/// bidirectional controls and tag characters; line ends normalised to `\n`. Borrowed when there
/// was nothing to remove.
pub fn clean(text: &str) -> Cow<'_, str> {
    if !text.chars().any(needs_work) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    let mut it = text.chars().peekable();
    while let Some(c) = it.next() {
        match c {
            '\n' | '\t' => out.push(c),
            '\r' => {
                if it.peek() == Some(&'\n') {
                    it.next();
                }
                out.push('\n');
            }
            ESC => skip_escape(&mut it),
            '\u{9b}' => skip_csi(&mut it),
            '\u{90}' | '\u{98}' | '\u{9d}' | '\u{9e}' | '\u{9f}' => skip_string(&mut it),
            c if is_removed(c) => {}
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// [`clean`] for a model's answer, which is JSON or holds some: each JSON string literal in it
/// is cleaned as the value it stands for, the rest as text. A JSON serialiser escapes the ESC or
/// BEL of a sequence but leaves a C1 introducer or a bidi control raw; cleaning the text alone
/// would see only half a sequence and leave its payload behind. A literal that changes is written
/// again with `serde_json`, so the JSON stays valid and means the cleaned value; one that does not
/// is kept as it was written.
pub fn clean_model_text(text: &str) -> Cow<'_, str> {
    if !text.contains('"') {
        return clean(text);
    }
    let mut out = String::with_capacity(text.len());
    let mut changed = false;
    let mut rest = text;
    while let Some(open) = rest.find('"') {
        let plain = &rest[..open];
        let cleaned = clean(plain);
        changed |= matches!(cleaned, Cow::Owned(_));
        out.push_str(&cleaned);
        let Some(len) = literal_len(&rest[open..]) else {
            rest = &rest[open..];
            break;
        };
        let literal = &rest[open..open + len];
        let written = clean_literal(literal);
        changed |= matches!(written, Cow::Owned(_));
        out.push_str(&written);
        rest = &rest[open + len..];
    }
    let cleaned = clean(rest);
    changed |= matches!(cleaned, Cow::Owned(_));
    out.push_str(&cleaned);
    if changed {
        Cow::Owned(out)
    } else {
        Cow::Borrowed(text)
    }
}

/// The length of the string literal at the start of `s` (which starts with `"`), up to its
/// closing quote; `None` when it is not closed.
fn literal_len(s: &str) -> Option<usize> {
    let mut escaped = false;
    for (i, c) in s.char_indices().skip(1) {
        match c {
            _ if escaped => escaped = false,
            '\\' => escaped = true,
            '"' => return Some(i + 1),
            _ => {}
        }
    }
    None
}

/// One JSON string literal, cleaned as its value (see [`clean_model_text`]).
fn clean_literal(literal: &str) -> Cow<'_, str> {
    // A raw control character makes the literal invalid JSON: clean the text first, then try.
    let text = match serde_json::from_str::<String>(literal) {
        Ok(_) => Cow::Borrowed(literal),
        Err(_) => clean(literal),
    };
    match serde_json::from_str::<String>(&text) {
        Ok(value) => match clean(&value) {
            Cow::Borrowed(_) => text,
            Cow::Owned(v) => Cow::Owned(serde_json::to_string(&v).expect("strings serialize")),
        },
        Err(_) => text,
    }
}

/// [`clean`], into an owned string.
pub fn clean_string(text: String) -> String {
    match clean(&text) {
        Cow::Borrowed(_) => text,
        Cow::Owned(s) => s,
    }
}

/// Whether `c` is removed wherever it stands: a control character (but newline and tab), a
/// bidirectional embedding, override or isolate, or a tag character.
fn is_removed(c: char) -> bool {
    (c.is_control() && c != '\n' && c != '\t') || is_bidi_control(c) || is_tag(c)
}

/// The explicit bidirectional formatting characters that reorder text (LRE, RLE, PDF, LRO, RLO,
/// LRI, RLI, FSI, PDI).
fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// Unicode tag characters: invisible, and a known way to hide instructions for a model.
fn is_tag(c: char) -> bool {
    matches!(c, '\u{e0000}'..='\u{e007f}')
}

fn needs_work(c: char) -> bool {
    c == '\r' || is_removed(c)
}

type Chars<'a> = std::iter::Peekable<std::str::Chars<'a>>;

fn next_if_in(it: &mut Chars<'_>, range: std::ops::RangeInclusive<char>) -> bool {
    it.next_if(|c| range.contains(c)).is_some()
}

/// After `ESC`: the rest of the sequence it starts. A lone `ESC` is dropped alone.
fn skip_escape(it: &mut Chars<'_>) {
    match it.peek() {
        Some('[') => {
            it.next();
            skip_csi(it);
        }
        Some(']' | 'P' | 'X' | '^' | '_') => {
            it.next();
            skip_string(it);
        }
        Some(' '..='/') => {
            while next_if_in(it, ' '..='/') {}
            next_if_in(it, '0'..='~');
        }
        // A two-character sequence: ESC 7, ESC c, ESC =, ESC \ …
        Some('0'..='~') => {
            it.next();
        }
        _ => {}
    }
}

/// After a CSI introducer: parameter bytes, intermediate bytes, then a final byte. Anything else
/// ends the sequence early, and is then read as text.
fn skip_csi(it: &mut Chars<'_>) {
    while next_if_in(it, '0'..='?') {}
    while next_if_in(it, ' '..='/') {}
    next_if_in(it, '@'..='~');
}

/// After an OSC, DCS, SOS, PM or APC introducer: the string up to and including its terminator
/// (BEL, `ESC \` or the 8-bit ST). When another control character or the end of the text comes
/// first, the string is not a sequence a terminal would act on once its introducer is gone: it
/// is left to be read as text. The scan stops at the first control character, so cleaning stays
/// linear in the length of the text.
fn skip_string(it: &mut Chars<'_>) {
    let mut probe = it.clone();
    loop {
        match probe.next() {
            Some(BEL | ST) => break,
            Some(ESC) if probe.peek() == Some(&'\\') => {
                probe.next();
                break;
            }
            Some(c) if c.is_control() => return,
            Some(_) => {}
            None => return,
        }
    }
    *it = probe;
}

/// A `serde_json` formatter that writes what [`clean`] would remove as `\u` escapes: the
/// document keeps every value exactly, and its bytes carry no C1 control, DEL, bidirectional
/// control or tag character (serde_json escapes the C0 controls itself).
pub struct SafeJson<F>(pub F);

impl<F: serde_json::ser::Formatter> serde_json::ser::Formatter for SafeJson<F> {
    fn write_string_fragment<W: ?Sized + std::io::Write>(
        &mut self,
        writer: &mut W,
        fragment: &str,
    ) -> std::io::Result<()> {
        let mut start = 0;
        for (i, c) in fragment.char_indices() {
            if is_removed(c) {
                self.0.write_string_fragment(writer, &fragment[start..i])?;
                let mut units = [0u16; 2];
                for u in c.encode_utf16(&mut units) {
                    write!(writer, "\\u{u:04x}")?;
                }
                start = i + c.len_utf8();
            }
        }
        self.0.write_string_fragment(writer, &fragment[start..])
    }

    // Everything else as the wrapped formatter does it.
    fn begin_array<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.0.begin_array(w)
    }
    fn end_array<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.0.end_array(w)
    }
    fn begin_array_value<W: ?Sized + std::io::Write>(
        &mut self,
        w: &mut W,
        first: bool,
    ) -> std::io::Result<()> {
        self.0.begin_array_value(w, first)
    }
    fn end_array_value<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.0.end_array_value(w)
    }
    fn begin_object<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.0.begin_object(w)
    }
    fn end_object<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.0.end_object(w)
    }
    fn begin_object_key<W: ?Sized + std::io::Write>(
        &mut self,
        w: &mut W,
        first: bool,
    ) -> std::io::Result<()> {
        self.0.begin_object_key(w, first)
    }
    fn end_object_key<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.0.end_object_key(w)
    }
    fn begin_object_value<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.0.begin_object_value(w)
    }
    fn end_object_value<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.0.end_object_value(w)
    }
}

/// Write `value` as pretty JSON with [`SafeJson`].
pub fn write_json_pretty<W: std::io::Write>(
    out: &mut W,
    value: &serde_json::Value,
) -> serde_json::Result<()> {
    use serde::Serialize;
    let mut ser = serde_json::Serializer::with_formatter(
        out,
        SafeJson(serde_json::ser::PrettyFormatter::new()),
    );
    value.serialize(&mut ser)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_text_is_borrowed() {
        for t in ["", "plain", "tab\tand\nnewline", "é ü 日本語 🎉 \u{200f}"] {
            assert!(matches!(clean(t), Cow::Borrowed(_)), "{t:?}");
        }
    }

    #[test]
    fn known_sequences() {
        let cases: &[(&str, &str)] = &[
            ("\x1b[31mred\x1b[0m", "red"),
            ("\x1b[1;38;5;196mbold\x1b[m", "bold"),
            ("\x1b[?25l hidden cursor", " hidden cursor"),
            ("\x1b[2J\x1b[Hcleared", "cleared"),
            ("\x1b]0;title\x07after", "after"),
            ("\x1b]2;title\x1b\\after", "after"),
            (
                "\x1b]8;;https://evil.example/\x1b\\click\x1b]8;;\x1b\\ here",
                "click here",
            ),
            (
                "\x1b]8;;https://evil.example/\x07click\x1b]8;;\x07",
                "click",
            ),
            ("\x1b]52;c;cm0gLXJmIH4=\x07copied", "copied"),
            ("\x1bP1$r0m\x1b\\dcs", "dcs"),
            ("\x1b_apc payload\x1b\\apc", "apc"),
            ("\x1b^pm\x1b\\pm", "pm"),
            ("\x1bXsos\x1b\\sos", "sos"),
            ("\u{9b}31mc1 csi", "c1 csi"),
            ("\u{9d}0;t\u{9c}c1 osc", "c1 osc"),
            ("\u{9d}8;;http://x\x07link", "link"),
            ("\u{90}dcs\u{9c}ok", "ok"),
            ("\x1b(Bcharset", "charset"),
            ("\x1b7saved\x1b8", "saved"),
            ("\x1bcreset", "reset"),
            ("\x1b#8align", "align"),
            ("a\x1b", "a"),
            ("a\x1b\x1b[1mb", "ab"),
            ("line\r\nnext", "line\nnext"),
            ("Approve\rDeny", "Approve\nDeny"),
            ("a\r", "a\n"),
            (
                "bell\x07 back\x08space del\x7f nul\0",
                "bell backspace del nul",
            ),
            ("c1 \u{85}nel \u{80}x", "c1 nel x"),
            ("x\u{202e}evil\u{202c}y", "xevily"),
            ("\u{2066}iso\u{2069}", "iso"),
            ("tags\u{e0041}\u{e0042}", "tags"),
            (
                "marks \u{200e}\u{200f}\u{61c} kept",
                "marks \u{200e}\u{200f}\u{61c} kept",
            ),
            // Interrupted or unterminated strings lose their introducer only.
            ("\x1b]0;no end", "0;no end"),
            ("\x1b]0;cut\nnext", "0;cut\nnext"),
            ("\u{9d}dangling", "dangling"),
            // A CSI cut short by a character outside its grammar.
            ("\x1b[31é", "é"),
            ("\x1b[", ""),
        ];
        for (input, want) in cases {
            assert_eq!(clean(input), *want, "{input:?}");
        }
    }

    /// A tiny deterministic generator (xorshift), so the properties need no extra crate.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            let mut x = self.0;
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            self.0 = x;
            x
        }
        fn below(&mut self, n: usize) -> usize {
            (self.next() % n as u64) as usize
        }
        fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
            &items[self.below(items.len())]
        }
    }

    /// Visible words: no control character among them.
    fn word(rng: &mut Rng) -> String {
        const PIECES: &[&str] = &[
            "a", "Z", "0", "9", " ", "[", "]", ";", "m", "\\", "~", "é", "日", "🎉", "-", "x",
            "(B", "7", "\t", "\u{200f}",
        ];
        (0..1 + rng.below(6))
            .map(|_| *rng.pick(PIECES))
            .collect::<String>()
    }

    /// A complete sequence (or control) and what it leaves behind.
    fn sequence(rng: &mut Rng) -> (String, &'static str) {
        let params = ["", "0", "31", "1;38;5;196", "?25", "2", ">4;1"];
        let payload = [
            "",
            "0;title",
            "8;;https://evil.example/?q=1",
            "52;c;cm0gLXJmIH4=",
            "2;\u{e9}t\u{e9}",
        ];
        let finals = ['m', 'H', 'J', 'K', 'h', 'l', '@', '~'];
        let osc_in = ["\x1b]", "\u{9d}"];
        let str_in = [
            "\x1bP", "\x1bX", "\x1b^", "\x1b_", "\u{90}", "\u{98}", "\u{9e}", "\u{9f}",
        ];
        let term = ["\x07", "\x1b\\", "\u{9c}"];
        match rng.below(12) {
            0 => (
                format!("\x1b[{}{}", rng.pick(&params), rng.pick(&finals)),
                "",
            ),
            1 => (
                format!("\u{9b}{}{}", rng.pick(&params), rng.pick(&finals)),
                "",
            ),
            2 => (
                format!("\x1b[{} {}", rng.pick(&params), rng.pick(&['q', 'p'])),
                "",
            ),
            3 | 4 => (
                format!(
                    "{}{}{}",
                    rng.pick(&osc_in),
                    rng.pick(&payload),
                    rng.pick(&term)
                ),
                "",
            ),
            5 => (
                format!(
                    "{}{}{}",
                    rng.pick(&str_in),
                    rng.pick(&payload),
                    rng.pick(&term)
                ),
                "",
            ),
            6 => (
                format!("\x1b{}", rng.pick(&['7', '8', 'c', '=', '>', 'M', 'D'])),
                "",
            ),
            7 => (format!("\x1b{}", rng.pick(&["(B", ")0", "#8", "%G"])), ""),
            8 => (
                rng.pick(&[
                    "\u{202a}", "\u{202b}", "\u{202c}", "\u{202d}", "\u{202e}", "\u{2066}",
                    "\u{2067}", "\u{2068}", "\u{2069}",
                ])
                .to_string(),
                "",
            ),
            9 => (
                rng.pick(&[
                    "\x00",
                    "\x07",
                    "\x08",
                    "\x0b",
                    "\x0c",
                    "\x7f",
                    "\u{85}",
                    "\u{80}",
                    "\u{9c}",
                    "\u{e0001}",
                ])
                .to_string(),
                "",
            ),
            10 => ("\r\n".to_string(), "\n"),
            _ => ("\n".to_string(), "\n"),
        }
    }

    #[test]
    fn property_sequences_go_and_visible_text_stays() {
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        for _ in 0..5000 {
            let mut input = String::new();
            let mut want = String::new();
            for _ in 0..1 + rng.below(12) {
                if rng.below(2) == 0 {
                    let w = word(&mut rng);
                    input.push_str(&w);
                    want.push_str(&w);
                } else {
                    let (s, left) = sequence(&mut rng);
                    input.push_str(&s);
                    want.push_str(left);
                }
            }
            let got = clean(&input);
            assert_eq!(got, want, "input {input:?}");
        }
    }

    #[test]
    fn property_any_soup_comes_out_clean_and_stable() {
        const ALPHABET: &[char] = &[
            '\x1b',
            '[',
            ']',
            '\\',
            'P',
            'X',
            '^',
            '_',
            '0',
            '1',
            ';',
            'm',
            '?',
            ' ',
            '(',
            '#',
            '\x07',
            '\r',
            '\n',
            '\t',
            '\0',
            '\x7f',
            '\u{85}',
            '\u{9b}',
            '\u{9c}',
            '\u{9d}',
            '\u{90}',
            '\u{202e}',
            '\u{2066}',
            '\u{200f}',
            '\u{e0041}',
            'a',
            'é',
            '🎉',
        ];
        let mut rng = Rng(0x2545_f491_4f6c_dd1d);
        for _ in 0..20_000 {
            let input: String = (0..rng.below(40)).map(|_| *rng.pick(ALPHABET)).collect();
            let once = clean(&input).into_owned();
            for c in once.chars() {
                assert!(
                    !(c.is_control() && c != '\n' && c != '\t'),
                    "{c:?} left in {once:?} from {input:?}"
                );
                assert!(!is_bidi_control(c) && !is_tag(c), "{input:?}");
            }
            assert_eq!(clean(&once), once, "not idempotent on {input:?}");
            // Nothing visible is invented: every character kept was in the input, in order.
            let mut rest = input.chars();
            for c in once.chars().filter(|c| *c != '\n') {
                assert!(rest.any(|x| x == c), "{c:?} invented from {input:?}");
            }
        }
    }

    #[test]
    fn long_runs_of_introducers_stay_linear() {
        let text = "\u{9d}a".repeat(200_000) + &"\x1b]".repeat(200_000);
        let start = std::time::Instant::now();
        let out = clean(&text);
        assert_eq!(out, "a".repeat(200_000));
        assert!(start.elapsed() < std::time::Duration::from_secs(5));
    }

    #[test]
    fn json_literals_are_cleaned_as_their_values() {
        // What serde_json makes of "\u{9d}8;;https://x/\x07link \x1b[31mred": C0 escaped, C1 raw.
        let json = serde_json::to_string("\u{9d}8;;https://x/\x07link \x1b]8;;u\x1b\\red\u{202e}")
            .unwrap();
        assert_eq!(
            json,
            "\"\u{9d}8;;https://x/\\u0007link \\u001b]8;;u\\u001b\\\\red\u{202e}\""
        );
        assert_eq!(clean_model_text(&json), "\"link red\"");
        let doc = format!(
            "\x1b]0;t\x07Here:\r\n{{\"a\": {json}, \"b\": [\"\\u00e9\\n\", \"raw \x1b[1mbold\"], \"c\": \"\\\\u001b\"}}"
        );
        let out = clean_model_text(&doc);
        assert_eq!(
            out,
            "Here:\n{\"a\": \"link red\", \"b\": [\"\\u00e9\\n\", \"raw bold\"], \"c\": \"\\\\u001b\"}"
        );
        let v: serde_json::Value = serde_json::from_str(out.trim_start_matches("Here:\n")).unwrap();
        assert_eq!(v["b"][0], "é\n");
        assert_eq!(v["c"], "\\u001b");
        // Unbalanced quotes in prose are text like any other.
        assert_eq!(clean_model_text("say \"hi\x1b[1m"), "say \"hi");
        assert!(matches!(
            clean_model_text("{\"a\": \"\\u0041\"}"),
            Cow::Borrowed(_)
        ));
    }

    #[test]
    fn json_keeps_values_and_escapes_what_clean_removes() {
        let value = serde_json::json!({
            "t": "\x1b[31mred\u{9b}1m \u{202e}rlo \u{7f} \u{e0041} é 🎉",
            "\u{85}key": ["\u{2066}"],
        });
        let mut out = Vec::new();
        write_json_pretty(&mut out, &value).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(!text.chars().any(|c| is_removed(c) && c != '\n'), "{text}");
        assert!(
            text.contains("\\u001b[31mred\\u009b1m \\u202erlo \\u007f \\udb40\\udc41 é 🎉"),
            "{text}"
        );
        let back: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(back, value);
    }
}
