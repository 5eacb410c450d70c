//! The `sops` metadata section: key groups, encryption rules, MAC and timestamps.

use crate::tree::{Entry, Value};

/// Key types `sops` knows; only age is handled here.
pub(crate) const OTHER_KEY_TYPES: &[(&str, &str)] = &[
    ("pgp", "pgp"),
    ("kms", "AWS KMS"),
    ("gcp_kms", "GCP KMS"),
    ("azure_kv", "Azure Key Vault"),
    ("hc_vault", "HashiCorp Vault"),
    ("hckms", "HuaweiCloud KMS"),
];

/// One age stanza: the recipient and the armored, encrypted data key.
#[derive(Clone, Debug)]
pub(crate) struct AgeKey {
    pub recipient: String,
    pub enc: String,
}

/// A key group; a data key part is recovered from any one of its keys.
#[derive(Clone, Debug, Default)]
pub(crate) struct KeyGroup {
    pub age: Vec<AgeKey>,
    /// Keys of other types, as `(type, identifier)` (`pgp`, fingerprint).
    pub others: Vec<(&'static str, String)>,
}

/// Which values are encrypted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Rule {
    UnencryptedSuffix(String),
    EncryptedSuffix(String),
    UnencryptedRegex(String),
    EncryptedRegex(String),
    UnencryptedCommentRegex(String),
    EncryptedCommentRegex(String),
}

impl Rule {
    pub fn key(&self) -> &'static str {
        match self {
            Rule::UnencryptedSuffix(_) => "unencrypted_suffix",
            Rule::EncryptedSuffix(_) => "encrypted_suffix",
            Rule::UnencryptedRegex(_) => "unencrypted_regex",
            Rule::EncryptedRegex(_) => "encrypted_regex",
            Rule::UnencryptedCommentRegex(_) => "unencrypted_comment_regex",
            Rule::EncryptedCommentRegex(_) => "encrypted_comment_regex",
        }
    }

    pub fn value(&self) -> &str {
        match self {
            Rule::UnencryptedSuffix(s)
            | Rule::EncryptedSuffix(s)
            | Rule::UnencryptedRegex(s)
            | Rule::EncryptedRegex(s)
            | Rule::UnencryptedCommentRegex(s)
            | Rule::EncryptedCommentRegex(s) => s,
        }
    }
}

/// The parsed metadata of a file.
#[derive(Clone, Debug)]
pub(crate) struct Metadata {
    pub key_groups: Vec<KeyGroup>,
    pub shamir_threshold: usize,
    pub last_modified: String,
    pub mac: String,
    pub rule: Rule,
    pub mac_only_encrypted: bool,
    pub version: String,
}

/// Why metadata is unusable.
#[derive(Debug, thiserror::Error)]
pub(crate) enum MetadataError {
    #[error("the sops metadata is not a mapping")]
    NotAMap,
    #[error("sops metadata field {0} has the wrong type")]
    Field(&'static str),
    #[error("the sops metadata lists no keys")]
    NoKeys,
    #[error(
        "more than one of encrypted_suffix, unencrypted_suffix, encrypted_regex, unencrypted_regex, encrypted_comment_regex, unencrypted_comment_regex"
    )]
    Rules,
    #[error("sops metadata has no lastmodified timestamp")]
    LastModified,
}

fn string_field(v: &Value, name: &'static str) -> Result<Option<String>, MetadataError> {
    match v.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Str(s)) | Some(Value::Time(s)) => Ok(Some(s.clone())),
        Some(Value::Int(i)) => Ok(Some(i.to_string())),
        Some(Value::Float(f)) => Ok(Some(crate::tree::format_float_f(*f))),
        Some(_) => Err(MetadataError::Field(name)),
    }
}

fn list<'a>(v: &'a Value, name: &'static str) -> Result<Vec<&'a Value>, MetadataError> {
    match v.get(name) {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Seq(items)) => Ok(items
            .iter()
            .filter(|i| !matches!(i, Value::Comment(_)))
            .collect()),
        Some(_) => Err(MetadataError::Field(name)),
    }
}

