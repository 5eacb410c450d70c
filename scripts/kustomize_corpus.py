#!/usr/bin/env python3
"""Differential kustomize corpus from sources nobody on gitops-rs wrote (issue 16).

Usage: scripts/kustomize-corpus.sh [--work DIR] [--jobs N] [--only SOURCE] [--fail-under PCT]
                                   [--refresh] [--no-fetch] [--list]

Sources:
  krusty  kustomize's own test suite: api/krusty/*_test.go of kubernetes-sigs/kustomize at tag
          kustomize/v5.5.0. Each th.Run/th.RunWithErr of a test becomes one case: the files the
          test wrote (th.WriteF/WriteK/WriteC, also through helper functions) as they stood then,
          built with the options the test used. Tests whose inputs come from fmt.Sprintf, loops,
          table-driven subtests, Go/exec plugins or options kubectl has no flag for are counted
          as "not convertible". Expected outputs are never taken from the Go files.
  public  every directory holding a kustomization file under the subdirectories listed in
          scripts/kustomize-corpus-repos.txt (repository URL, ref, subdirectories, and after
          `--` the kubectl flags the project's own build uses for them).

Sources are fetched with `git` from GitHub. With KUSTOMIZE_CORPUS_MIRROR=DIR set, a repository
github.com/OWNER/NAME is read from the bare git directory DIR/OWNER+NAME/repo instead.

Work dir layout (default target/kustomize-corpus, or --work / KUSTOMIZE_CORPUS_WORK):
  src/<owner>+<name>/             the repository tree at the listed ref (public cases point here)
  cases/<source>/<case>/          one folder per case:
      build.txt                   line 1: the directory to build, relative to this folder;
                                  line 2: extra flags for `kubectl kustomize` and for our
                                  example driver (`--reorder none`, `--load-restrictor ...`)
      tree/                       (krusty cases) the files the Go test wrote
      kubectl.out kubectl.err kubectl.rc   what `kubectl kustomize` printed (cached; --refresh)
      ours.out ours.err ours.rc            what `kustomize-build` (our example driver) printed
  report.txt                      the summary and the non-identical cases with a reason
  (benches/kustomize-peer.sh takes case folders' parents: pass cases/krusty and cases/public)
  summary.json                    the same, machine-readable

Exits 0 even when cases differ; --fail-under PCT exits 1 when a source's identical share of the
cases kubectl builds falls below PCT.
"""

import argparse
import concurrent.futures
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

KUSTOMIZE_REPO = "https://github.com/kubernetes-sigs/kustomize"
KUSTOMIZE_REF = "kustomize/v5.5.0"
KUST_NAMES = ("kustomization.yaml", "kustomization.yml", "Kustomization")
TIMEOUT = 300


# ----------------------------------------------------------------------------- fetching


def repo_key(url):
    m = re.match(r"https://github\.com/([^/]+)/([^/]+?)(\.git)?/?$", url)
    if not m:
        sys.exit(f"not a GitHub URL: {url}")
    return f"{m.group(1)}+{m.group(2)}"


def git(*args, **kw):
    return subprocess.run(["git", *args], check=True, **kw)


def checkout(url, ref, work, fetch=True):
    """Extracts `ref` of `url` into work/src/<owner>+<name>; returns that directory."""
    key = repo_key(url)
    dest = work / "src" / key
    stamp = dest / ".corpus-ref"
    if dest.is_dir() and stamp.is_file() and stamp.read_text() == ref:
        return dest
    if not fetch:
        sys.exit(f"{dest} is missing and --no-fetch was given")
    mirror = os.environ.get("KUSTOMIZE_CORPUS_MIRROR")
    if mirror:
        gitdir = Path(mirror) / key / "repo"
        if not gitdir.is_dir():
            sys.exit(f"no mirror for {url} at {gitdir}")
        rev = ref
    else:
        gitdir = work / "git" / key
        if not gitdir.is_dir():
            git("init", "--quiet", "--bare", str(gitdir))
        git("--git-dir", str(gitdir), "fetch", "--quiet", "--depth", "1", url, ref)
        rev = "FETCH_HEAD"
    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    extract(gitdir, rev, dest)
    stamp.write_text(ref)
    return dest


