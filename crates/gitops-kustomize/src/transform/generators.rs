//! `configMapGenerator` and `secretGenerator`, and the content hash of their names.

use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use crate::error::{Error, invalid};
use crate::kustomization::{GenOptions, Generator};
use crate::loader::{Layer, Loader, go_join};
use crate::resource::{Behavior, Resource};
use crate::transform::Annotate;

fn origin(a: Annotate, layer: &Layer, kind: &str) -> Option<String> {
    a.origins.then(|| {
        format!(
            "configuredIn: {}\nconfiguredBy:\n  apiVersion: builtin\n  kind: {kind}\n",
            go_join(&layer.origin_dir, &layer.file_name)
        )
    })
}

pub(crate) fn run(
    l: &Loader<'_>,
    a: Annotate,
    layer: &Layer,
    ra: &mut Vec<Resource>,
) -> Result<(), Error> {
    let k = &layer.k;
    for (i, g) in k.config_maps.iter().enumerate() {
        let field = format!("configMapGenerator[{i}]");
        let (mut r, behavior) = make(l, layer, g, false, &field)?;
        r.origin = origin(a, layer, "ConfigMapGenerator");
        absorb(layer, ra, r, behavior, &field)?;
    }
    for (i, g) in k.secrets.iter().enumerate() {
        let field = format!("secretGenerator[{i}]");
        let (mut r, behavior) = make(l, layer, g, true, &field)?;
        r.origin = origin(a, layer, "SecretGenerator");
        absorb(layer, ra, r, behavior, &field)?;
    }
    Ok(())
}

/// Generator options: the kustomization's `generatorOptions`, overridden by the generator's own.
fn merged_options(local: &Option<GenOptions>, global: &Option<GenOptions>) -> GenOptions {
    let mut o = global.clone().unwrap_or_default();
    if let Some(l) = local {
        for (k, v) in &l.labels {
            o.labels.insert(k.clone(), v.clone());
        }
        for (k, v) in &l.annotations {
            o.annotations.insert(k.clone(), v.clone());
        }
        if l.disable_hash == Some(true) {
            o.disable_hash = Some(true);
        }
        if l.immutable == Some(true) {
            o.immutable = Some(true);
        }
    }
    o
}

fn is_env_var_name(k: &str) -> bool {
    let mut bytes = k.bytes();
    match bytes.next() {
        Some(c) if c.is_ascii_alphabetic() || matches!(c, b'-' | b'_' | b'.') => {}
        _ => return false,
    }
    bytes.all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.'))
}

/// Why `key` is not a valid name, without quoting it.
fn why_not_env_var_name(key: &str) -> String {
    if key.is_empty() {
        return "it is empty".into();
    }
    match key.chars().enumerate().find(|(i, c)| {
        !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
            || (*i == 0 && c.is_ascii_digit())
    }) {
        Some((0, _)) => "its first character must be a letter, '-', '_' or '.'".into(),
        Some((i, _)) => format!(
            "character {} is not a letter, digit, '-', '_' or '.'",
            i + 1
        ),
        None => "it is not accepted as a name".into(),
    }
}

fn remove_quotes(s: &str) -> &str {
    let b = s.as_bytes();
    if b.len() >= 2 && b[0] == b[b.len() - 1] && (b[0] == b'"' || b[0] == b'\'') {
        &s[1..s.len() - 1]
    } else {
        s
    }
}