fn group_from(v: &Value) -> Result<KeyGroup, MetadataError> {
    let mut group = KeyGroup::default();
    for item in list(v, "age")? {
        let recipient = string_field(item, "recipient")?.unwrap_or_default();
        let enc = string_field(item, "enc")?.unwrap_or_default();
        group.age.push(AgeKey { recipient, enc });
    }
    for (field, _) in OTHER_KEY_TYPES {
        for key in list(v, field)? {
            // The public identifier of the key, for error messages.
            let id = ["fp", "arn", "resource_id", "key_id", "key_name", "name"]
                .iter()
                .find_map(|f| string_field(key, f).ok().flatten())
                .unwrap_or_default();
            group.others.push((field, id));
        }
    }
    Ok(group)
}

impl Metadata {
    /// Reads metadata from its tree form (`sops:` mapping, or the unflattened dotenv/INI keys).
    pub fn from_value(v: &Value) -> Result<Self, MetadataError> {
        if !matches!(v, Value::Map(_)) {
            return Err(MetadataError::NotAMap);
        }
        let top = group_from(v)?;
        let key_groups = if !top.age.is_empty() || !top.others.is_empty() {
            vec![top]
        } else {
            list(v, "key_groups")?
                .into_iter()
                .map(group_from)
                .collect::<Result<Vec<_>, _>>()?
        };
        if key_groups.is_empty() {
            return Err(MetadataError::NoKeys);
        }
        let shamir_threshold = match v.get("shamir_threshold") {
            None | Some(Value::Null) => 0,
            Some(Value::Int(i)) => {
                usize::try_from(*i).map_err(|_| MetadataError::Field("shamir_threshold"))?
            }
            Some(Value::Str(s)) => s
                .trim()
                .parse()
                .map_err(|_| MetadataError::Field("shamir_threshold"))?,
            Some(_) => return Err(MetadataError::Field("shamir_threshold")),
        };
        let mac_only_encrypted = match v.get("mac_only_encrypted") {
            None | Some(Value::Null) => false,
            Some(Value::Bool(b)) => *b,
            Some(Value::Str(s)) => matches!(s.as_str(), "1" | "t" | "T" | "true" | "TRUE" | "True"),
            Some(Value::Int(i)) => *i != 0,
            Some(_) => return Err(MetadataError::Field("mac_only_encrypted")),
        };
        let mut rules = Vec::new();
        for (name, make) in [
            (
                "unencrypted_suffix",
                Rule::UnencryptedSuffix as fn(String) -> Rule,
            ),
            ("encrypted_suffix", Rule::EncryptedSuffix),
            ("unencrypted_regex", Rule::UnencryptedRegex),
            ("encrypted_regex", Rule::EncryptedRegex),
            ("unencrypted_comment_regex", Rule::UnencryptedCommentRegex),
            ("encrypted_comment_regex", Rule::EncryptedCommentRegex),
        ] {
            let field: &'static str = name;
            if let Some(s) = string_field(v, field)?.filter(|s| !s.is_empty()) {
                rules.push(make(s));
            }
        }
        if rules.len() > 1 {
            return Err(MetadataError::Rules);
        }
        let rule = rules
            .pop()
            .unwrap_or_else(|| Rule::UnencryptedSuffix("_unencrypted".into()));
        Ok(Self {
            key_groups,
            shamir_threshold,
            last_modified: string_field(v, "lastmodified")?.ok_or(MetadataError::LastModified)?,
            mac: string_field(v, "mac")?.unwrap_or_default(),
            rule,
            mac_only_encrypted,
            version: string_field(v, "version")?.unwrap_or_default(),
        })
    }

    /// The additional data the MAC is bound to: `lastmodified` as Go re-formats it with RFC 3339.
    pub fn mac_additional_data(&self) -> String {
        normalize_rfc3339(&self.last_modified)
    }

