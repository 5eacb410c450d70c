//! Go's `text/template` in Rust, Go-exact, with Sprig's functions: the template engine under
//! gitops-rs's Helm chart renderer. Nothing here knows about Kubernetes or Helm.
//!
//! # Where to start
//! - [`Template::parse`] and [`Template::execute`]: one template, Go's builtins.
//! - [`Templates`]: a set of templates sharing `define`s (Helm parses every file of a chart into
//!   one set), with a [`Functions`] registry and [`Options`] (`missingkey`, limits).
//! - [`Functions`]: name → [`Function`] (Go parameter types + a Rust closure).
//!   [`Functions::builtins`] has Go's, [`Functions::sprig`] adds the Sprig functions below.
//! - [`Value`]: what templates see; [`Value::from_json`] maps JSON as Helm's values are read
//!   (every number a `float64`).
//!
//! ```
//! use gitops_gotmpl::{Functions, Templates, Value};
//!
//! let mut set = Templates::new(Functions::sprig());
//! set.add("t", r#"{{ define "x" }}[{{ . }}]{{ end }}{{ range $k, $v := .m }}{{ template "x" $k }}={{ $v }} {{ end }}{{ .n | quote }}"#)?;
//! let values = Value::from_json(&serde_json::json!({"m": {"b": 1000000, "a": 2.5}, "n": 3}));
//! assert_eq!(set.execute("t", &values)?, r#"[a]=2.5 [b]=1e+06 "3""#);
//! # Ok::<(), gitops_gotmpl::Error>(())
//! ```
//!
//! # Supported
//! The whole template language: text and actions, trim markers `{{-`/`-}}`, comments,
//! pipelines, variables (`$x :=`, `$x =`, `$`), `if`/`else if`/`else`, `with`/`else with`,
//! `range` over lists, maps (sorted keys), integers, with `$i, $e`, `break` and `continue`,
//! `define`/`template`/`block` (an empty redefinition keeps the earlier body, as Go's
//! `AddParseTree` does), parenthesised pipelines, field chains, methods with arguments on host
//! [`Object`]s, Go's number, string, raw string and character literals. The builtins `and or not
//! len index slice print printf println eq ne lt le gt ge html js urlquery` with Go's truth,
//! comparison (`eq` with several arguments; `incompatible types for comparison` between an int
//! and a float64) and short-circuit rules. Go's `fmt` for `%v %s %d %q %x %X %o %b %t %f %F %e
//! %E %g %G %c %U %%`, widths, precisions, `*`, and the flags `+ - # 0 space`; floats print with
//! Go's shortest round-trip digits and exponent rules (`1e+06`, `3`). `missingkey` default,
//! `zero` and `error` ([`MissingKey`]). Parse and execution errors are Go's texts with the
//! template name, line (and column, for execution), and the node being evaluated.
//!
//! Sprig v3.3.0 ([`Functions::sprig`]), one module per Sprig area, each with Sprig's Go
//! signature (so a wrong argument type fails with Go's message) and Sprig's panics as errors:
//! - strings: `upper lower title untitle swapcase trim trimAll trimall trimPrefix trimSuffix
//!   nospace initials contains hasPrefix hasSuffix replace repeat indent nindent quote squote
//!   cat toString toStrings substr trunc abbrev plural join split splitList splitn sortAlpha
//!   snakecase kebabcase camelcase abbrevboth wrap wrapWith`;
//! - defaults and JSON: `default empty coalesce all any ternary fail toJson toPrettyJson
//!   toRawJson fromJson mustToJson mustToPrettyJson mustToRawJson mustFromJson` (Go's
//!   `encoding/json` output: sorted keys, `<>&` escaped, Go's float format);
//! - lists: `list tuple first last rest initial append push prepend reverse uniq compact
//!   without has concat slice chunk until untilStep seq` and their `must` forms (`mustFirst
//!   mustLast mustRest mustInitial mustAppend mustPush mustPrepend mustReverse mustUniq
//!   mustCompact mustWithout mustHas mustSlice mustChunk`); Sprig's `slice` replaces Go's, as
//!   in Helm;
//! - dicts: `dict get set unset hasKey pluck keys values pick omit merge mergeOverwrite
//!   mustMerge mustMergeOverwrite deepCopy mustDeepCopy dig` (maps are shared as Go maps are:
//!   `set` and `merge` change the map every holder sees);
//! - math: `add add1 sub mul div mod max biggest min int int64 float64 atoi floor ceil round
//!   addf add1f subf mulf divf maxf minf toDecimal` (`addf`… use exact decimal arithmetic as
//!   Sprig's decimal library does, so `addf 0.1 0.2` is `0.3`);
//! - encoding and hashes: `b64enc b64dec b32enc b32dec sha1sum sha256sum sha512sum
//!   adler32sum`;
//! - regular expressions: `regexMatch regexFind regexFindAll regexReplaceAll
//!   regexReplaceAllLiteral regexSplit regexQuoteMeta` and `mustRegexMatch mustRegexFind
//!   mustRegexFindAll mustRegexReplaceAll mustRegexReplaceAllLiteral mustRegexSplit`;
//! - reflection: `typeOf typeIs typeIsLike kindOf kindIs deepEqual`;
//! - paths: `base dir ext clean isAbs osBase osDir osExt osClean osIsAbs`;
//! - versions: `semver semverCompare` (Masterminds/semver v3 as Helm v4.3.2 links it);
//! - URLs: `urlParse urlJoin` (Go's `net/url` parsing and escaping);
//! - network: `getHostByName` (the system resolver; one of several addresses at random);
//! - random (right shape, random values): `randAlpha randNumeric randAlphaNum randAscii
//!   randInt randBytes uuidv4 shuffle`, and `hello`;
//! - keys, certificates and passwords (new random keys each call, laid out as Go writes
//!   them; a certificate parses and verifies against its CA): `genPrivateKey` (`rsa` 4096,
//!   `ecdsa` P-256, `ed25519`; not `dsa`), `genCA genCAWithKey genSelfSignedCert
//!   genSelfSignedCertWithKey genSignedCert genSignedCertWithKey buildCustomCert` (objects
//!   with `.Cert` and `.Key` in PEM; keys given as RSA, EC P-256/P-384 or Ed25519), `bcrypt
//!   htpasswd` (cost 10, `$2a$`), `derivePassword` (Master Password v3, identical to Sprig's),
//!   `encryptAES decryptAES` (Sprig's AES-256-CBC with the IV in front, so each decrypts
//!   the other's output);
//! - dates: `now date dateInZone date_in_zone htmlDate htmlDateInZone unixEpoch ago duration
//!   durationRound
//!   dateModify date_modify mustDateModify must_date_modify toDate mustToDate` with Go's
//!   layout formatting and parsing, in UTC (`Local` is UTC here; other zone names fail).
//!
//! # Not supported (a clear error, never a silent empty string)
//! - `genPrivateKey "dsa"` is an error naming DSA (no DSA implementation here; Go generates
//!   2048-bit DSA parameters, which no chart we know of asks for). Any name listed in
//!   [`sprig::NOT_IMPLEMENTED`] parses, as in Helm, and fails when called with `error calling
//!   NAME: not implemented by gitops-gotmpl`. Helm's own functions (`include`, `tpl`,
//!   `toYaml`, `required`, `lookup`, …) belong to the chart renderer, which registers them
//!   through [`Functions::insert`] and [`Function::with_call`].
//! - Complex number literals (`1+2i`) are a parse error; `call` fails (host functions are not
//!   values); `%b` on floats prints `%g`. Any function not registered is Go's parse error
//!   `function "x" not defined`.
//!
//! # Bounds (Go has none of these but the template depth)
//! - Parentheses and control structures nest at most [`parse::MAX_NESTING`] deep in one
//!   template, and the parser stops at [`parse::MAX_PARSE_STACK`] bytes of stack, whichever
//!   comes first (Go: 10,000 parentheses, unlimited `if`s; here a few hundred in a debug
//!   build): deeper input is a parse error (`max expression depth exceeded`, `max nesting depth
//!   exceeded`), never a stack overflow.
//! - Template calls (`template`, and functions using [`Call::execute_template`] such as
//!   Helm's `include`) nest at most [`Options::with_max_depth`] deep (default 1,000, Helm's
//!   `include` limit; Go's own limit is 100,000) with Go's message `exceeded maximum template
//!   depth (1000)`. Independently, execution measures the stack it uses and stops at
//!   [`Options::with_max_stack_bytes`] (default 1 MiB; `exceeded maximum nesting depth`), so
//!   it never overflows a 2 MiB thread stack whatever the build profile's frame sizes. In a
//!   debug build that allows about 250 nested template calls, in a release build more.
//! - One execution visits at most [`Options::with_max_steps`] nodes (default 100 million,
//!   seconds of work), so `{{ range 100000000000 }}{{ end }}` ends with an error.
//! - Output is capped by [`Options::with_max_output_bytes`] (default 64 MiB), and
//!   functions that build lists or strings (`until`, `repeat`, …) by [`sprig::MAX_LEN`]
//!   elements and [`sprig::MAX_STRING`] bytes.
//!
//! # Known divergences from Go
//! - Go's `unicode.IsPrint` (used by `%q`, `js`) is approximated by Rust's character classes.
//! - `slice` bounds are checked against the length, not the capacity Go's decoder happened to
//!   allocate.
//! - Sprig's `keys` and `values` return sorted entries; Go returns them in random map order
//!   (so charts sort them, and any order Helm prints is one of the possible ones).
//! - Regular expression compile errors are worded by Rust's `regex` parser, not Go's.
//! - Every list is a `[]interface {}`: where Sprig returns a typed slice (`until` gives
//!   `[]int`, `splitList`, `keys` and `sortAlpha` give `[]string`), only `typeOf`/`%T` show
//!   the difference.
//! - `now` and dates are in UTC; Go uses the machine's zone (`Local`).
//! - All maps are `map[string]interface {}`. Helm's top-level `.Values` is a named map type,
//!   so in Helm `dig "a" "b" .Values` fails a type assertion that succeeds here (`dig` on any
//!   map below `.Values` behaves the same in both).
//! - Complex numbers (`1i`, `1+2i`) are not supported.
//! - A value that is not a certificate given to `genSignedCert`/`genSignedCertWithKey` fails
//!   inside the call (`error calling genSignedCert: wrong type for value; …`); Go fails
//!   converting the argument, naming the argument node, with the same message.
//! - Certificates' subject key identifiers are Go 1.25's (truncated SHA-256); a Helm built
//!   with an older Go writes SHA-1 ones. Either is valid.
//! - Unbounded template recursion stops at the stack budget (see Bounds) with our message,
//!   where Go stops at 100,000 levels with `exceeded maximum template depth (100000)`.
#![forbid(unsafe_code)]

