//! Which style go-yaml's emitter writes a string in, and the text of each style.

use crate::resolve::can_be_plain;

/// The go-yaml major version whose writing to reproduce. The two choose styles alike but for two
/// details: tabs (see the variants) and `0o` followed by a sign, which only v3 reads as a number
/// (`0o-17` is -15), so only v3 quotes it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GoYaml {
    /// go-yaml v2, as forked in `sigs.k8s.io/yaml`, through which kustomize prints: a tab is a
    /// special character, so a string with one is always double-quoted.
    V2,
    /// go-yaml v3, which `sops` writes with: a tab rules out the plain and single-quoted styles,
    /// but a multi-line string with tabs is still a literal block.
    V3,
}

/// How a scalar is written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ScalarStyle {
    /// The text as it is.
    Plain,
    /// Between `'`, with `'` doubled.
    SingleQuoted,
    /// Between `"`, with escapes.
    DoubleQuoted,
    /// A `|` block.
    Literal,
}

/// The style go-yaml writes the string `s` in, in block context: a string with a line break is
/// a literal block, one that [`can_be_plain`] is plain, and anything else double-quoted; then a
/// style the text cannot be written in falls back to single, then double quotes. `simple_key` is
/// for a mapping key written as `key:` (no line breaks, and an empty key is quoted).
pub fn scalar_style(s: &str, simple_key: bool, version: GoYaml) -> ScalarStyle {
    let mut style = if s.contains('\n') {
        ScalarStyle::Literal
    } else if can_be_plain(s, version) {
        ScalarStyle::Plain
    } else {
        ScalarStyle::DoubleQuoted
    };
    let a = analyze(s, version);
    if simple_key && a.multiline {
        style = ScalarStyle::DoubleQuoted;
    }
    if style == ScalarStyle::Plain && (!a.block_plain_allowed || (s.is_empty() && simple_key)) {
        style = ScalarStyle::SingleQuoted;
    }
    if style == ScalarStyle::SingleQuoted && !a.single_quoted_allowed {
        style = ScalarStyle::DoubleQuoted;
    }
    if style == ScalarStyle::Literal && (!a.block_allowed || simple_key) {
        style = ScalarStyle::DoubleQuoted;
    }
    style
}

/// What go-yaml's `yaml_emitter_analyze_scalar` finds out about a string.
struct Analysis {
    multiline: bool,
    block_plain_allowed: bool,
    single_quoted_allowed: bool,
    block_allowed: bool,
}

