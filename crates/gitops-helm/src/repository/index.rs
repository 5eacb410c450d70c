//! A chart repository's `index.yaml`, read as a stream of YAML events: only the entries of
//! the chart asked for are built, the rest is skipped as it is read, so memory follows that
//! chart's entries and not the file (public indexes run to hundreds of megabytes).

use std::io::BufRead;

use gitops_core::image::policy::{SemverRange, parse_tag};
use saphyr_parser::{Event, Parser};
use serde_json::{Map, Value};

/// One version of a chart, as the index lists it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChartVersion {
    /// The chart's name.
    pub name: String,
    /// Its version (SemVer 2).
    pub version: String,
    /// The version of the application it deploys, when given.
    pub app_version: Option<String>,
    /// Where the archive can be downloaded, relative to the repository URL or absolute.
    pub urls: Vec<String>,
    /// The SHA-256 of the archive, hex, when given.
    pub digest: Option<String>,
    /// When it was packaged (RFC 3339), when given.
    pub created: Option<String>,
    /// Whether the chart is marked deprecated.
    pub deprecated: bool,
}

/// Why an index could not be read or a version chosen.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum IndexError {
    /// The index is not YAML.
    #[error("index.yaml line {line}, column {column}: {message}")]
    Syntax {
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// The parser's message.
        message: String,
    },
    /// Reading the index failed (or it is not UTF-8).
    #[error("reading index.yaml")]
    Read(#[source] std::io::Error),
    /// The index has no `entries` mapping.
    #[error("index.yaml has no entries: not a chart repository index")]
    NotAnIndex,
    /// The chart is not in the index.
    #[error("chart {chart:?} is not in the repository index")]
    ChartNotFound {
        /// The chart asked for.
        chart: String,
    },
    /// A YAML alias in the chart's entries, which a repository index never needs; refused so
    /// that a hostile index cannot expand without bound.
    #[error("index.yaml line {line}: aliases are not allowed in a repository index")]
    Alias {
        /// 1-based line.
        line: usize,
    },
    /// The chart's entries nest deeper than an index ever does.
    #[error("index.yaml line {line}: entries nest deeper than {limit} levels")]
    TooDeep {
        /// 1-based line.
        line: usize,
        /// The limit.
        limit: usize,
    },
    /// An entry lacks its version or is not a mapping.
    #[error("entry {index} of chart {chart:?}: {message}")]
    Entry {
        /// The chart.
        chart: String,
        /// Its position in the list.
        index: usize,
        /// What is wrong.
        message: String,
    },
    /// The version constraint does not parse.
    #[error("version constraint {constraint:?}: {message}")]
    Constraint {
        /// The constraint.
        constraint: String,
        /// Why.
        message: String,
    },
    /// No version satisfies the constraint.
    #[error("no version of chart {chart:?} satisfies {constraint:?} (latest: {latest})")]
    NoMatch {
        /// The chart.
        chart: String,
        /// The constraint.
        constraint: String,
        /// The newest version listed, or `none`.
        latest: String,
    },
}

/// How deep an entry may nest (a chart entry is a mapping of lists of mappings: 4 levels).
const MAX_DEPTH: usize = 32;

/// Reads the entries of `chart` from an index, in the order the index lists them.
///
/// # Errors
/// [`IndexError`]: not YAML, not an index, the chart absent, an alias or deep nesting in its
/// entries, an entry without a version.
pub fn read_chart_versions<R: BufRead>(
    reader: R,
    chart: &str,
) -> Result<Vec<ChartVersion>, IndexError> {
    let mut chars = Utf8Chars::new(reader);
    let found = {
        let mut events = Events {
            parser: Parser::new_from_iter(&mut chars),
        };
        find_entries(&mut events, chart)
    };
    if let Some(error) = chars.error.take() {
        return Err(IndexError::Read(error));
    }
    match found? {
        Some(Value::Array(items)) => items
            .into_iter()
            .enumerate()
            .map(|(index, item)| entry(chart, index, item))
            .collect(),
        Some(Value::Null) => Ok(Vec::new()),
        Some(_) => Err(IndexError::Entry {
            chart: chart.into(),
            index: 0,
            message: "the chart's entries are not a list".into(),
        }),
        None => Err(IndexError::ChartNotFound {
            chart: chart.into(),
        }),
    }
}