def extract(gitdir, rev, dest):
    """Writes the tree of `rev` into dest. Blobs a partial mirror lacks (large binaries) are
    skipped rather than failing the whole tree."""
    ls = subprocess.run(["git", "--git-dir", str(gitdir), "ls-tree", "-r", "-z", rev],
                        check=True, capture_output=True).stdout.split(b"\0")
    entries = []
    for e in ls:
        if not e:
            continue
        meta, path = e.split(b"\t", 1)
        mode, kind, oid = meta.split()
        if kind == b"blob":
            entries.append((mode, oid, path.decode(errors="surrogateescape")))
    cat = subprocess.Popen(["git", "--git-dir", str(gitdir), "cat-file", "--batch"],
                           stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    for mode, oid, path in entries:
        cat.stdin.write(oid + b"\n")
        cat.stdin.flush()
        header = cat.stdout.readline().split()
        if len(header) < 3:  # "<oid> missing"
            continue
        data = cat.stdout.read(int(header[2]))
        cat.stdout.read(1)
        f = dest / path
        f.parent.mkdir(parents=True, exist_ok=True)
        if mode == b"120000":
            os.symlink(data.decode(errors="surrogateescape"), f)
        else:
            f.write_bytes(data)
            if mode == b"100755":
                f.chmod(0o755)
    cat.stdin.close()
    cat.wait()


def read_repo_list(path):
    repos = []
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        words = line.split()
        flags = []
        if "--" in words:
            flags = words[words.index("--") + 1:]
            words = words[:words.index("--")]
        url, ref, *subdirs = words
        repos.append((url, ref, subdirs or ["."], flags))
    return repos


# ----------------------------------------------------------------------------- Go tests

TOKEN = re.compile(
    r"""(?P<ws>[ \t\r]+)|(?P<nl>\n)|(?P<lc>//[^\n]*)|(?P<bc>/\*.*?\*/)"""
    r"""|(?P<raw>`[^`]*`)|(?P<str>"(?:\\.|[^"\\\n])*")|(?P<chr>'(?:\\.|[^'\\\n])*')"""
    r"""|(?P<id>[A-Za-z_][A-Za-z0-9_]*)|(?P<num>[0-9][0-9a-zA-Z_.]*)"""
    r"""|(?P<op>:=|\.\.\.|&&|\|\||==|!=|<=|>=|\+=|-=|<-|\+\+|--|[-+*/%&|^<>=!.,;:(){}\[\]])""",
    re.S,
)


class NotConvertible(Exception):
    pass


def tokenize(text):
    out = []
    pos = 0
    while pos < len(text):
        m = TOKEN.match(text, pos)
        if not m:
            raise NotConvertible(f"cannot tokenize at {text[pos:pos + 20]!r}")
        kind = m.lastgroup
        val = m.group(kind)
        pos = m.end()
        if kind in ("ws", "lc"):
            continue
        if kind == "bc":
            if "\n" in val:
                out.append(("nl", "\n"))
            continue
        out.append((kind, val))
    return out


def go_string(tok):
    kind, val = tok
    if kind == "raw":
        return val[1:-1].replace("\r", "")
    if kind == "str":
        return json.loads(val) if "\\x" not in val and "\\'" not in val else eval(val)  # noqa: S307
    raise NotConvertible(f"not a string literal: {val}")


def split_statements(toks):
    """Splits a token list (a block's content) into statements at depth 0."""
    stmts, cur, depth = [], [], 0
    for t in toks:
        if t[1] in "([{" and t[0] == "op":
            depth += 1
        elif t[1] in ")]}" and t[0] == "op":
            depth -= 1
        if depth == 0 and (t[0] == "nl" or t == ("op", ";")):
            if cur:
                stmts.append(cur)
            cur = []
            continue
        cur.append(t)
    if cur:
        stmts.append(cur)
    return stmts


def matching(toks, i):
    """Index of the bracket closing the one at toks[i]."""
    depth = 0
    for j in range(i, len(toks)):
        if toks[j][0] == "op" and toks[j][1] in "([{":
            depth += 1
        elif toks[j][0] == "op" and toks[j][1] in ")]}":
            depth -= 1
            if depth == 0:
                return j
    raise NotConvertible("unbalanced brackets")


def split_args(toks):
    args, cur, depth = [], [], 0
    for t in toks:
        if t[0] == "op" and t[1] in "([{":
            depth += 1
        elif t[0] == "op" and t[1] in ")]}":
            depth -= 1
        if depth == 0 and t == ("op", ","):
            args.append(cur)
            cur = []
            continue
        cur.append(t)
    if cur:
        args.append(cur)
    return args


class Package:
    """The top-level functions and string constants of the krusty_test package."""

    def __init__(self, files):
        self.funcs = {}  # name -> (params, body tokens, file)
        self.consts = {}
        for f in files:
            toks = tokenize(f.read_text())
            i = 0
            while i < len(toks):
                kind, val = toks[i]
                if kind == "id" and val == "func" and (i == 0 or toks[i - 1][0] == "nl"):
                    if toks[i + 1] == ("op", "("):  # a method: skip
                        i = matching(toks, i + 1) + 1
                        continue
                    name = toks[i + 1][1]
                    p0 = i + 2
                    p1 = matching(toks, p0)
                    params = [a[0][1] for a in split_args(toks[p0 + 1:p1]) if a and a[0][0] == "id"]
                    j = p1 + 1
                    while toks[j] != ("op", "{"):
                        j += 1
                    end = matching(toks, j)
                    self.funcs[name] = (params, toks[j + 1:end], f.name)
                    i = end + 1
                    continue
                if kind == "id" and val in ("const", "var") and (i == 0 or toks[i - 1][0] == "nl"):
                    if toks[i + 1] == ("op", "("):
                        end = matching(toks, i + 1)
                        for s in split_statements(toks[i + 2:end]):
                            self._const(s)
                        i = end + 1
                        continue
                    j = i + 1
                    while j < len(toks) and toks[j][0] != "nl":
                        if toks[j][0] == "op" and toks[j][1] in "([{":
                            j = matching(toks, j)
                        j += 1
                    self._const(toks[i + 1:j])
                    i = j
                    continue
                i += 1

    def _const(self, s):
        s = [t for t in s if t[0] != "nl"]
        if len(s) >= 3 and s[0][0] == "id" and ("op", "=") in s:
            k = s.index(("op", "="))
            try:
                self.consts[s[0][1]] = Interp.string_expr(None, s[k + 1:], self.consts)
            except NotConvertible:
                pass


IGNORED_TH = {
    "AssertActualEqualsExpected", "AssertActualEqualsExpectedNoIdAnnotations",
    "AssertActualEqualsExpectedWithTweak", "GetT", "GetFSys", "PrepBuiltin", "GetPluginConfig",
}


class Entry:
    """One test case of a table-driven test: its name and the expressions of its fields."""

    def __init__(self, label, fields):
        self.label = label
        self.fields = fields
        self.env = {}  # the strings in scope where the table was written

    def field(self, name):
        if name not in self.fields:
            raise NotConvertible(f"table field {name} missing")
        return self.fields[name]


def parse_table(toks):
    """`map[string]struct{...}{"a": {f: x}, ...}` or `[]struct{...}{{f: x}, ...}`."""
    words = [t[1] for t in toks]
    k = words.index("struct")
    body_open = matching(toks, k + 1) + 1
    if toks[body_open] != ("op", "{"):
        raise NotConvertible("table literal")
    entries = []
    for n, e in enumerate(split_args(toks[body_open + 1:matching(toks, body_open)])):
        e = [t for t in e if t[0] != "nl"]
        if not e:
            continue
        label = str(n + 1)
        if e[0][0] in ("str", "raw") and e[1] == ("op", ":"):
            label = go_string(e[0])
            e = e[2:]
        if e[0] != ("op", "{"):
            raise NotConvertible("table entry")
        fields = {}
        for f in split_args(e[1:matching(e, 0)]):
            if len(f) >= 3 and f[0][0] == "id" and f[1] == ("op", ":"):
                fields[f[0][1]] = f[2:]
        if "name" in fields and label == str(n + 1):
            try:
                label = Interp.string_expr(None, fields["name"], {})
            except NotConvertible:
                pass
        entries.append(Entry(label, fields))
    return entries


def label_name(label):
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", label).strip("-")[:80] or "case"


class Interp:
    """Replays the file writes and builds of one test function."""

    def __init__(self, pkg):
        self.pkg = pkg
        self.files = {}
        self.dirs = set()
        self.builds = []  # (files snapshot, dirs, path, flags, expect_error)
        self.opts = {}  # option variable -> flags list
        self.depth = 0
        self.label = None

    def string_expr(self, toks, env):
        if not toks:
            raise NotConvertible("empty expression")
        parts = split_plus(toks)
        out = ""
        for p in parts:
            if len(p) == 1 and p[0][0] in ("raw", "str"):
                out += go_string(p[0])
            elif len(p) == 1 and p[0][0] == "id" and p[0][1] in env:
                v = env[p[0][1]]
                if not isinstance(v, str):
                    raise NotConvertible(f"{p[0][1]} is not a string")
                out += v
            elif (len(p) >= 3 and p[0][0] == "id" and p[0][1] in ("filepath", "path")
                  and p[1] == ("op", ".") and p[2] == ("id", "Join")):
                end = matching(p, 3)
                args = [Interp.string_expr(self, a, env) for a in split_args(p[4:end])]
                out += os.path.normpath(os.path.join(*args)) if args else ""
            elif [t[1] for t in p] == ["th", ".", "GetRoot", "(", ")"]:
                out += "/"
            elif [t[1] for t in p] == ["konfig", ".", "DefaultKustomizationFileName", "(", ")"]:
                out += "kustomization.yaml"
            elif len(p) == 3 and p[1] == ("op", ".") and isinstance(env.get(p[0][1]), Entry):
                entry = env[p[0][1]]
                out += self.string_expr(entry.field(p[2][1]), entry.env)
            elif [t[1] for t in p[:4]] == ["strings", ".", "ReplaceAll", "("]:
                a, b, c = [self.string_expr(x, env) for x in split_args(p[4:matching(p, 3)])]
                out += a.replace(b, c)
            elif [t[1] for t in p[:4]] == ["fmt", ".", "Sprintf", "("]:
                args = [self.string_expr(a, env) for a in split_args(p[4:matching(p, 3)])]
                pieces = re.split(r"(%%|%s)", args[0])
                if any(re.search(r"%[^%s]", x) for x in pieces if x not in ("%%", "%s")):
                    raise NotConvertible("fmt.Sprintf with verbs other than %s")
                values = iter(args[1:])
                out += "".join("%" if x == "%%" else next(values) if x == "%s" else x for x in pieces)
            else:
                raise NotConvertible("expression " + " ".join(t[1] for t in p)[:60])
        return out

    def run_func(self, name, args, env_outer):
        if name not in self.pkg.funcs:
            raise NotConvertible(f"calls {name}")
        self.depth += 1
        if self.depth > 20:
            raise NotConvertible("recursion")
        params, body, _ = self.pkg.funcs[name]
        env = dict(self.pkg.consts)
        for p, a in zip(params, args):
            if [t[1] for t in a] == ["th"] or (a and a[0][1] == "th"):
                continue
            try:
                env[p] = self.string_expr(a, env_outer)
            except NotConvertible:
                if any(t[1] == "th" for t in a):
                    raise
        self.block(body, env)
        self.depth -= 1

    def block(self, body, env):
        for s in split_statements(body):
            self.stmt(s, env)

    def stmt(self, full, env):
        s = [t for t in full if t[0] != "nl"]
        words = [t[1] for t in s]
        uses_th = "th" in words
        # `runOpenApiTest(t, func(t *testing.T) { ... })`: the body runs once, in order.
        if words[:5] == ["runOpenApiTest", "(", "t", ",", "func"]:
            j = full.index(("op", "{"))
            self.block(full[j + 1:matching(full, j)], env)
            return
        # A table of test cases, and the loop running each as a subtest with its own harness.
        if len(words) > 3 and words[1] == ":=" and "struct" in words[2:8] and words[2] in ("map", "["):
            env[words[0]] = parse_table(full[[t[1] for t in full].index(":=") + 1:])
            for entry in env[words[0]]:
                entry.env = {k: v for k, v in env.items() if isinstance(v, str)}
            return
        if words[0] == "for" and "range" in words and isinstance(env.get(words[words.index("range") + 1]), list):
            self.table_loop(full, env)
            return
        if words[0] == "for" and "range" in words and words[words.index("range") + 1:words.index("range") + 3][1:] == ["."]:
            # `for _, f := range tc.input { f(th) }`
            r = words.index("range")
            entry = env.get(words[r + 1])
            var = words[r - 2] if words[r - 1] == ":=" else None
            if isinstance(entry, Entry) and var and words[r + 4:r + 9] == ["{", var, "(", "th", ")"]:
                value = entry.field(words[r + 3])
                if [t[1] for t in value[:3]] != ["[", "]", "FileGen"]:
                    raise NotConvertible("input list")
                value = [t for t in value if t[0] != "nl"]
                j = 3
                for g in split_args(value[j + 1:matching(value, j)]):
                    if g:
                        self.apply_filegen(g, env)
                return
        # `deployment("db", "prod/db")(th)`: a FileGen made and applied at once.
        if words[0] in self.pkg.funcs and words[1] == "(" and words[matching(s, 1) + 1:] == ["(", "th", ")"]:
            self.apply_filegen(s[:matching(s, 1) + 1], env)
            return
        # A string computed from the harness root (`dir := filepath.Join(th.GetRoot(), "x")`).
        if len(words) > 2 and words[1] == ":=" and "GetRoot" in words and words[2] != "th":
            env[words[0]] = self.string_expr(s[2:], env)
            return
        # `t.Run("name", func(t *testing.T) { ... })`: a subtest with its own harness.
        if words[:4] == ["t", ".", "Run", "("] and "func" in words and not self.label:
            k = full.index(("op", "{"))
            sub = Interp(self.pkg)
            sub.label = label_name(self.string_expr(split_args(s[4:matching(s, 3)])[0], env))
            sub.block(full[k + 1:matching(full, k)], dict(env))
            self.builds.extend(sub.builds)
            return
        if words[0] in ("if", "for", "switch", "select", "go") or (
                "{" in words and words[2:5] not in (["th", ".", "Run"], ["th", ".", "RunWithErr"])):
            if uses_th and any(w in words for w in ("WriteF", "WriteK", "WriteC", "Run", "RunWithErr", "Reset", "MkDir")):
                raise NotConvertible(f"harness used inside `{words[0]}`")
            if words[0] in ("for", "switch", "select") and any(w in words for w in ("th", "t")) and "Run" in words:
                raise NotConvertible("table-driven test")
            # A helper called inside a block (e.g. `if err := f(th)`) is not replayed.
            if uses_th and words[0] != "if":
                raise NotConvertible(f"harness used inside `{words[0]}`")
            return
        if words[0] == "defer":
            return
        if words[0] in ("const", "var"):
            s = s[1:]
            words = words[1:]
        # Assignment target.
        lhs = []
        if ":=" in words or "=" in words:
            k = words.index(":=") if ":=" in words else words.index("=")
            lhs = words[:k]
            rhs = s[k + 1:]
        else:
            rhs = s
        rw = [t[1] for t in rhs]
        if not rw:
            return
        if rw[:2] == ["th", "."] and len(rw) > 3 and rw[3] == "(":
            method = rw[2]
            end = matching(rhs, 3)
            args = split_args(rhs[4:end])
            if method in ("WriteF", "WriteK", "WriteC"):
                path = norm(self.string_expr(args[0], env))
                content = self.string_expr(args[1], env)
                if method == "WriteK":
                    path = join(path, "kustomization.yaml")
                    content = "\napiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n" + content
                elif method == "WriteC":
                    path = join(path, "kustomization.yaml")
                    content = "\napiVersion: kustomize.config.k8s.io/v1alpha1\nkind: Component\n" + content
                self.files[path] = content
            elif method in ("Run", "RunWithErr"):
                path = norm(self.string_expr(args[0], env))
                flags = self.options(args[1], env)
                self.builds.append((dict(self.files), set(self.dirs), path, flags, self.label))
            elif method in ("MakeDefaultOptions", "MakeOptionsPluginsDisabled", "MakeOptionsPluginsEnabled"):
                for v in lhs:
                    self.opts[v] = ["--reorder", "none"]
            elif method == "Reset":
                self.files.clear()
                self.dirs.clear()
            elif method == "MkDir":
                self.dirs.add(norm(self.string_expr(args[0], env)))
            elif method in ("BuildGoPlugin", "PrepExecPlugin", "ErrIfNoHelm", "WriteLegacyConfigs"):
                raise NotConvertible(f"th.{method}")
            elif method in IGNORED_TH:
                pass
            else:
                raise NotConvertible(f"th.{method}")
            return
        if len(rw) >= 2 and rw[0] in self.opts and rw[1] == "." and lhs:
            pass
        if lhs and len(lhs) == 3 and lhs[0] in self.opts and lhs[1] == ".":
            field, value = lhs[2], "".join(rw)
            if field == "Reorder" and value == "krusty.ReorderOptionLegacy":
                self.opts[lhs[0]] = [f for f in self.opts[lhs[0]] if f not in ("--reorder", "none")] + ["--reorder", "legacy"]
            elif field == "Reorder" and value == "krusty.ReorderOptionNone":
                pass
            elif field == "LoadRestrictions" and value == "types.LoadRestrictionsNone":
                self.opts[lhs[0]] = self.opts[lhs[0]] + ["--load-restrictor", "LoadRestrictionsNone"]
            elif field == "PluginConfig":
                pass
            else:
                raise NotConvertible(f"option {field} = {value}")
            return
        if rw[0] == "kusttest_test" and len(rw) > 2 and rw[2].startswith("Make"):
            if rw[2] in ("MakeHarness", "MakeEnhancedHarness", "MakeEnhancedHarnessWithTmpRoot"):
                return
            if rw[2] == "MakeHarnessWithFs":
                raise NotConvertible("harness on a custom file system")
            return
        if rw[0] in self.pkg.funcs and len(rw) > 1 and rw[1] == "(":
            end = matching(rhs, 1)
            args = split_args(rhs[2:end])
            if any(t[1] == "th" for a in args for t in a):
                self.run_func(rw[0], args, env)
                return
        if uses_th:
            raise NotConvertible("statement " + " ".join(words)[:60])
        if lhs and len(lhs) == 1:
            try:
                env[lhs[0]] = self.string_expr(rhs, env)
            except NotConvertible:
                env.pop(lhs[0], None)

    def table_loop(self, full, env):
        ids = [i for i, t in enumerate(full) if t[0] != "nl"]
        words = [full[i][1] for i in ids]
        r = words.index("range")
        var = words[r - 2] if words[r - 1] == ":=" and words[r - 3] == "," else None
        table_name = words[r + 1]
        table = env[table_name]
        open_body = ids[r + 2]
        body = full[open_body + 1:matching(full, open_body)]
        # `for name := range cases { c := cases[name]; ... }`
        if var is None and words[r - 1] == ":=":
            key = words[r - 2]
            for i in range(len(body) - 5):
                if [t[1] for t in body[i + 1:i + 6]] == [":=", table_name, "[", key, "]"]:
                    var = body[i][1]
                    body = body[:i] + body[i + 6:]
                    break
        bw = [t[1] for t in body]
        # `t.Run(name, func(t *testing.T) { ... })`
        for i in range(len(bw) - 3):
            if bw[i:i + 4] == ["t", ".", "Run", "("] and "func" in bw[i:]:
                k = body.index(("op", "{"), i)
                body = body[k + 1:matching(body, k)]
                break
        for entry in table:
            sub = Interp(self.pkg)
            sub.label = label_name(entry.label)
            inner = dict(env)
            inner[var] = entry
            sub.block(body, inner)
            self.builds.extend(sub.builds)

    def apply_filegen(self, toks, env):
        """Runs a FileGen: a function of the harness, or a call returning one."""
        toks = [t for t in toks if t[0] != "nl"]
        w = [t[1] for t in toks]
        if len(w) == 1:
            self.run_func(w[0], [[("id", "th")]], env)
            return
        if w[0] not in self.pkg.funcs or w[1] != "(":
            raise NotConvertible("FileGen " + " ".join(w)[:40])
        params, body, _ = self.pkg.funcs[w[0]]
        args = split_args(toks[2:matching(toks, 1)])
        inner = dict(self.pkg.consts)
        for p_, a in zip(params, args):
            inner[p_] = self.string_expr(a, env)
        k = next(i for i, t in enumerate(body) if t[0] != "nl")
        if body[k][1] != "return":
            raise NotConvertible(f"FileGen {w[0]}")
        ret = body[k + 1:]
        rw = [t[1] for t in ret if t[0] != "nl"]
        if rw[:1] == ["func"]:
            j = ret.index(("op", "{"))
            self.block(ret[j + 1:matching(ret, j)], inner)
        else:
            self.apply_filegen(ret, inner)

    def options(self, toks, env):
        w = [t[1] for t in toks]
        if len(w) == 1 and w[0] in self.opts:
            return list(self.opts[w[0]])
        if w[:2] == ["th", "."] and w[2] in ("MakeDefaultOptions", "MakeOptionsPluginsDisabled", "MakeOptionsPluginsEnabled"):
            return ["--reorder", "none"]
        if w[:2] == ["*", "krusty"] and w[3] == "MakeDefaultOptions":
            return ["--reorder", "none"]
        if w[:4] == ["func", "(", ")", "Options"] and w[4] == "{":
            # `func() Options { o := th.MakeDefaultOptions(); o.X = ...; return o }()`
            flags = ["--reorder", "none"]
            for i, t in enumerate(w):
                if t == "=" and w[i + 1:i + 4] == ["types", ".", "LoadRestrictionsNone"]:
                    flags += ["--load-restrictor", "LoadRestrictionsNone"]
                elif t == "=" and w[i + 1:i + 4] == ["types", ".", "LoadRestrictionsRootOnly"]:
                    pass
                elif t == "=" and w[i + 1:i + 4] == ["krusty", ".", "ReorderOptionLegacy"]:
                    flags = flags[2:] + ["--reorder", "legacy"]
                elif t == "=":
                    raise NotConvertible("options " + "".join(w[i - 1:i + 4]))
            return flags
        raise NotConvertible("options " + "".join(w)[:60])


def split_plus(toks):
    parts, cur, depth = [], [], 0
    for t in toks:
        if t[0] == "op" and t[1] in "([{":
            depth += 1
        elif t[0] == "op" and t[1] in ")]}":
            depth -= 1
        if depth == 0 and t == ("op", "+"):
            parts.append(cur)
            cur = []
            continue
        cur.append(t)
    parts.append(cur)
    return parts


def norm(p):
    p = os.path.normpath(p).lstrip("/")
    return "" if p == "." else p


def join(a, b):
    return f"{a}/{b}" if a else b


def krusty_cases(src, cases_dir):
    """Writes one folder per convertible th.Run; returns (tests, cases, not_convertible list)."""
    files = sorted((src / "api" / "krusty").glob("*_test.go"))
    pkg = Package(files)
    stats = {"tests": 0, "cases": 0, "not_convertible": [], "without_build": 0}
    for name, (params, body, fname) in sorted(pkg.funcs.items(), key=lambda kv: (kv[1][2], kv[0])):
        if not name.startswith("Test"):
            continue
        stats["tests"] += 1
        it = Interp(pkg)
        try:
            it.block(body, dict(pkg.consts))
        except (NotConvertible, IndexError, KeyError, ValueError, SyntaxError) as e:
            stats["not_convertible"].append(f"{fname}:{name}: {e}")
            continue
        if not it.builds:
            stats["without_build"] += 1
            continue
        stem = fname[: -len("_test.go")]
        labels = [b[4] for b in it.builds]
        for n, (fs, dirs, path, flags, label) in enumerate(it.builds):
            case_name = f"{stem}__{name}" + (f"__{label}" if label else "")
            if labels.count(label) > 1:
                case_name += f"-{labels[:n + 1].count(label)}"
            case = cases_dir / case_name
            tree = case / "tree"
            tree.mkdir(parents=True)
            for d in dirs:
                (tree / d).mkdir(parents=True, exist_ok=True)
            for p, content in fs.items():
                f = tree / p
                f.parent.mkdir(parents=True, exist_ok=True)
                f.write_text(content)
            (tree / path).mkdir(parents=True, exist_ok=True)
            (case / "build.txt").write_text(join("tree", path) + "\n" + " ".join(flags) + "\n")
            stats["cases"] += 1
    return stats


# ----------------------------------------------------------------------------- public trees


def public_cases(repos, work, cases_dir, fetch):
    n = 0
    for url, ref, subdirs, flags in repos:
        key = repo_key(url)
        src = checkout(url, ref, work, fetch)
        seen = set()
        for sub in subdirs:
            base = (src / sub).resolve()
            for root, dirnames, filenames in os.walk(base):
                dirnames[:] = sorted(d for d in dirnames if d != ".git")
                if not any(k in filenames for k in KUST_NAMES):
                    continue
                rel = os.path.relpath(root, src)
                if rel in seen:
                    continue
                seen.add(rel)
                name = key + ("__" + rel.replace("/", "__") if rel != "." else "")
                case = cases_dir / name
                case.mkdir(parents=True)
                target = os.path.relpath(root, case)
                (case / "build.txt").write_text(target + "\n" + " ".join(flags) + "\n")
                n += 1
    return n


# ----------------------------------------------------------------------------- running


def run_case(case, driver, refresh):
    spec = (case / "build.txt").read_text().split("\n")
    target = (case / spec[0]).resolve() if spec[0] else case
    flags = spec[1].split() if len(spec) > 1 else []
    for who, cmd in (("kubectl", ["kubectl", "kustomize", str(target), *flags]), ("ours", [str(driver), str(target), *flags])):
        if who == "kubectl" and (case / "kubectl.rc").is_file() and not refresh:
            continue
        try:
            p = subprocess.run(cmd, capture_output=True, timeout=TIMEOUT)
            rc, out, err = p.returncode, p.stdout, p.stderr
        except subprocess.TimeoutExpired:
            rc, out, err = 124, b"", f"timeout after {TIMEOUT} s".encode()
        (case / f"{who}.out").write_bytes(out)
        (case / f"{who}.err").write_bytes(err)
        (case / f"{who}.rc").write_text(f"{rc}\n")
    return classify(case)


def classify(case):
    k_rc = int((case / "kubectl.rc").read_text())
    o_rc = int((case / "ours.rc").read_text())
    if k_rc != 0 and o_rc != 0:
        return "both-error", ""
    if k_rc != 0:
        err = (case / "kubectl.err").read_text(errors="replace").strip().splitlines()
        return "kubectl-only-error", (err[-1] if err else "")[:200]
    if o_rc != 0:
        err = (case / "ours.err").read_text(errors="replace").strip().splitlines()
        return "ours-only-error", (err[-1] if err else "")[:300]
    a = (case / "kubectl.out").read_bytes()
    b = (case / "ours.out").read_bytes()
    if a == b:
        return "identical", ""
    al, bl = a.decode(errors="replace").split("\n"), b.decode(errors="replace").split("\n")
    for i, (x, y) in enumerate(zip(al, bl)):
        if x != y:
            return "different", f"line {i + 1}: kubectl {x[:100]!r} ours {y[:100]!r}"
    return "different", f"line {min(len(al), len(bl)) + 1}: lengths {len(al)} vs {len(bl)} lines"


KINDS = ["identical", "different", "ours-only-error", "kubectl-only-error", "both-error"]


def main():
    here = Path(__file__).resolve().parent
    root = here.parent
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--work", default=os.environ.get("KUSTOMIZE_CORPUS_WORK", str(root / "target" / "kustomize-corpus")))
    ap.add_argument("--repos", default=str(here / "kustomize-corpus-repos.txt"))
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--only", choices=["krusty", "public"])
    ap.add_argument("--refresh", action="store_true", help="rerun kubectl instead of reusing its cached output")
    ap.add_argument("--no-fetch", action="store_true", help="use the trees already in the work dir")
    ap.add_argument("--no-cargo", action="store_true", help="use the built driver as it is")
    ap.add_argument("--driver", help="our build command to compare (default: the kustomize-build example, built first)")
    ap.add_argument("--fail-under", type=float, help="exit 1 if a source's identical share is lower")
    ap.add_argument("--list", action="store_true", help="only (re)create the case folders")
    a = ap.parse_args()
    work = Path(a.work).resolve()
    work.mkdir(parents=True, exist_ok=True)

    if a.driver:
        driver = Path(a.driver).resolve()
    else:
        if not a.no_cargo and not a.list:
            subprocess.run(["cargo", "build", "--quiet", "-p", "gitops-kustomize", "--example", "kustomize-build"], cwd=root, check=True)
        target_dir = Path(os.environ.get("CARGO_TARGET_DIR", root / "target"))
        driver = target_dir / "debug" / "examples" / "kustomize-build"

    sources = [a.only] if a.only else ["krusty", "public"]
    info = {}
    for s in sources:
        cases_dir = work / "cases" / s
        # Case folders are cheap to recreate, but keep kubectl's cached answers.
        cached = {}
        if cases_dir.is_dir() and not a.refresh:
            for c in cases_dir.iterdir():
                if (c / "kubectl.rc").is_file():
                    cached[c.name] = {f: (c / f).read_bytes() for f in ("build.txt", "kubectl.out", "kubectl.err", "kubectl.rc")}
            shutil.rmtree(cases_dir)
        elif cases_dir.is_dir():
            shutil.rmtree(cases_dir)
        cases_dir.mkdir(parents=True)
        if s == "krusty":
            src = checkout(KUSTOMIZE_REPO, KUSTOMIZE_REF, work, not a.no_fetch)
            info[s] = krusty_cases(src, cases_dir)
        else:
            info[s] = {"cases": public_cases(read_repo_list(Path(a.repos)), work, cases_dir, not a.no_fetch)}
        for name, files in cached.items():
            c = cases_dir / name
            # Reused only for the same directory and flags.
            if c.is_dir() and (c / "build.txt").read_bytes() == files.pop("build.txt"):
                for f, data in files.items():
                    (c / f).write_bytes(data)
    if a.list:
        print(json.dumps(info, indent=1))
        return 0

    results = {}
    with concurrent.futures.ThreadPoolExecutor(max_workers=a.jobs) as ex:
        futs = {}
        for s in sources:
            for c in sorted((work / "cases" / s).iterdir()):
                futs[ex.submit(run_case, c, driver, a.refresh)] = (s, c.name)
        for f in concurrent.futures.as_completed(futs):
            s, name = futs[f]
            kind, reason = f.result()
            # Paths inside the work dir say nothing the case name does not.
            reason = reason.replace(str(work / "cases" / s / name) + "/", "").replace(str(work) + "/", "")
            results.setdefault(s, {})[name] = (kind, reason)

    lines = []
    summary = {}
    failed = False
    for s in sources:
        counts = {k: 0 for k in KINDS}
        for kind, _ in results.get(s, {}).values():
            counts[kind] += 1
        built = counts["identical"] + counts["different"] + counts["ours-only-error"]
        pct = 100.0 * counts["identical"] / built if built else 100.0
        summary[s] = dict(counts, kubectl_builds=built, identical_pct=round(pct, 2))
        extra = ""
        if s == "krusty":
            st = info[s]
            summary[s]["go_tests"] = st["tests"]
            summary[s]["not_convertible"] = len(st["not_convertible"])
            summary[s]["tests_without_build"] = st["without_build"]
            extra = f" (from {st['tests']} Go tests: {len(st['not_convertible'])} not convertible, {st['without_build']} without a build)"
        lines.append(f"{s}: {sum(counts.values())} cases{extra}")
        lines.append("  " + "  ".join(f"{k} {v}" for k, v in counts.items()))
        lines.append(f"  identical on cases kubectl builds: {counts['identical']}/{built} ({pct:.1f}%)")
        if a.fail_under is not None and pct < a.fail_under:
            failed = True
    lines.append("")
    for s in sources:
        for name, (kind, reason) in sorted(results.get(s, {}).items()):
            if kind not in ("identical", "both-error"):
                lines.append(f"{kind:18} {s}/{name}: {reason}")
    if "krusty" in info:
        lines.append("")
        lines.extend("not convertible: " + n for n in info["krusty"]["not_convertible"])
    text = "\n".join(lines) + "\n"
    (work / "report.txt").write_text(text)
    (work / "summary.json").write_text(json.dumps(
        {"summary": summary, "cases": {s: {n: {"result": k, "reason": r} for n, (k, r) in sorted(v.items())} for s, v in results.items()}},
        indent=1))
    print(text, end="")
    print(f"(report: {work / 'report.txt'})")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