fn make(
    l: &Loader<'_>,
    layer: &Layer,
    g: &Generator,
    secret: bool,
    field: &str,
) -> Result<(Resource, Behavior), Error> {
    let file = layer.file.as_str();
    if g.name.is_empty() {
        return Err(invalid(file, format!("{field}: a name is required")));
    }
    // kustomize reads any other value (`add`, `Merge`, a typo) as "unspecified", which
    // creates: an existing id then fails with "behavior must be merge or replace".
    let behavior = match g.behavior.as_str() {
        "merge" => Behavior::Merge,
        "replace" => Behavior::Replace,
        _ => Behavior::Create,
    };
    // Key/value pairs in source order: (key, bytes, where).
    let mut pairs: Vec<(String, Vec<u8>)> = Vec::new();
    for env in &g.envs {
        let path = l.resolve(layer, env, true)?;
        let bytes = l.read_generator_input(&path)?;
        // Whether the decryptor changed the file: its lines may then be secret values.
        let decrypted = l.fs.read(&path).map_or(true, |raw| raw != bytes);
        let text = String::from_utf8(bytes)
            .map_err(|_| invalid(l.show(&path), format!("{field}.envs: not valid UTF-8")))?;
        for (n, line) in text.split('\n').enumerate() {
            let mut line = line.strip_suffix('\r').unwrap_or(line);
            if n == 0 {
                line = line.strip_prefix('\u{feff}').unwrap_or(line);
            }
            let line = line.trim_start();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            // A line without `=` is a name whose value kustomize would take from the
            // environment; kubectl kustomize v5.5 gives it the empty value whatever the
            // environment holds, and a library must not read its host's environment anyway.
            // In a decrypted file such a line is as likely a stray secret value, which would
            // become a key name (never redacted): refused there, named by line, not quoted.
            let (key, value) = match line.split_once('=') {
                Some(pair) => pair,
                None if decrypted => {
                    return Err(invalid(
                        l.show(&path),
                        format!(
                            "{field}.envs: line {} of a decrypted file has no '=' (refused: it may be a secret value, and would become a key name)",
                            n + 1
                        ),
                    ));
                }
                None => (line, ""),
            };
            if !is_env_var_name(key) {
                return Err(invalid(
                    l.show(&path),
                    // Named by position, not quoted: in a malformed line the text before
                    // `=` may be part of a (decrypted) value.
                    format!(
                        "{field}.envs: line {}: the text before '=' is not a valid environment variable name ({})",
                        n + 1,
                        why_not_env_var_name(key)
                    ),
                ));
            }
            pairs.push((key.to_owned(), value.as_bytes().to_vec()));
        }
    }
    for lit in &g.literals {
        let Some((key, value)) = lit.split_once('=').filter(|(k, _)| !k.is_empty()) else {
            return Err(invalid(
                file,
                format!("{field}.literals: invalid literal source {lit:?}, expected key=value"),
            ));
        };
        pairs.push((key.to_owned(), remove_quotes(value).as_bytes().to_vec()));
    }
    for f in &g.files {
        let (key, path) = match f.split_once('=') {
            Some(("", _)) => {
                return Err(invalid(
                    file,
                    format!("{field}.files: invalid file source {f:?}"),
                ));
            }
            Some((k, p)) => (k.to_owned(), p),
            None => {
                let base = std::path::Path::new(f)
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default();
                (base, f.as_str())
            }
        };
        let resolved = l.resolve(layer, path, true)?;
        if l.fs.is_dir(&resolved) {
            return Err(invalid(
                file,
                format!("{field}.files: {path} is a directory"),
            ));
        }
        let bytes = l.read_generator_input(&resolved)?;
        pairs.push((key, bytes));
    }
    let mut data = Map::new();
    let mut binary = Map::new();
    for (key, bytes) in pairs {
        if data.contains_key(&key) || binary.contains_key(&key) {
            return Err(invalid(
                file,
                format!(
                    "{field}: {} {} illegally repeats the key `{key}`",
                    if secret { "secret" } else { "configmap" },
                    g.name
                ),
            ));
        }
        if secret {
            data.insert(key, Value::String(base64_lines(&bytes)));
        } else {
            match String::from_utf8(bytes) {
                Ok(s) => {
                    data.insert(key, Value::String(s));
                }
                Err(e) => {
                    binary.insert(key, Value::String(base64_lines(e.as_bytes())));
                }
            }
        }
    }
    let opts = merged_options(&g.options, &layer.k.generator_options);
    let mut metadata = Map::new();
    metadata.insert("name".into(), Value::String(g.name.clone()));
    if !g.namespace.is_empty() {
        metadata.insert("namespace".into(), Value::String(g.namespace.clone()));
    }
    if !opts.labels.is_empty() {
        metadata.insert("labels".into(), Value::Object(opts.labels.clone()));
    }
    if !opts.annotations.is_empty() {
        metadata.insert(
            "annotations".into(),
            Value::Object(opts.annotations.clone()),
        );
    }
    let mut obj = Map::new();
    obj.insert("apiVersion".into(), Value::String("v1".into()));
    obj.insert(
        "kind".into(),
        Value::String(if secret { "Secret" } else { "ConfigMap" }.into()),
    );
    obj.insert("metadata".into(), Value::Object(metadata));
    // kustomize always writes a Secret's `data`, even empty (and hashes it that way); an
    // empty ConfigMap has none.
    if !data.is_empty() || secret {
        obj.insert("data".into(), Value::Object(data));
    }
    if !binary.is_empty() {
        obj.insert("binaryData".into(), Value::Object(binary));
    }
    if secret {
        let t = g
            .secret_type
            .clone()
            .filter(|t| !t.is_empty())
            .unwrap_or_else(|| "Opaque".into());
        obj.insert("type".into(), Value::String(t));
    }
    if opts.immutable == Some(true) {
        obj.insert("immutable".into(), Value::Bool(true));
    }
    let mut r = Resource::new(Value::Object(obj));
    r.needs_hash = opts.disable_hash != Some(true);
    r.bookkeeping = true;
    Ok((r, behavior))
}