/// Reads a whole index as [`read_chart_versions`] does, building no entry: `Ok` when it is
/// YAML with an `entries` mapping.
///
/// # Errors
/// [`IndexError::Syntax`], [`IndexError::Read`] or [`IndexError::NotAnIndex`].
pub fn check_index<R: BufRead>(reader: R) -> Result<(), IndexError> {
    // No chart has an empty name (`helm package` refuses one): the whole index is read.
    match read_chart_versions(reader, "") {
        Ok(_) | Err(IndexError::ChartNotFound { .. } | IndexError::Entry { .. }) => Ok(()),
        Err(error) => Err(error),
    }
}

/// The newest version that satisfies `constraint`, as Helm chooses: Masterminds semantics
/// (`*`, `0.12.*`, `>=4.0.0 <5.0.0`, `~1.2`, `^1.2`, `||`), pre-releases only when the
/// constraint names one; an empty constraint is `*`. Versions that are not SemVer are passed
/// over.
///
/// # Errors
/// [`IndexError::Constraint`] when the constraint does not parse, [`IndexError::NoMatch`]
/// when nothing satisfies it.
pub fn choose<'a>(
    versions: &'a [ChartVersion],
    constraint: &str,
) -> Result<&'a ChartVersion, IndexError> {
    let text = match constraint.trim() {
        "" => "*",
        other => other,
    };
    let range: SemverRange = text.parse().map_err(|e| IndexError::Constraint {
        constraint: text.into(),
        message: format!("{e}"),
    })?;
    let parsed = || {
        versions
            .iter()
            .filter_map(|v| parse_tag(&v.version).map(|parsed| (parsed, v)))
    };
    parsed()
        .filter(|(parsed, _)| range.matches(parsed))
        .max_by(|(a, _), (b, _)| a.cmp(b))
        .map(|(_, v)| v)
        .ok_or_else(|| IndexError::NoMatch {
            chart: versions.first().map(|v| v.name.clone()).unwrap_or_default(),
            constraint: text.into(),
            latest: parsed()
                .max_by(|(a, _), (b, _)| a.cmp(b))
                .map_or_else(|| "none".into(), |(_, v)| v.version.clone()),
        })
}

fn entry(chart: &str, index: usize, item: Value) -> Result<ChartVersion, IndexError> {
    let bad = |message: &str| IndexError::Entry {
        chart: chart.into(),
        index,
        message: message.into(),
    };
    let Value::Object(map) = item else {
        return Err(bad("not a mapping"));
    };
    let text = |key: &str| map.get(key).and_then(Value::as_str).map(str::to_owned);
    let version = text("version").ok_or_else(|| bad("no version"))?;
    let urls = match map.get("urls") {
        Some(Value::Array(urls)) => urls
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect(),
        _ => Vec::new(),
    };
    Ok(ChartVersion {
        name: text("name").unwrap_or_else(|| chart.to_owned()),
        version,
        app_version: text("appVersion"),
        urls,
        digest: text("digest"),
        created: text("created"),
        deprecated: text("deprecated").as_deref() == Some("true"),
    })
}

/// The parser's events, with its errors as [`IndexError`]s.
struct Events<'a, I: Iterator<Item = char>> {
    parser: Parser<'a, saphyr_parser::BufferedInput<I>>,
}

impl<I: Iterator<Item = char>> Events<'_, I> {
    /// The next event and its 1-based line; `StreamEnd` at the end.
    fn next(&mut self) -> Result<(Event<'static>, usize), IndexError> {
        match self.parser.next_event() {
            None => Ok((Event::StreamEnd, 0)),
            Some(Ok((event, span))) => Ok((into_owned(event), span.start.line())),
            Some(Err(error)) => Err(IndexError::Syntax {
                line: error.marker().line(),
                column: error.marker().col() + 1,
                message: error.info().to_owned(),
            }),
        }
    }
}

