//! Sprig's `snakecase`, `kebabcase` and `camelcase` (huandu/xstrings v1.5's word splitting:
//! `HTTPServer` is `HTTP` + `Server`, a number joins the word before it unless lowercase
//! letters follow it, runs of `-`, `_` and spaces are connectors).

use crate::{Function, Functions, Ty, Value};

#[derive(Clone, Copy, PartialEq, Eq)]
enum Word {
    Invalid,
    Number,
    Upper,
    Alpha,
    Connector,
    Punct,
    Other,
}

fn is_connector(c: char) -> bool {
    c == '-' || c == '_' || c.is_whitespace()
}

/// Go's `unicode.IsPunct` for ASCII (category P; `$+<=>^`|~` are symbols).
fn is_punct(c: char) -> bool {
    c.is_ascii_punctuation() && !"$+<=>^`|~".contains(c)
}

fn take_while(s: &str, mut end: usize, pred: impl Fn(char) -> bool) -> usize {
    while let Some(c) = s[end..].chars().next() {
        if !pred(c) {
            break;
        }
        end += c.len_utf8();
    }
    end
}

fn next_word(s: &str) -> (Word, &str, &str) {
    let Some(r) = s.chars().next() else {
        return (Word::Invalid, "", "");
    };
    let mut end = r.len_utf8();
    let wt = if is_connector(r) {
        end = take_while(s, end, is_connector);
        Word::Connector
    } else if is_punct(r) {
        end = take_while(s, end, is_punct);
        Word::Punct
    } else if r.is_uppercase() {
        match s[end..].chars().next() {
            Some(c) if c.is_uppercase() => {
                let mut prev = c.len_utf8();
                end += prev;
                let stop = loop {
                    match s[end..].chars().next() {
                        Some(c2) if c2.is_uppercase() => {
                            prev = c2.len_utf8();
                            end += prev;
                        }
                        other => break other,
                    }
                };
                // "HTTPStatus" is "HTTP" + "Status".
                if stop.is_some_and(char::is_alphabetic) {
                    end -= prev;
                }
            }
            Some(c) if c.is_alphabetic() => {
                end = take_while(s, end, |c| c.is_alphabetic() && !c.is_uppercase());
            }
            _ => {}
        }
        Word::Upper
    } else if r.is_alphabetic() {
        end = take_while(s, end, |c| c.is_alphabetic() && !c.is_uppercase());
        Word::Alpha
    } else if r.is_numeric() {
        end = take_while(s, end, char::is_numeric);
        Word::Number
    } else {
        end = take_while(s, end, |c| {
            !(is_connector(c) || c.is_alphabetic() || c.is_numeric() || is_punct(c))
        });
        Word::Other
    };
    (wt, &s[..end], &s[end..])
}

fn to_lower(out: &mut String, wt: Word, word: &str, connector: char) {
    if wt != Word::Upper && wt != Word::Connector {
        out.push_str(word);
        return;
    }
    for c in word.chars() {
        if is_connector(c) {
            out.push(connector);
        } else if c.is_uppercase() {
            out.extend(c.to_lowercase());
        } else {
            out.push(c);
        }
    }
}

fn lower_case(s: &str, connector: char) -> String {
    let mut out = String::new();
    let (mut wt, mut word, mut rem) = next_word(s);
    while !rem.is_empty() {
        if wt != Word::Connector {
            to_lower(&mut out, wt, word, connector);
        }
        let (prev, last) = (wt, word);
        (wt, word, rem) = next_word(rem);
        match prev {
            Word::Number => {
                while wt == Word::Alpha || wt == Word::Number {
                    to_lower(&mut out, wt, word, connector);
                    (wt, word, rem) = next_word(rem);
                }
                if !matches!(wt, Word::Invalid | Word::Punct | Word::Connector) {
                    out.push(connector);
                }
            }
            Word::Connector => to_lower(&mut out, prev, last, connector),
            Word::Punct => {}
            _ => {
                if wt != Word::Number {
                    if wt != Word::Connector && wt != Word::Punct {
                        out.push(connector);
                    }
                    continue;
                }
                if rem.is_empty() {
                    continue;
                }
                let number = word;
                (wt, word, rem) = next_word(rem);
                if wt == Word::Alpha {
                    // "HTTP2xx" is "HTTP" + "2xx".
                    out.push(connector);
                    to_lower(&mut out, Word::Number, number, connector);
                    while wt == Word::Alpha || wt == Word::Number {
                        to_lower(&mut out, wt, word, connector);
                        (wt, word, rem) = next_word(rem);
                    }
                    if !matches!(wt, Word::Invalid | Word::Connector | Word::Punct) {
                        out.push(connector);
                    }
                } else {
                    // "Bld4Floor" is "Bld4" + "Floor".
                    to_lower(&mut out, Word::Number, number, connector);
                    if !matches!(wt, Word::Invalid | Word::Connector | Word::Punct) {
                        out.push(connector);
                    }
                }
            }
        }
    }
    to_lower(&mut out, wt, word, connector);
    out
}

fn camel_case(s: &str) -> String {
    let mut out = String::new();
    let mut chars = s.chars();
    // Leading connectors stay.
    let first = loop {
        match chars.next() {
            None => return out,
            Some(c) if is_connector(c) => out.push(c),
            Some(c) => break c,
        }
    };
    out.extend(first.to_uppercase());
    // Only a leading run of capitals ("HTTPServer") is lowered after the first rune.
    let mut in_run = first.is_uppercase();
    let mut pending: Option<char> = None;
    for c in chars {
        if in_run && c.is_uppercase() {
            out.extend(c.to_lowercase());
            continue;
        }
        in_run = false;
        if is_connector(c) {
            if let Some(p) = pending {
                out.push(p);
            }
            pending = Some(c);
            continue;
        }
        if pending.take().is_some() {
            out.extend(c.to_uppercase());
        } else {
            out.push(c);
        }
    }
    if let Some(p) = pending {
        out.push(p);
    }
    out
}

pub(super) fn register(f: &mut Functions) {
    f.insert(
        "snakecase",
        Function::new(&[Ty::String], |a| {
            Ok(Value::String(lower_case(
                a[0].as_str().unwrap_or_default(),
                '_',
            )))
        }),
    );
    f.insert(
        "kebabcase",
        Function::new(&[Ty::String], |a| {
            Ok(Value::String(lower_case(
                a[0].as_str().unwrap_or_default(),
                '-',
            )))
        }),
    );
    f.insert(
        "camelcase",
        Function::new(&[Ty::String], |a| {
            Ok(Value::String(camel_case(a[0].as_str().unwrap_or_default())))
        }),
    );
}