mod error;
mod exec;
mod funcs;
pub mod gofmt;
mod lex;
pub mod parse;
pub mod sprig;
mod value;

use std::collections::HashMap;
use std::sync::Arc;

pub use error::{Error, ExecError};
pub use exec::Call;
pub use funcs::{Function, Functions, Ty};
pub use value::{Dict, Object, Value};

/// What a missing map key evaluates to (Go's `missingkey` option).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum MissingKey {
    /// `missingkey=default`: the invalid value, printed `<no value>`.
    #[default]
    Default,
    /// `missingkey=zero`: the map's zero value, a nil `interface{}` (what Helm uses; a field of
    /// it then fails with `nil pointer evaluating interface {}.x`).
    Zero,
    /// `missingkey=error`: `map has no entry for key "x"` (Helm's `--strict`).
    Error,
}

/// Execution options.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Options {
    /// What a missing map key evaluates to.
    pub missing_key: MissingKey,
    /// How deeply template calls may nest.
    pub max_depth: usize,
    /// How much stack one execution may use, in bytes, measured as the distance between
    /// stack frames (template calls, nested control structures and parentheses all count).
    pub max_stack_bytes: usize,
    /// The largest output of one execution, in bytes.
    pub max_output_bytes: usize,
    /// How many nodes (text, actions, loop iterations) one execution may visit, so that a
    /// `range` over a huge integer ends instead of spinning.
    pub max_steps: u64,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            missing_key: MissingKey::Default,
            max_depth: 1000,
            max_stack_bytes: 1 << 20,
            max_output_bytes: 64 << 20,
            max_steps: 100_000_000,
        }
    }
}