fn into_owned(event: Event<'_>) -> Event<'static> {
    match event {
        Event::Scalar(text, style, anchor, _) => {
            Event::Scalar(text.into_owned().into(), style, anchor, None)
        }
        Event::SequenceStart(anchor, _) => Event::SequenceStart(anchor, None),
        Event::MappingStart(anchor, _) => Event::MappingStart(anchor, None),
        Event::Nothing => Event::Nothing,
        Event::StreamStart => Event::StreamStart,
        Event::StreamEnd => Event::StreamEnd,
        Event::DocumentStart(explicit) => Event::DocumentStart(explicit),
        Event::DocumentEnd => Event::DocumentEnd,
        Event::Alias(id) => Event::Alias(id),
        Event::SequenceEnd => Event::SequenceEnd,
        Event::MappingEnd => Event::MappingEnd,
    }
}

/// Walks the first document to `entries.<chart>` and builds that node; `None` when the
/// chart is absent.
fn find_entries<I: Iterator<Item = char>>(
    events: &mut Events<'_, I>,
    chart: &str,
) -> Result<Option<Value>, IndexError> {
    // Stream and document start, then the root mapping.
    loop {
        match events.next()?.0 {
            Event::StreamStart | Event::DocumentStart(_) | Event::Nothing => {}
            Event::MappingStart(..) => break,
            _ => return Err(IndexError::NotAnIndex),
        }
    }
    let mut saw_entries = false;
    loop {
        let (event, _) = events.next()?;
        match event {
            Event::MappingEnd | Event::StreamEnd | Event::DocumentEnd => break,
            Event::Scalar(key, ..) if key == "entries" => {
                saw_entries = true;
                match events.next()?.0 {
                    Event::MappingStart(..) => {}
                    Event::Scalar(..) => return Err(IndexError::NotAnIndex),
                    other => {
                        skip_from(events, &other)?;
                        return Err(IndexError::NotAnIndex);
                    }
                }
                loop {
                    let (key, _) = events.next()?;
                    match key {
                        Event::MappingEnd => break,
                        Event::Scalar(name, ..) if name == chart => {
                            let (first, line) = events.next()?;
                            return build(events, first, line, 0).map(Some);
                        }
                        other => {
                            skip_from(events, &other)?;
                            skip_node(events)?;
                        }
                    }
                }
            }
            other => {
                skip_from(events, &other)?;
                skip_node(events)?;
            }
        }
    }
    if saw_entries {
        Ok(None)
    } else {
        Err(IndexError::NotAnIndex)
    }
}

/// Skips the rest of a node whose first event was `first` (a key that was a collection).
fn skip_from<I: Iterator<Item = char>>(
    events: &mut Events<'_, I>,
    first: &Event<'_>,
) -> Result<(), IndexError> {
    if matches!(first, Event::MappingStart(..) | Event::SequenceStart(..)) {
        skip_rest(events, 1)?;
    }
    Ok(())
}

/// Skips one whole node, counting nesting instead of recursing.
fn skip_node<I: Iterator<Item = char>>(events: &mut Events<'_, I>) -> Result<(), IndexError> {
    match events.next()?.0 {
        Event::MappingStart(..) | Event::SequenceStart(..) => skip_rest(events, 1),
        _ => Ok(()),
    }
}

fn skip_rest<I: Iterator<Item = char>>(
    events: &mut Events<'_, I>,
    mut depth: usize,
) -> Result<(), IndexError> {
    while depth > 0 {
        match events.next()?.0 {
            Event::MappingStart(..) | Event::SequenceStart(..) => depth += 1,
            Event::MappingEnd | Event::SequenceEnd => depth -= 1,
            Event::StreamEnd => return Ok(()),
            _ => {}
        }
    }
    Ok(())
}

/// Builds the node that starts with `first` as JSON (scalars as their text).
fn build<I: Iterator<Item = char>>(
    events: &mut Events<'_, I>,
    first: Event<'static>,
    line: usize,
    depth: usize,
) -> Result<Value, IndexError> {
    if depth > MAX_DEPTH {
        return Err(IndexError::TooDeep {
            line,
            limit: MAX_DEPTH,
        });
    }
    match first {
        Event::Scalar(text, style, ..) => Ok(scalar(&text, style)),
        Event::Alias(_) => Err(IndexError::Alias { line }),
        Event::SequenceStart(..) => {
            let mut items = Vec::new();
            loop {
                let (event, line) = events.next()?;
                match event {
                    Event::SequenceEnd | Event::StreamEnd => return Ok(Value::Array(items)),
                    other => items.push(build(events, other, line, depth + 1)?),
                }
            }
        }
        Event::MappingStart(..) => {
            let mut map = Map::new();
            loop {
                let (key, line) = events.next()?;
                let key = match key {
                    Event::MappingEnd | Event::StreamEnd => return Ok(Value::Object(map)),
                    Event::Scalar(text, ..) => text.into_owned(),
                    Event::Alias(_) => return Err(IndexError::Alias { line }),
                    other => {
                        // A collection as a key: no index has one; skip key and value.
                        skip_from(events, &other)?;
                        skip_node(events)?;
                        continue;
                    }
                };
                let (value, line) = events.next()?;
                map.insert(key, build(events, value, line, depth + 1)?);
            }
        }
        _ => Ok(Value::Null),
    }
}

/// A scalar as the index means it: `null`/`~`/empty plain scalars are null, everything else
/// its text (versions such as `1.10` stay text, as Helm reads them into strings).
fn scalar(text: &str, style: saphyr_parser::ScalarStyle) -> Value {
    let plain = matches!(style, saphyr_parser::ScalarStyle::Plain);
    if plain && matches!(text, "" | "~" | "null" | "Null" | "NULL") {
        Value::Null
    } else {
        Value::String(text.to_owned())
    }
}

/// The characters of a UTF-8 stream; the first read or decoding error ends the stream and is
/// kept for the caller.
struct Utf8Chars<R: BufRead> {
    reader: R,
    pending: std::collections::VecDeque<char>,
    carry: Vec<u8>,
    error: Option<std::io::Error>,
    done: bool,
}

impl<R: BufRead> Utf8Chars<R> {
    fn new(reader: R) -> Self {
        Self {
            reader,
            pending: std::collections::VecDeque::new(),
            carry: Vec::new(),
            error: None,
            done: false,
        }
    }

    fn refill(&mut self) {
        let mut chunk = vec![0u8; 64 * 1024];
        let read = match self.reader.read(&mut chunk) {
            Ok(read) => read,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => return,
            Err(e) => {
                self.error = Some(e);
                self.done = true;
                return;
            }
        };
        if read == 0 {
            self.done = true;
            if !self.carry.is_empty() {
                self.error = Some(std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    "the index is not UTF-8 (truncated sequence at the end)",
                ));
            }
            return;
        }
        self.carry.extend_from_slice(&chunk[..read]);
        let valid = match std::str::from_utf8(&self.carry) {
            Ok(text) => text.len(),
            Err(e) if e.error_len().is_none() => e.valid_up_to(),
            Err(e) => {
                self.error = Some(std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    format!("the index is not UTF-8: {e}"),
                ));
                self.done = true;
                return;
            }
        };
        let rest = self.carry.split_off(valid);
        if let Ok(text) = std::str::from_utf8(&self.carry) {
            self.pending.extend(text.chars());
        }
        self.carry = rest;
    }
}

