//! Bad charts and values end quickly with a clear error naming the file: never a panic, a
//! hang or unbounded memory.

use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

use gitops_helm::TemplateOptions;

fn tgz(entries: &[(&str, &[u8])]) -> Vec<u8> {
    let gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    let mut tar = tar::Builder::new(gz);
    for (name, data) in entries {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_entry_type(tar::EntryType::Regular);
        // Written raw so that `..` and absolute names reach the archive unchanged.
        let bytes = name.as_bytes();
        h.as_old_mut().name[..bytes.len()].copy_from_slice(bytes);
        h.set_cksum();
        tar.append(&h, *data).expect("append");
    }
    tar.into_inner().expect("tar").finish().expect("gz")
}

const CHART_YAML: &[u8] = b"apiVersion: v2\nname: c\nversion: 0.1.0\n";

fn load_err(data: &[u8]) -> String {
    gitops_helm::chart::load_archive("c.tgz", data)
        .expect_err("must be refused")
        .to_string()
}

#[test]
fn archive_path_escaping_the_root_is_refused() {
    let e = load_err(&tgz(&[
        ("c/Chart.yaml", CHART_YAML),
        ("c/../../etc/x", b"x"),
    ]));
    assert!(
        e.contains("c.tgz") && e.contains("escapes the chart root"),
        "{e}"
    );
    let e = load_err(&tgz(&[("/abs/Chart.yaml", CHART_YAML)]));
    assert!(e.contains("escapes the chart root"), "{e}");
}

#[test]
fn archive_symlink_is_refused() {
    let gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    let mut tar = tar::Builder::new(gz);
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(tar::EntryType::Symlink);
    h.set_size(0);
    tar.append_link(&mut h, "c/link", "/etc/passwd")
        .expect("link");
    let data = tar.into_inner().expect("tar").finish().expect("gz");
    let e = load_err(&data);
    assert!(e.contains("only regular files"), "{e}");
}

#[test]
fn archive_decompression_bomb_is_refused_in_bounded_time() {
    // 64 MiB of zeros compresses to ~64 KiB; one file past the 5 MiB bound stops at once.
    let gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    let mut tar = tar::Builder::new(gz);
    let mut h = tar::Header::new_gnu();
    h.set_size(64 << 20);
    h.set_mode(0o644);
    h.set_path("c/templates/big.yaml").expect("path");
    h.set_cksum();
    tar.append(&h, std::io::repeat(0).take_bytes(64 << 20))
        .expect("append");
    let data = tar.into_inner().expect("tar").finish().expect("gz");
    assert!(data.len() < 1 << 20, "{}", data.len());
    let start = Instant::now();
    let e = load_err(&data);
    assert!(e.contains("big.yaml") && e.contains("larger than"), "{e}");
    assert!(start.elapsed() < Duration::from_secs(10));
}

trait TakeBytes: std::io::Read + Sized {
    fn take_bytes(self, n: u64) -> std::io::Take<Self> {
        self.take(n)
    }
}
impl<R: std::io::Read> TakeBytes for R {}

#[test]
fn archive_with_too_many_files_is_refused() {
    let names: Vec<String> = (0..gitops_helm::chart::MAX_FILES + 1)
        .map(|i| format!("c/f{i}"))
        .collect();
    let mut entries: Vec<(&str, &[u8])> = vec![("c/Chart.yaml", CHART_YAML)];
    entries.extend(names.iter().map(|n| (n.as_str(), &b""[..])));
    let e = load_err(&tgz(&entries));
    assert!(e.contains("more than"), "{e}");
}

#[test]
fn garbage_archive_is_an_error() {
    let e = load_err(b"not gzip at all");
    assert!(e.contains("c.tgz"), "{e}");
}

fn chart(dir: &Path, values: &str, template: &str) {
    std::fs::create_dir_all(dir.join("templates")).expect("mkdir");
    std::fs::write(dir.join("Chart.yaml"), CHART_YAML).expect("w");
    std::fs::write(dir.join("values.yaml"), values).expect("w");
    std::fs::write(dir.join("templates/t.yaml"), template).expect("w");
}

#[test]
fn values_alias_bomb_names_the_file_and_line() {
    let tmp = tempfile::tempdir().expect("tmp");
    let mut v = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
    for i in 1..10 {
        let p = i - 1;
        v.push_str(&format!(
            "a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n"
        ));
    }
    chart(tmp.path(), &v, "x: 1\n");
    let e = gitops_helm::template(tmp.path(), &TemplateOptions::new("r"))
        .expect_err("bomb")
        .to_string();
    assert!(e.contains("values.yaml:") && e.contains("aliases"), "{e}");
}