impl Options {
    /// Sets the `missingkey` mode.
    pub fn with_missing_key(mut self, m: MissingKey) -> Self {
        self.missing_key = m;
        self
    }

    /// Sets how deeply template calls may nest.
    pub fn with_max_depth(mut self, n: usize) -> Self {
        self.max_depth = n;
        self
    }

    /// Sets how much stack one execution may use (default 1 MiB, which leaves room in a
    /// 2 MiB thread stack, Rust's default for spawned threads).
    pub fn with_max_stack_bytes(mut self, n: usize) -> Self {
        self.max_stack_bytes = n;
        self
    }

    /// Sets how many nodes one execution may visit.
    pub fn with_max_steps(mut self, n: u64) -> Self {
        self.max_steps = n;
        self
    }

    /// Sets the largest output of one execution.
    pub fn with_max_output_bytes(mut self, n: usize) -> Self {
        self.max_output_bytes = n;
        self
    }
}

/// A set of templates sharing their `define`s, a function registry and options.
#[derive(Clone, Debug)]
pub struct Templates {
    /// Shared by copies of the set: copying a chart's set (Helm's `tpl` copies it for each
    /// call) copies a pointer, not hundreds of entries.
    trees: Arc<HashMap<String, Arc<parse::Tree>>>,
    /// Templates added to a copy while its `trees` were shared; looked up first.
    added: HashMap<String, Arc<parse::Tree>>,
    funcs: Arc<Functions>,
    options: Options,
}