impl<R: BufRead> Iterator for &mut Utf8Chars<R> {
    type Item = char;

    fn next(&mut self) -> Option<char> {
        while self.pending.is_empty() && !self.done {
            self.refill();
        }
        self.pending.pop_front()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn check_index_reads_the_whole_index_and_builds_nothing() {
        check_index(INDEX.as_bytes()).expect("an index");
        check_index("apiVersion: v1\nentries: {}\n".as_bytes()).expect("an empty index");
        assert!(matches!(
            check_index("apiVersion: v1\n".as_bytes()),
            Err(IndexError::NotAnIndex)
        ));
        assert!(matches!(
            check_index("- a\n".as_bytes()),
            Err(IndexError::NotAnIndex)
        ));
        assert!(matches!(
            check_index("entries:\n  a: [\n".as_bytes()),
            Err(IndexError::Syntax { .. })
        ));
    }

    const INDEX: &str = r#"apiVersion: v1
entries:
  other:
  - name: other
    version: 9.9.9
    urls: [other-9.9.9.tgz]
    nested: {deep: [1, 2, {x: y}]}
  demo:
  - apiVersion: v2
    appVersion: "1.16.0"
    created: "2026-01-02T03:04:05Z"
    digest: abc123
    name: demo
    urls:
    - demo-0.2.0.tgz
    version: 0.2.0
  - name: demo
    version: 0.1.0
    urls: [https://charts.example/demo-0.1.0.tgz]
    deprecated: true
  - name: demo
    version: 1.0.0-rc.1
    urls: [demo-1.0.0-rc.1.tgz]
  - name: demo
    version: not-semver
    urls: [demo-x.tgz]
generated: "2026-01-02T03:04:05Z"
"#;

    fn read(text: &str, chart: &str) -> Result<Vec<ChartVersion>, IndexError> {
        read_chart_versions(text.as_bytes(), chart)
    }

    #[test]
    fn only_the_chart_asked_for_is_read_with_its_fields() {
        let versions = read(INDEX, "demo").unwrap();
        assert_eq!(versions.len(), 4);
        assert_eq!(
            versions[0],
            ChartVersion {
                name: "demo".into(),
                version: "0.2.0".into(),
                app_version: Some("1.16.0".into()),
                urls: vec!["demo-0.2.0.tgz".into()],
                digest: Some("abc123".into()),
                created: Some("2026-01-02T03:04:05Z".into()),
                deprecated: false,
            }
        );
        assert!(versions[1].deprecated);
        assert_eq!(read(INDEX, "other").unwrap()[0].version, "9.9.9");
    }

    #[test]
    fn versions_are_chosen_as_helm_does() {
        let versions = read(INDEX, "demo").unwrap();
        let chosen = |constraint: &str| choose(&versions, constraint).map(|v| v.version.as_str());
        assert_eq!(chosen("").unwrap(), "0.2.0", "latest stable");
        assert_eq!(chosen("*").unwrap(), "0.2.0");
        assert_eq!(chosen("0.1.*").unwrap(), "0.1.0");
        assert_eq!(chosen(">=0.1.0 <0.2.0").unwrap(), "0.1.0");
        assert_eq!(chosen("~0.2").unwrap(), "0.2.0");
        assert_eq!(
            chosen(">=1.0.0-0").unwrap(),
            "1.0.0-rc.1",
            "a pre-release when asked"
        );
        assert_eq!(chosen("0.1.0").unwrap(), "0.1.0");
        assert_eq!(chosen("0.1.0 || 0.2.0").unwrap(), "0.2.0");
        let none = chosen(">=2.0.0").unwrap_err();
        assert!(matches!(none, IndexError::NoMatch { .. }), "{none}");
        assert!(none.to_string().contains("latest: 1.0.0-rc.1"), "{none}");
        assert!(matches!(chosen(">>1"), Err(IndexError::Constraint { .. })));
    }

    #[test]
    fn bad_indexes_are_refused_with_a_clear_error() {
        assert!(matches!(
            read(INDEX, "absent"),
            Err(IndexError::ChartNotFound { .. })
        ));
        assert!(matches!(
            read("apiVersion: v1\n", "demo"),
            Err(IndexError::NotAnIndex)
        ));
        assert!(matches!(
            read("- a\n- b\n", "demo"),
            Err(IndexError::NotAnIndex)
        ));
        let syntax = read("entries: {demo: [\n", "demo").unwrap_err();
        assert!(matches!(syntax, IndexError::Syntax { .. }), "{syntax}");
        let alias = "entries:\n  demo: &a\n  - {version: 1.0.0}\n  copy: *a\n";
        // The alias is in another chart's entries: skipped, never expanded.
        assert_eq!(read(alias, "demo").unwrap().len(), 1);
        let alias = "base: &a {version: 1.0.0}\nentries:\n  demo:\n  - *a\n";
        assert!(matches!(
            read(alias, "demo"),
            Err(IndexError::Alias { line: 4 })
        ));
        let deep = format!("entries:\n  demo: {}{}\n", "[".repeat(100), "]".repeat(100));
        assert!(matches!(
            read(&deep, "demo"),
            Err(IndexError::TooDeep { .. })
        ));
        let no_version = "entries:\n  demo:\n  - {name: demo}\n";
        assert!(matches!(
            read(no_version, "demo"),
            Err(IndexError::Entry { .. })
        ));
        let bytes = b"entries:\n  demo:\n  - {version: \xff}\n";
        let error = read_chart_versions(&bytes[..], "demo").unwrap_err();
        assert!(matches!(error, IndexError::Read(_)), "{error}");
    }

    #[test]
    fn a_multibyte_character_split_across_reads_decodes() {
        // A reader that hands out one byte at a time splits every multi-byte character.
        struct OneByte<'a>(&'a [u8]);
        impl std::io::Read for OneByte<'_> {
            fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
                let Some((first, rest)) = self.0.split_first() else {
                    return Ok(0);
                };
                out[0] = *first;
                self.0 = rest;
                Ok(1)
            }
        }
        let text = "entries:\n  demo:\n  - {version: 1.0.0, appVersion: \"ünïcødé ✓\"}\n";
        let versions = read_chart_versions(
            std::io::BufReader::with_capacity(1, OneByte(text.as_bytes())),
            "demo",
        )
        .unwrap();
        assert_eq!(versions[0].app_version.as_deref(), Some("ünïcødé ✓"));
    }
}