#[test]
fn malformed_values_name_file_and_line() {
    let tmp = tempfile::tempdir().expect("tmp");
    chart(tmp.path(), "a: 1\nb: [\n", "x: 1\n");
    let e = gitops_helm::template(tmp.path(), &TemplateOptions::new("r"))
        .expect_err("bad yaml")
        .to_string();
    assert!(e.contains("values.yaml:"), "{e}");
}

#[test]
fn endless_include_recursion_is_an_error() {
    let tmp = tempfile::tempdir().expect("tmp");
    chart(
        tmp.path(),
        "",
        "{{ define \"loop\" }}{{ include \"loop\" . }}{{ end }}x: {{ include \"loop\" . }}\n",
    );
    let e = gitops_helm::template(tmp.path(), &TemplateOptions::new("r"))
        .expect_err("recursion")
        .to_string();
    assert!(e.contains("t.yaml") && e.contains("include"), "{e}");
}

#[test]
fn huge_range_ends() {
    let tmp = tempfile::tempdir().expect("tmp");
    chart(tmp.path(), "", "{{ range until 100000000 }}{{ end }}x: 1\n");
    let start = Instant::now();
    let r = gitops_helm::template(tmp.path(), &TemplateOptions::new("r"));
    assert!(start.elapsed() < Duration::from_secs(30));
    assert!(r.is_err(), "{r:?}");
}

#[test]
fn unknown_function_and_missing_required_value_are_named() {
    let tmp = tempfile::tempdir().expect("tmp");
    chart(tmp.path(), "", "x: {{ nosuch 1 }}\n");
    let e = gitops_helm::template(tmp.path(), &TemplateOptions::new("r"))
        .expect_err("unknown")
        .to_string();
    assert!(e.contains("t.yaml") && e.contains("\"nosuch\""), "{e}");
    chart(tmp.path(), "", "x: {{ required \"set .a\" .Values.a }}\n");
    let e = gitops_helm::template(tmp.path(), &TemplateOptions::new("r"))
        .expect_err("required")
        .to_string();
    assert!(e.contains("t.yaml") && e.ends_with("set .a"), "{e}");
    // The one function argument not implemented fails by name, never with an empty value.
    chart(tmp.path(), "", "x: {{ genPrivateKey \"dsa\" }}\n");
    let e = gitops_helm::template(tmp.path(), &TemplateOptions::new("r"))
        .expect_err("dsa")
        .to_string();
    assert!(
        e.contains("genPrivateKey") && e.contains("dsa keys are not supported"),
        "{e}"
    );
}

#[test]
fn invalid_utf8_template_is_named() {
    let tmp = tempfile::tempdir().expect("tmp");
    chart(tmp.path(), "", "x: 1\n");
    let mut f = std::fs::File::create(tmp.path().join("templates/bad.yaml")).expect("f");
    f.write_all(b"x: \xff\n").expect("w");
    let e = gitops_helm::template(tmp.path(), &TemplateOptions::new("r"))
        .expect_err("utf8")
        .to_string();
    assert!(e.contains("bad.yaml") && e.contains("UTF-8"), "{e}");
}

#[test]
fn dependency_missing_from_charts_dir_is_named() {
    let tmp = tempfile::tempdir().expect("tmp");
    chart(tmp.path(), "", "x: 1\n");
    std::fs::write(
        tmp.path().join("Chart.yaml"),
        "apiVersion: v2\nname: c\nversion: 0.1.0\ndependencies:\n- name: gone\n  version: 1.0.0\n",
    )
    .expect("w");
    let e = gitops_helm::template(tmp.path(), &TemplateOptions::new("r"))
        .expect_err("missing")
        .to_string();
    assert!(e.contains("missing in charts/ directory: gone"), "{e}");
}

#[test]
fn malformed_set_is_an_error() {
    let tmp = tempfile::tempdir().expect("tmp");
    chart(tmp.path(), "", "x: 1\n");
    let e = gitops_helm::template(tmp.path(), &TemplateOptions::new("r").with_set("a[x]=1"))
        .expect_err("set")
        .to_string();
    assert!(e.contains("a[x]=1"), "{e}");
}

#[tokio::test]
async fn renderer_returns_objects_and_refuses_paths_outside_the_root() {
    use gitops_core::Renderer;
    use gitops_core::render::RenderRequest;
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path().join("charts/c");
    chart(
        &dir,
        "name: cm\n",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Values.name }}\n  namespace: {{ .Release.Namespace }}\n",
    );
    let r = gitops_helm::HelmRenderer::new(TemplateOptions::new("r").with_namespace("ns"));
    let objects = r
        .render(&RenderRequest::new(tmp.path(), "charts/c"))
        .await
        .expect("render");
    assert_eq!(objects.len(), 1);
    assert_eq!(objects[0].id().name, "cm");
    let e = r
        .render(&RenderRequest::new(&dir, "../.."))
        .await
        .expect_err("escape");
    assert!(e.to_string().contains("escapes"), "{e}");
}