pub(crate) fn absorb(
    layer: &Layer,
    ra: &mut Vec<Resource>,
    mut r: Resource,
    behavior: Behavior,
    field: &str,
) -> Result<(), Error> {
    let id = r.cur_id();
    let matches: Vec<usize> = ra
        .iter()
        .enumerate()
        .filter(|(_, o)| {
            o.gvk() == id.gvk
                && (o.cur_id().same(&id)
                    || o.prev_ids().iter().any(|p| {
                        p.name == id.name && p.effective_namespace() == id.effective_namespace()
                    }))
        })
        .map(|(i, _)| i)
        .collect();
    match (matches.len(), behavior) {
        (0, Behavior::Create) => {
            ra.push(r);
            Ok(())
        }
        (0, _) => Err(invalid(
            layer.file.clone(),
            format!(
                "{field}: id {} does not exist; cannot merge or replace",
                id.display()
            ),
        )),
        (1, Behavior::Create) => Err(invalid(
            layer.file.clone(),
            format!(
                "{field}: id {} exists; behavior must be merge or replace",
                id.display()
            ),
        )),
        (1, _) => {
            let old = ra[matches[0]].clone();
            let merge_map = |key: &str, r: &mut Resource| {
                let old_map = old
                    .map()
                    .get("metadata")
                    .and_then(|m| m.get(key))
                    .and_then(Value::as_object)
                    .cloned();
                if let Some(mut merged) = old_map {
                    if let Some(new) = r
                        .map()
                        .get("metadata")
                        .and_then(|m| m.get(key))
                        .and_then(Value::as_object)
                    {
                        for (k, v) in new {
                            merged.insert(k.clone(), v.clone());
                        }
                    }
                    r.metadata_mut().insert(key.into(), Value::Object(merged));
                }
            };
            merge_map("labels", &mut r);
            merge_map("annotations", &mut r);
            let old_name = old.name().to_owned();
            let old_ns = old.namespace().to_owned();
            r.set_name(&old_name);
            if old_ns.is_empty() {
                r.metadata_mut().remove("namespace");
            } else {
                r.set_namespace(&old_ns);
            }
            if behavior == Behavior::Merge {
                for key in ["data", "binaryData"] {
                    if let Some(Value::Object(old_data)) = old.map().get(key) {
                        let obj = r
                            .value
                            .as_object_mut()
                            .expect("generated resources are mappings");
                        let entry = obj.entry(key).or_insert_with(|| Value::Object(Map::new()));
                        if let Value::Object(new_data) = entry {
                            let mut merged = old_data.clone();
                            for (k, v) in new_data.iter() {
                                merged.insert(k.clone(), v.clone());
                            }
                            *new_data = merged;
                        }
                    }
                }
            }
            r.prev = old.prev.clone();
            r.prefixes = old.prefixes.clone();
            r.suffixes = old.suffixes.clone();
            // A replaced object comes from the replacing generator; a merged one keeps its
            // origin, as in kustomize.
            if behavior == Behavior::Merge {
                r.origin = old.origin.clone();
            }
            r.ref_vars = old.ref_vars.clone();
            r.needs_hash = r.needs_hash && old.needs_hash;
            r.bookkeeping = old.bookkeeping;
            ra[matches[0]] = r;
            Ok(())
        }
        _ => Err(invalid(
            layer.file.clone(),
            format!("{field}: found multiple objects matching {}", id.display()),
        )),
    }
}