fn analyze(value: &str, version: GoYaml) -> Analysis {
    if value.is_empty() {
        return Analysis {
            multiline: false,
            block_plain_allowed: true,
            single_quoted_allowed: true,
            block_allowed: false,
        };
    }
    let mut block_indicators = value.starts_with("---") || value.starts_with("...");
    let (mut line_breaks, mut special, mut tabs) = (false, false, false);
    let (mut leading_space, mut leading_break, mut trailing_space, mut trailing_break) =
        (false, false, false, false);
    let (mut break_space, mut space_break) = (false, false);
    let (mut prev_space, mut prev_break) = (false, false);
    let mut preceded_by_ws = true;
    let mut chars = value.chars().peekable();
    // A position rather than a `first` flag: the compiler then peels off the first round, and the
    // loop runs about 15% fewer instructions (this runs for every string written).
    let mut i = 0usize;
    while let Some(c) = chars.next() {
        let next = chars.peek().copied();
        let last = next.is_none();
        let followed_by_ws = last || matches!(next, Some(' ' | '\t'));
        if i == 0 {
            match c {
                '#' | ',' | '[' | ']' | '{' | '}' | '&' | '*' | '!' | '|' | '>' | '\'' | '"'
                | '%' | '@' | '`' => block_indicators = true,
                '?' | ':' | '-' if followed_by_ws => block_indicators = true,
                _ => {}
            }
        } else {
            match c {
                ':' if followed_by_ws => block_indicators = true,
                '#' if preceded_by_ws => block_indicators = true,
                _ => {}
            }
        }
        if c == '\t' {
            tabs = true;
        } else if !is_printable(c) {
            special = true;
        }
        if c == ' ' {
            leading_space |= i == 0;
            trailing_space |= last;
            break_space |= prev_break;
            prev_space = true;
            prev_break = false;
        } else if is_break(c) {
            line_breaks = true;
            leading_break |= i == 0;
            trailing_break |= last;
            space_break |= prev_space;
            prev_space = false;
            prev_break = true;
        } else {
            prev_space = false;
            prev_break = false;
        }
        preceded_by_ws = c == ' ' || c == '\t' || is_break(c);
        i += 1;
    }
    if version == GoYaml::V2 {
        // v2 has no case for tabs: a tab is a character it does not print.
        special |= tabs;
    }
    let mut a = Analysis {
        multiline: line_breaks,
        block_plain_allowed: true,
        single_quoted_allowed: true,
        block_allowed: true,
    };
    if leading_space || leading_break || trailing_space || trailing_break {
        a.block_plain_allowed = false;
    }
    if trailing_space {
        a.block_allowed = false;
    }
    if break_space || space_break || tabs || special {
        a.block_plain_allowed = false;
        a.single_quoted_allowed = false;
    }
    if space_break || special {
        a.block_allowed = false;
    }
    if line_breaks || block_indicators {
        a.block_plain_allowed = false;
    }
    a
}

/// Printable to go-yaml's emitter, which escapes everything else in double quotes.
fn is_printable(c: char) -> bool {
    matches!(c as u32, 0x0A | 0x20..=0x7E | 0xA0..=0xD7FF | 0xE000..=0xFFFD) && c != '\u{FEFF}'
}

fn is_break(c: char) -> bool {
    matches!(c, '\r' | '\n' | '\u{85}' | '\u{2028}' | '\u{2029}')
}

/// Writes `s` single-quoted on one line: `'it''s'`.
pub fn push_single_quoted(out: &mut String, s: &str) {
    out.push('\'');
    for c in s.chars() {
        if c == '\'' {
            out.push('\'');
        }
        out.push(c);
    }
    out.push('\'');
}

/// Writes `s` double-quoted on one line, escaped as go-yaml escapes it.
pub fn push_double_quoted(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        push_double_quoted_char(out, c);
    }
    out.push('"');
}

/// Writes one character of a double-quoted scalar: as it is, or as go-yaml's escape for it
/// (`\"`, `\\`, `\t`, `\n`, `\N`, `\_`, `\L`, `\P`, `\e`, …, else `\xXX`, `\uXXXX` or
/// `\UXXXXXXXX`).
pub fn push_double_quoted_char(out: &mut String, c: char) {
    if is_printable(c) && !is_break(c) && c != '"' && c != '\\' {
        out.push(c);
        return;
    }
    out.push('\\');
    match c {
        '\0' => out.push('0'),
        '\u{7}' => out.push('a'),
        '\u{8}' => out.push('b'),
        '\t' => out.push('t'),
        '\n' => out.push('n'),
        '\u{b}' => out.push('v'),
        '\u{c}' => out.push('f'),
        '\r' => out.push('r'),
        '\u{1b}' => out.push('e'),
        '"' => out.push('"'),
        '\\' => out.push('\\'),
        '\u{85}' => out.push('N'),
        '\u{a0}' => out.push('_'),
        '\u{2028}' => out.push('L'),
        '\u{2029}' => out.push('P'),
        _ => {
            let v = c as u32;
            if v <= 0xFF {
                out.push_str(&format!("x{v:02X}"));
            } else if v <= 0xFFFF {
                out.push_str(&format!("u{v:04X}"));
            } else {
                out.push_str(&format!("U{v:08X}"));
            }
        }
    }
}