    /// The metadata as the tree `sops` writes (keys in its order).
    pub fn to_value(&self) -> Value {
        let age_list = |g: &KeyGroup| {
            Value::Seq(
                g.age
                    .iter()
                    .map(|k| {
                        Value::Map(vec![
                            Entry::new("recipient", Value::Str(k.recipient.clone())),
                            Entry::new("enc", Value::Str(k.enc.clone())),
                        ])
                    })
                    .collect(),
            )
        };
        let mut entries = Vec::new();
        if self.key_groups.len() == 1 {
            entries.push(Entry::new("age", age_list(&self.key_groups[0])));
        } else {
            let groups = self
                .key_groups
                .iter()
                .map(|g| Value::Map(vec![Entry::new("age", age_list(g))]))
                .collect();
            entries.push(Entry::new("key_groups", Value::Seq(groups)));
        }
        entries.push(Entry::new(
            "lastmodified",
            Value::Str(self.last_modified.clone()),
        ));
        entries.push(Entry::new("mac", Value::Str(self.mac.clone())));
        if self.mac_only_encrypted {
            entries.push(Entry::new("mac_only_encrypted", Value::Bool(true)));
        }
        if self.key_groups.len() > 1 {
            entries.push(Entry::new(
                "shamir_threshold",
                Value::Int(self.shamir_threshold as i64),
            ));
        }
        entries.push(Entry::new(
            self.rule.key(),
            Value::Str(self.rule.value().to_string()),
        ));
        entries.push(Entry::new("version", Value::Str(self.version.clone())));
        Value::Map(entries)
    }
}

/// Re-formats an RFC 3339 timestamp as Go's `time.Parse` + `Format(time.RFC3339)` would:
/// fractional seconds dropped, a zero offset written `Z`.
pub(crate) fn normalize_rfc3339(s: &str) -> String {
    let s = s.trim();
    let Some(t) = s.find(['T', 't']) else {
        return s.to_string();
    };
    let (date, rest) = s.split_at(t);
    let rest = &rest[1..];
    let zone_at = rest.find(['Z', 'z', '+', '-']).unwrap_or(rest.len());
    let (time, zone) = rest.split_at(zone_at);
    let time = time.split('.').next().unwrap_or(time);
    let zone = match zone {
        "z" | "Z" | "+00:00" | "-00:00" => "Z",
        other => other,
    };
    format!("{date}T{time}{zone}")
}

/// Flattens metadata for dotenv (`sops_` prefix) and INI (no prefix): `__map_` and `__list_`.
pub(crate) fn flatten(v: &Value, prefix: &str, out: &mut Vec<(String, Value)>) {
    match v {
        Value::Map(entries) => {
            for e in entries {
                if let Some(k) = e.key_str() {
                    let key = format!("{prefix}{k}");
                    flatten_inner(&e.value, &key, out);
                }
            }
        }
        other => out.push((prefix.to_string(), other.clone())),
    }
}

fn flatten_inner(v: &Value, key: &str, out: &mut Vec<(String, Value)>) {
    match v {
        Value::Map(entries) => {
            for e in entries {
                if let Some(k) = e.key_str() {
                    flatten_inner(&e.value, &format!("{key}__map_{k}"), out);
                }
            }
        }
        Value::Seq(items) => {
            for (i, item) in items.iter().enumerate() {
                flatten_inner(item, &format!("{key}__list_{i}"), out);
            }
        }
        other => out.push((key.to_string(), other.clone())),
    }
}

/// Rebuilds a tree from flattened keys (`age__list_0__map_enc`).
///
/// The keys come from the file, so they are bounded: real metadata nests four levels and lists
/// a few keys, while `__list_100000000000` would allocate the whole list up front and a key of
/// 100,000 `__map_` parts would recurse as deep.
pub(crate) fn unflatten(items: Vec<(String, Value)>) -> Result<Value, String> {
    let mut root = Value::Map(Vec::new());
    for (key, value) in items {
        let Some(tokens) = tokenize(&key, MAX_FLAT_DEPTH) else {
            return Err(format!(
                "invalid sops metadata: key {key:?} nests deeper than {MAX_FLAT_DEPTH} levels"
            ));
        };
        if tokens
            .iter()
            .any(|t| matches!(t, Token::List(i) if *i >= MAX_FLAT_INDEX))
        {
            return Err(format!(
                "invalid sops metadata: key {key:?} has a list index of {MAX_FLAT_INDEX} or more"
            ));
        }
        place(&mut root, &tokens, value);
    }
    Ok(root)
}