impl Templates {
    /// An empty set using `funcs`.
    pub fn new(funcs: Functions) -> Self {
        Templates {
            trees: Arc::new(HashMap::new()),
            added: HashMap::new(),
            funcs: Arc::new(funcs),
            options: Options::default(),
        }
    }

    /// An empty set with this set's functions (shared, not copied) and options.
    pub fn empty_like(&self) -> Self {
        Templates {
            trees: Arc::new(HashMap::new()),
            added: HashMap::new(),
            funcs: Arc::clone(&self.funcs),
            options: self.options.clone(),
        }
    }

    /// Sets the options.
    pub fn with_options(mut self, options: Options) -> Self {
        self.options = options;
        self
    }

    /// The options.
    pub fn options(&self) -> &Options {
        &self.options
    }

    /// The function registry.
    pub fn functions(&self) -> &Functions {
        &self.funcs
    }

    /// Parses `text` as the template `name` and adds it and every template it defines, as
    /// Go's `t.New(name).Parse(text)` does: a definition replaces an earlier one of the same
    /// name unless it is empty (only whitespace).
    ///
    /// # Errors
    /// [`Error::Parse`] with Go's message, naming `name` and the line.
    pub fn add(&mut self, name: &str, text: &str) -> Result<(), Error> {
        let parsed = self.parse_apart(name, text)?;
        self.insert(parsed);
        Ok(())
    }

    /// Parses `text` as the template `name` with this set's functions without adding it:
    /// the first half of [`Templates::add`], which needs only a shared reference, so that
    /// several templates can be parsed side by side and then [inserted](Templates::insert)
    /// in the order that decides which `define` wins.
    ///
    /// # Errors
    /// As [`Templates::add`].
    pub fn parse_apart(&self, name: &str, text: &str) -> Result<Parsed, Error> {
        let (top, defined) = parse::parse(name, text, &self.funcs)?;
        Ok(Parsed { top, defined })
    }

    /// [`Templates::parse_apart`] of a shared text, which the parsed trees keep (its runs of
    /// text and names are ranges of it) instead of a copy.
    ///
    /// # Errors
    /// As [`Templates::parse_apart`].
    pub fn parse_shared(&self, name: &str, text: &Arc<String>) -> Result<Parsed, Error> {
        let (top, defined) = parse::parse_shared(name, text, &self.funcs)?;
        Ok(Parsed { top, defined })
    }

    /// Adds a template parsed by [`Templates::parse_apart`] and the templates it defines,
    /// with the rules of [`Templates::add`].
    pub fn insert(&mut self, parsed: Parsed) {
        let Parsed { top, defined } = parsed;
        for tree in std::iter::once(top).chain(defined) {
            if tree.is_empty() && self.contains(&tree.name) {
                continue;
            }
            let name = tree.name.clone();
            match Arc::get_mut(&mut self.trees) {
                Some(trees) if self.added.is_empty() => trees.insert(name, Arc::new(tree)),
                _ => self.added.insert(name, Arc::new(tree)),
            };
        }
    }