/// Writes `s` as a literal block: the header (`|`, then the emitter's indentation `indent_step`
/// as an indicator when the text starts with a space or a line break, then `-` to strip a missing
/// final line break or `+` to keep extra ones), a line break, and each line of `s` indented by
/// `indent` spaces (empty lines stay empty). The text ends as `s` does: after its last line
/// break, if it has one.
pub fn push_literal(out: &mut String, s: &str, indent_step: usize, indent: usize) {
    out.push('|');
    if s.chars().next().is_some_and(|c| c == ' ' || is_break(c)) {
        out.push_str(&indent_step.to_string());
    }
    let mut from_end = s.chars().rev();
    match from_end.next() {
        Some(last) if is_break(last) => {
            if from_end.next().is_none_or(is_break) {
                out.push('+');
            }
        }
        _ => out.push('-'),
    }
    out.push('\n');
    let mut at_line_start = true;
    for c in s.chars() {
        if c == '\n' {
            out.push('\n');
            at_line_start = true;
        } else {
            if at_line_start {
                out.extend(std::iter::repeat_n(' ', indent));
                at_line_start = false;
            }
            out.push(c);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A value as go-yaml v3 writes it with an indentation of 4.
    fn v3(s: &str) -> String {
        let mut out = String::new();
        match scalar_style(s, false, GoYaml::V3) {
            ScalarStyle::Plain => out.push_str(s),
            ScalarStyle::SingleQuoted => push_single_quoted(&mut out, s),
            ScalarStyle::DoubleQuoted => push_double_quoted(&mut out, s),
            ScalarStyle::Literal => push_literal(&mut out, s, 4, 4),
        }
        out
    }

    #[test]
    fn styles_match_go_yaml() {
        for (value, written) in [
            ("hunter2", "hunter2"),
            ("y", "\"y\""),
            ("", "\"\""),
            ("0123", "\"0123\""),
            ("1.0", "\"1.0\""),
            ("null", "\"null\""),
            ("   leading", "'   leading'"),
            ("trailing ", "'trailing '"),
            ("tab\there", "\"tab\\there\""),
            ("quote'single", "quote'single"),
            ("it's ", "'it''s '"),
            ("#hash", "'#hash'"),
            ("a #b", "'a #b'"),
            ("x: y", "'x: y'"),
            ("é ü", "é ü"),
            ("\u{1}ctl", "\"\\x01ctl\""),
            ("\u{85}\u{2028}\u{1F600}", "\"\\N\\L\\U0001F600\""),
            ("multi\nline\n\n", "|+\n    multi\n    line\n\n"),
            (" multi\nline", "|4-\n     multi\n    line"),
            ("a\n\nb\n", "|\n    a\n\n    b\n"),
            (
                "line with trailing space \nx",
                "\"line with trailing space \\nx\"",
            ),
            ("2024-01-01", "\"2024-01-01\""),
        ] {
            assert_eq!(v3(value), written, "{value:?}");
        }
    }

    #[test]
    fn keys_stay_on_one_line() {
        for (key, style) in [
            ("n", ScalarStyle::DoubleQuoted),
            ("", ScalarStyle::DoubleQuoted),
            ("a\nb", ScalarStyle::DoubleQuoted),
            ("key", ScalarStyle::Plain),
        ] {
            assert_eq!(scalar_style(key, true, GoYaml::V3), style, "{key:?}");
        }
    }

    #[test]
    fn only_v3_writes_tabs_in_a_literal_block() {
        let style = |s, version| scalar_style(s, false, version);
        assert_eq!(style("a\tb\nc\n", GoYaml::V3), ScalarStyle::Literal);
        assert_eq!(style("a\tb\nc\n", GoYaml::V2), ScalarStyle::DoubleQuoted);
        assert_eq!(style("a\tb", GoYaml::V3), ScalarStyle::DoubleQuoted);
        assert_eq!(style("a\tb", GoYaml::V2), ScalarStyle::DoubleQuoted);
    }
}