/// The deepest flattened metadata key accepted (`sops_a__map_b__list_0__map_c` is 4).
const MAX_FLAT_DEPTH: usize = 32;

/// The largest list index accepted in a flattened metadata key, plus one.
const MAX_FLAT_INDEX: usize = 10_000;

enum Token {
    Map(String),
    List(usize),
}

/// The parts of a flattened key, `None` past `max` parts: each step searches the rest of the
/// key, so stopping there keeps a hostile key of 100,000 parts linear, not quadratic.
fn tokenize(path: &str, max: usize) -> Option<Vec<Token>> {
    let mut tokens = Vec::new();
    let mut rest = path;
    let mut kind_list = false;
    loop {
        if tokens.len() == max {
            return None;
        }
        let next_map = rest.find("__map_");
        let next_list = rest.find("__list_");
        let next = match (next_map, next_list) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        let piece = &rest[..next.unwrap_or(rest.len())];
        tokens.push(if kind_list {
            Token::List(piece.parse().unwrap_or(0))
        } else {
            Token::Map(piece.to_string())
        });
        match next {
            None => break,
            Some(i) => {
                if rest[i..].starts_with("__map_") {
                    kind_list = false;
                    rest = &rest[i + 6..];
                } else {
                    kind_list = true;
                    rest = &rest[i + 7..];
                }
            }
        }
    }
    Some(tokens)
}

fn place(node: &mut Value, tokens: &[Token], value: Value) {
    let Some((first, rest)) = tokens.split_first() else {
        *node = value;
        return;
    };
    match first {
        Token::Map(k) => {
            if !matches!(node, Value::Map(_)) {
                *node = Value::Map(Vec::new());
            }
            let Value::Map(entries) = node else {
                unreachable!("just set")
            };
            let idx = match entries.iter().position(|e| e.key_str() == Some(k)) {
                Some(i) => i,
                None => {
                    entries.push(Entry::new(k.clone(), Value::Null));
                    entries.len() - 1
                }
            };
            place(&mut entries[idx].value, rest, value);
        }
        Token::List(i) => {
            if !matches!(node, Value::Seq(_)) {
                *node = Value::Seq(Vec::new());
            }
            let Value::Seq(items) = node else {
                unreachable!("just set")
            };
            while items.len() <= *i {
                items.push(Value::Null);
            }
            place(&mut items[*i], rest, value);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_like_go() {
        assert_eq!(
            normalize_rfc3339("2026-11-26T10:41:58Z"),
            "2026-11-26T10:41:58Z"
        );
        assert_eq!(
            normalize_rfc3339("2026-11-26T10:41:58.123Z"),
            "2026-11-26T10:41:58Z"
        );
        assert_eq!(
            normalize_rfc3339("2026-11-26T10:41:58+00:00"),
            "2026-11-26T10:41:58Z"
        );
        assert_eq!(
            normalize_rfc3339("2026-11-26T10:41:58+02:00"),
            "2026-11-26T10:41:58+02:00"
        );
    }

    #[test]
    fn flatten_round_trip() {
        let v = Value::Map(vec![
            Entry::new(
                "age",
                Value::Seq(vec![Value::Map(vec![
                    Entry::new("recipient", Value::Str("r".into())),
                    Entry::new("enc", Value::Str("e".into())),
                ])]),
            ),
            Entry::new("mac", Value::Str("m".into())),
        ]);
        let mut flat = Vec::new();
        flatten(&v, "", &mut flat);
        let keys: Vec<&str> = flat.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(
            keys,
            ["age__list_0__map_recipient", "age__list_0__map_enc", "mac"]
        );
        let back = unflatten(flat).expect("bounded");
        assert_eq!(back.get("mac").and_then(Value::as_str), Some("m"));
    }
}
