//! Probe: how deep things go in a 2 MiB thread.
fn main() {
    use gitops_gotmpl::*;
    let run = |text: String| {
        std::thread::Builder::new()
            .stack_size(2 << 20)
            .spawn(move || {
                let t = Template::parse("t", &text).map_err(|e| e.to_string())?;
                t.execute(&Value::Nil)
                    .map(|_| ())
                    .map_err(|e| e.to_string())
            })
            .unwrap()
            .join()
            .unwrap()
    };
    println!(
        "{:?}",
        run(r#"{{ define "r" }}{{ template "r" . }}{{ end }}{{ template "r" . }}"#.into())
    );
    for n in [100usize, 500, 999, 100000] {
        println!(
            "if {n}: {:?}",
            run(format!(
                "{}x{}",
                "{{ if true }}".repeat(n),
                "{{ end }}".repeat(n)
            ))
        );
        println!(
            "paren {n}: {:?}",
            run(format!("{{{{ {}1{} }}}}", "(".repeat(n), ")".repeat(n)))
        );
    }
}