#[test]
fn invalid_chart_metadata_is_refused_as_helm_refuses_it() {
    let tmp = tempfile::tempdir().expect("tmp");
    chart(tmp.path(), "", "x: 1\n");
    for (meta, want) in [
        (
            "apiVersion: v2\nname: c\n",
            "chart.metadata.version is required",
        ),
        (
            "apiVersion: v2\nname: c\nversion: abc\n",
            "chart.metadata.version \"abc\" is invalid",
        ),
        (
            "apiVersion: v3\nname: c\nversion: 1.0.0\n",
            "invalid chart apiVersion",
        ),
        (
            "apiVersion: v2\nname: c\nversion: 1.0.0\ntype: library\n",
            "library charts are not installable",
        ),
        (
            "apiVersion: v2\nname: c\nversion: 1.0.0\ntype: x\n",
            "type must be application or library",
        ),
    ] {
        std::fs::write(tmp.path().join("Chart.yaml"), meta).expect("w");
        let e = gitops_helm::template(tmp.path(), &TemplateOptions::new("r"))
            .expect_err(meta)
            .to_string();
        assert!(e.contains(want), "{meta}: {e}");
    }
}

/// A chart directory whose file or subdirectory is a link out of the chart is refused,
/// while a link that stays inside is followed (the walk resolves links only).
#[cfg(unix)]
#[test]
fn directory_symlinks_escaping_the_root_are_refused() {
    let tmp = tempfile::tempdir().expect("tmp");
    let outside = tmp.path().join("outside");
    std::fs::create_dir_all(&outside).expect("outside");
    std::fs::write(outside.join("secret.txt"), "s").expect("secret");
    let chart = tmp.path().join("c");
    std::fs::create_dir_all(chart.join("templates/inner")).expect("chart");
    std::fs::write(chart.join("Chart.yaml"), CHART_YAML).expect("Chart.yaml");
    std::fs::write(chart.join("templates/inner/cm.yaml"), "a: 1\n").expect("template");
    std::os::unix::fs::symlink(
        chart.join("templates/inner"),
        chart.join("templates/linked"),
    )
    .expect("inner link");
    let out = gitops_helm::template(&chart, &TemplateOptions::new("r")).expect("inner link");
    assert!(
        out.contains("# Source: c/templates/linked/cm.yaml"),
        "{out}"
    );

    std::os::unix::fs::symlink(outside.join("secret.txt"), chart.join("leak.txt")).expect("link");
    let e = gitops_helm::template(&chart, &TemplateOptions::new("r"))
        .expect_err("file link out")
        .to_string();
    assert!(
        e.contains("leak.txt: symlink escapes the chart root"),
        "{e}"
    );
    std::fs::remove_file(chart.join("leak.txt")).expect("unlink");

    std::os::unix::fs::symlink(&outside, chart.join("templates/dir")).expect("dir link");
    let e = gitops_helm::template(&chart, &TemplateOptions::new("r"))
        .expect_err("directory link out")
        .to_string();
    assert!(
        e.contains("templates/dir: symlink escapes the chart root"),
        "{e}"
    );
}

/// `.helmignore` and `.Files.Glob` patterns come from the chart: a pattern built to backtrack
/// (`*a*a*a…b` against a long name, or `{a,b}` groups that multiply) must end at once, not run
/// for minutes (the first took longer than 60 s before the matchers remembered failed positions).
#[test]
fn backtracking_ignore_and_glob_patterns_end_quickly() {
    let tmp = tempfile::tempdir().expect("tmp");
    let stars = "*a".repeat(30) + "b";
    let alternatives = "{a,aa}".repeat(24) + "b";
    chart(
        tmp.path(),
        "",
        &format!(
            "n: {{{{ len (.Files.Glob {alternatives:?}) }}}}\nm: {{{{ len (.Files.Glob {stars:?}) }}}}\n"
        ),
    );
    let long = "a".repeat(60);
    std::fs::write(tmp.path().join(&long), "x").expect("w");
    std::fs::write(tmp.path().join(".helmignore"), format!("{stars}\n")).expect("w");
    let started = Instant::now();
    let out = gitops_helm::template(tmp.path(), &TemplateOptions::new("r")).expect("renders");
    assert!(out.contains("n: 0") && out.contains("m: 0"), "{out}");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
}

/// `fromToml` on deeply nested or broken TOML ends with Helm's error map, never a stack
/// overflow or a hang.
#[test]
fn from_toml_on_hostile_input_gives_an_error_map() {
    let deep = format!("a = {}1{}", "[".repeat(100_000), "]".repeat(100_000));
    let started = std::time::Instant::now();
    let v = gitops_helm::toml::from_toml(&deep);
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
    let gitops_gotmpl::Value::Map(m) = v else {
        panic!("not a map: {v:?}")
    };
    assert!(m.get("Error").is_some(), "deep nesting is refused");
}