    /// The template of that name.
    pub(crate) fn tree(&self, name: &str) -> Option<&Arc<parse::Tree>> {
        self.added.get(name).or_else(|| self.trees.get(name))
    }

    /// Whether a template of that name exists.
    pub fn contains(&self, name: &str) -> bool {
        self.tree(name).is_some()
    }

    /// The names of the templates, sorted.
    pub fn names(&self) -> Vec<&str> {
        let mut v: Vec<&str> = self
            .trees
            .keys()
            .chain(self.added.keys())
            .map(String::as_str)
            .collect();
        v.sort_unstable();
        v.dedup();
        v
    }

    /// Executes the template `name` with `dot` and returns its output.
    ///
    /// # Errors
    /// [`Error::Exec`] with Go's message; Go's `no template "x" associated with template` when
    /// there is no such template.
    pub fn execute(&self, name: &str, dot: &Value) -> Result<String, Error> {
        self.execute_at(name, dot, 0, None)
    }

    pub(crate) fn execute_at(
        &self,
        name: &str,
        dot: &Value,
        depth: usize,
        stack_base: Option<usize>,
    ) -> Result<String, Error> {
        let Some(tree) = self.tree(name) else {
            return Err(Error::Exec(Box::new(ExecError {
                location: name.to_string(),
                template: name.to_string(),
                context: None,
                message: format!(
                    "no template {} associated with template {}",
                    gofmt::quote(name, false),
                    gofmt::quote(name, false)
                ),
            })));
        };
        if depth > self.options.max_depth {
            return Err(Error::Exec(Box::new(ExecError {
                location: name.to_string(),
                template: name.to_string(),
                context: None,
                message: format!(
                    "exceeded maximum template depth ({})",
                    self.options.max_depth
                ),
            })));
        }
        exec::run(self, tree, dot, depth, stack_base)
    }
}

/// A template parsed by [`Templates::parse_apart`], not yet in a set.
#[derive(Debug)]
pub struct Parsed {
    top: parse::Tree,
    defined: Vec<parse::Tree>,
}

impl Parsed {
    /// The name the template was parsed under.
    pub fn name(&self) -> &str {
        &self.top.name
    }

    /// The same template as parsed under `name`: a parse does not depend on its name, which
    /// only names the template and the file in execution errors. (A parse error names it
    /// too, so a failed parse must be done again under the other name.)
    #[must_use]
    pub fn renamed(mut self, name: &str) -> Parsed {
        if self.top.name == name {
            return self;
        }
        let parse_name: Arc<str> = Arc::from(name);
        self.top.name = name.to_string();
        self.top.parse_name = Arc::clone(&parse_name);
        for tree in &mut self.defined {
            tree.parse_name = Arc::clone(&parse_name);
        }
        self
    }
}

/// One template and the templates it defines, with Go's builtin functions.
#[derive(Clone, Debug)]
pub struct Template {
    set: Templates,
    name: String,
}

impl Template {
    /// Parses `text` as the template `name`, with Go's builtins only.
    ///
    /// # Errors
    /// [`Error::Parse`] with Go's message.
    pub fn parse(name: &str, text: &str) -> Result<Self, Error> {
        Self::parse_with(name, text, Functions::builtins())
    }

    /// Parses `text` as the template `name` with the functions `funcs`.
    ///
    /// # Errors
    /// [`Error::Parse`] with Go's message.
    pub fn parse_with(name: &str, text: &str, funcs: Functions) -> Result<Self, Error> {
        let mut set = Templates::new(funcs);
        set.add(name, text)?;
        Ok(Template {
            set,
            name: name.to_string(),
        })
    }

    /// Sets the options.
    pub fn with_options(mut self, options: Options) -> Self {
        self.set = self.set.with_options(options);
        self
    }

    /// Executes the template with `dot`.
    ///
    /// # Errors
    /// [`Error::Exec`] with Go's message.
    pub fn execute(&self, dot: &Value) -> Result<String, Error> {
        self.set.execute(&self.name, dot)
    }

    /// The set holding this template and its definitions.
    pub fn templates(&self) -> &Templates {
        &self.set
    }
}
