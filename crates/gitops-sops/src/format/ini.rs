//! INI files: sections of `key = value` lines with `;`/`#` comments (the `sops` INI store).

use crate::tree::{Entry, Key, Value};

fn strip_comment(c: &str) -> String {
    c.trim_start_matches([';', '#', ' ']).to_string()
}

/// Parses INI text into sections; comments before a key are attached after it as `sops` does
/// for go-ini's key comments, a section's comment comes first.
pub(crate) fn parse(text: &str) -> Result<Vec<Entry>, usize> {
    let mut sections: Vec<Entry> = Vec::new();
    let mut current: Vec<Entry> = Vec::new();
    let mut name = String::from("DEFAULT");
    let mut pending: Vec<String> = Vec::new();
    let flush = |name: &str, current: &mut Vec<Entry>, sections: &mut Vec<Entry>| {
        if name != "DEFAULT" || !current.is_empty() {
            sections.push(Entry::new(name, Value::Map(std::mem::take(current))));
        }
    };
    for (n, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() {
            continue;
        }
        if line.starts_with(';') || line.starts_with('#') {
            pending.push(strip_comment(line));
            continue;
        }
        if let Some(sec) = line.strip_prefix('[') {
            let sec = sec.strip_suffix(']').ok_or(n + 1)?;
            flush(&name, &mut current, &mut sections);
            name = sec.trim().to_string();
            if !pending.is_empty() {
                current.push(Entry::comment(pending.join("\n"), false));
                pending.clear();
            }
            continue;
        }
        let (k, v) = line.split_once(['=', ':']).ok_or(n + 1)?;
        let mut v = v.trim();
        if v.len() >= 2
            && (v.starts_with('"') && v.ends_with('"') || v.starts_with('`') && v.ends_with('`'))
        {
            v = &v[1..v.len() - 1];
        }
        current.push(Entry::new(k.trim(), Value::Str(v.to_string())));
        if !pending.is_empty() {
            current.push(Entry::comment(pending.join("\n"), false));
            pending.clear();
        }
    }
    flush(&name, &mut current, &mut sections);
    Ok(sections)
}

/// Emits sections as go-ini writes them (`key = value`, a blank line after each section).
pub(crate) fn emit(sections: &[Entry], capacity: usize) -> Result<String, String> {
    let mut out = String::with_capacity(capacity);
    for s in sections {
        let Key::Str(name) = &s.key else { continue };
        let Value::Map(entries) = &s.value else {
            return Err(format!("section {name} is not a mapping"));
        };
        let mut items: Vec<(String, zeroize::Zeroizing<String>, Option<String>)> = Vec::new();
        let mut section_comment = None;
        for (i, e) in entries.iter().enumerate() {
            match &e.key {
                Key::Comment(c) if i == 0 => section_comment = Some(c.text.clone()),
                Key::Comment(c) => {
                    if let Some(last) = items.last_mut() {
                        last.2 = Some(c.text.clone());
                    }
                }
                Key::Str(k) => {
                    let v = super::dotenv::scalar_text(&e.value)
                        .ok_or_else(|| format!("complex value under {name}.{k}"))?;
                    items.push((k.clone(), zeroize::Zeroizing::new(v), None));
                }
            }
        }
        if let Some(c) = section_comment {
            for line in c.lines() {
                out.push_str("; ");
                out.push_str(line);
                out.push('\n');
            }
        }
        out.push('[');
        out.push_str(name);
        out.push_str("]\n");
        let width = items
            .iter()
            .map(|(k, _, _)| k.chars().count())
            .max()
            .unwrap_or(0);
        for (k, v, comment) in &items {
            if let Some(c) = comment {
                for line in c.lines() {
                    out.push_str("; ");
                    out.push_str(line);
                    out.push('\n');
                }
            }
            out.push_str(k);
            for _ in k.chars().count()..width {
                out.push(' ');
            }
            out.push_str(" = ");
            if v.contains(['\n', '#', ';']) || v.starts_with(' ') || v.ends_with(' ') {
                if v.contains('\n') {
                    out.push_str("\"\"\"");
                    out.push_str(v);
                    out.push_str("\"\"\"");
                } else {
                    out.push('`');
                    out.push_str(v);
                    out.push('`');
                }
            } else {
                out.push_str(v);
            }
            out.push('\n');
        }
        out.push('\n');
    }
    // go-ini separates sections with a blank line but does not end with one.
    if out.ends_with("\n\n") {
        out.pop();
    }
    Ok(out)
}