/// Base64 as kustomize stores generated data: lines of 70 characters, each ending in a newline,
/// once the text is 70 characters or longer.
fn base64_lines(bytes: &[u8]) -> String {
    let enc = base64(bytes);
    if enc.len() < 70 {
        return enc;
    }
    let mut out = String::with_capacity(enc.len() + enc.len() / 70 + 1);
    for chunk in enc.as_bytes().chunks(70) {
        out.push_str(std::str::from_utf8(chunk).unwrap_or_default());
        out.push('\n');
    }
    out
}

/// Standard base64 with padding.
pub(crate) fn base64(bytes: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        out.push(T[(n >> 18) as usize & 63] as char);
        out.push(T[(n >> 12) as usize & 63] as char);
        out.push(if chunk.len() > 1 {
            T[(n >> 6) as usize & 63] as char
        } else {
            '='
        });
        out.push(if chunk.len() > 2 {
            T[n as usize & 63] as char
        } else {
            '='
        });
    }
    out
}

/// A JSON string as Go's encoder writes it (HTML characters escaped).
fn go_json_string(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '<' | '>' | '&' | '\u{2028}' | '\u{2029}' => {
                out.push_str(&format!("\\u{:04x}", c as u32))
            }
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

fn go_json(v: &Value, out: &mut String) {
    match v {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => out.push_str(&n.to_string()),
        Value::String(s) => go_json_string(s, out),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                go_json(item, out);
            }
            out.push(']');
        }
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            out.push('{');
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                go_json_string(k, out);
                out.push(':');
                go_json(&m[k.as_str()], out);
            }
            out.push('}');
        }
    }
}

/// kustomize's name hash of a ConfigMap or Secret (or any resource).
pub(crate) fn hash(r: &Resource) -> String {
    let map = r.map();
    let mut m = Map::new();
    let field = |k: &str| match map.get(k) {
        Some(v @ Value::Object(_)) => v.clone(),
        Some(Value::String(s)) => Value::String(s.clone()),
        Some(Value::Null) | None => Value::String(String::new()),
        Some(other) => other.clone(),
    };
    let kind = r.kind();
    let mut encoded = String::new();
    match kind {
        "ConfigMap" | "Secret" => {
            m.insert("kind".into(), Value::String(kind.into()));
            // kustomize looks the name up under a key literally named "metadata/name", which
            // never exists: the name is always empty in the hashed text.
            m.insert("name".into(), Value::String(String::new()));
            m.insert("data".into(), field("data"));
            let extra = if kind == "ConfigMap" {
                "binaryData"
            } else {
                "stringData"
            };
            if let Some(v @ Value::Object(_)) = map.get(extra) {
                m.insert(extra.into(), v.clone());
            }
            if kind == "Secret" {
                m.insert("type".into(), field("type"));
            }
            go_json(&Value::Object(m), &mut encoded);
        }
        _ => go_json(&r.value, &mut encoded),
    }
    let digest = Sha256::digest(encoded.as_bytes());
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    hex[..10]
        .chars()
        .map(|c| match c {
            '0' => 'g',
            '1' => 'h',
            '3' => 'k',
            'a' => 'm',
            'e' => 't',
            c => c,
        })
        .collect()
}
