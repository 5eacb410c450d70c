//! Go's `fmt` and float printing, generated: every number through many verbs.

const FLOATS: &[&str] = &[
    "0.0",
    "1.0",
    "-1.0",
    "3.0",
    "0.5",
    "0.1",
    "0.25",
    "1.5",
    "2.5",
    "-2.5",
    "10.0",
    "100.0",
    "1000.0",
    "99999.0",
    "100000.0",
    "999999.0",
    "1000000.0",
    "1234567.0",
    "12345678.9",
    "123456789.0",
    "1e20",
    "1e21",
    "1.5e300",
    "1e-4",
    "1e-5",
    "0.00012345",
    "0.000012345",
    "3.14159265358979",
    "2.718281828459045",
    "0.30000000000000004",
    "1.7976931348623157e308",
    "5e-324",
    "123.456",
    "0.999999",
    "9.9999999",
    "0.05",
    "1.005",
    "2.675",
    "1e6",
    "1e7",
];

const FLOAT_FORMATS: &[&str] = &[
    "%v", "%g", "%e", "%E", "%f", "%.2f", "%.0f", "%8.3f", "%-10.2e|", "%G", "%.3g", "%.10g",
    "%+.1f", "% .2f", "%010.4f", "%#g", "%#.3f", "%.1e", "%12g|", "%-12g|", "%.0e", "%s", "%d",
    "%x",
];

const INTS: &[&str] = &[
    "0",
    "1",
    "-1",
    "42",
    "255",
    "-255",
    "65",
    "1000000",
    "9223372036854775807",
    "-9223372036854775808",
    "0x41",
    "'x'",
];

const INT_FORMATS: &[&str] = &[
    "%v", "%d", "%5d|", "%-5d|", "%05d", "%+d", "% d", "%x", "%X", "%#x", "%#X", "%o", "%#o", "%O",
    "%b", "%#b", "%c", "%q", "%U", "%#U", "%.3d", "%8.3d|", "%s", "%f", "%t", "%e",
];

const STRINGS: &[&str] = &[
    r#""""#,
    r#""a""#,
    r#""hello world""#,
    r#""héllo""#,
    r#""tab\there""#,
    r#""quote\"d""#,
    r#""new\nline""#,
    r#""back`tick""#,
    r#""\x00\x01""#,
    r#""✓ ünïcödé""#,
    r#""%d""#,
];

const STRING_FORMATS: &[&str] = &[
    "%v", "%s", "%q", "%+q", "%#q", "%x", "%X", "% x", "%#x", "%10s|", "%-10s|", "%.2s", "%5.1s|",
    "%d", "%t", "%c", "%010s",
];

const VALUE_EXPRS: &[&str] = &[
    ".Values.num",
    ".Values.float",
    ".Values.big",
    ".Values.huge",
    ".Values.small",
    ".Values.neg",
    ".Values.list",
    ".Values.map",
    ".Values.nested",
    ".Values.mixed",
    ".Values.nul",
    ".Values.missing",
    ".Values.t",
    ".Values.str",
    ".Values.emptyList",
    ".Values.emptyMap",
    ".Values.nums",
    ".Values.ports",
];

const VALUE_FORMATS: &[&str] = &["%v", "%s", "%d", "%q", "%x", "%5v|", "%T"];

fn quote(s: &str) -> String {
    format!("{s:?}")
}

/// A case per number (all its formats in one template) and per value expression.
pub fn cases() -> Vec<String> {
    let mut v = Vec::new();
    for f in FLOATS {
        v.push(format!("{{{{ {f} }}}}"));
        let fmts: Vec<String> = FLOAT_FORMATS
            .iter()
            .map(|fmt| format!("{{{{ printf {} {f} }}}}", quote(fmt)))
            .collect();
        v.push(fmts.join("\n"));
        v.push(format!("{{{{ print {f} {f} }}}} {{{{ println {f} }}}}"));
    }
    for i in INTS {
        let fmts: Vec<String> = INT_FORMATS
            .iter()
            .map(|fmt| format!("{{{{ printf {} {i} }}}}", quote(fmt)))
            .collect();
        v.push(format!("{{{{ {i} }}}}\n{}", fmts.join("\n")));
    }
    for s in STRINGS {
        let fmts: Vec<String> = STRING_FORMATS
            .iter()
            .map(|fmt| format!("{{{{ printf {} {s} }}}}", quote(fmt)))
            .collect();
        v.push(format!("{{{{ {s} }}}}\n{}", fmts.join("\n")));
    }
    for e in VALUE_EXPRS {
        for fmt in VALUE_FORMATS {
            v.push(format!("{{{{ printf {} {e} }}}}", quote(fmt)));
        }
        v.push(format!(
            "{{{{ {e} }}}} {{{{ print {e} }}}} {{{{ print {e} {e} }}}}"
        ));
    }
    v.push("{{ printf \"%d %s %v\" 1 }}".into());
    v.push("{{ printf \"%d\" 1 2 \"x\" }}".into());
    v.push("{{ printf \"%*d|%-*d|\" 5 1 4 2 }}".into());
    v.push("{{ printf \"%.*f\" 2 3.14159 }}".into());
    v.push("{{ printf \"%*d\" \"x\" 1 }}".into());
    v.push("{{ printf \"%v %v\" .Values.t .Values.f }}".into());
    v.push("{{ printf \"%t\" 1 }}".into());
    v.push("{{ printf \"%5t|%-6t|\" true false }}".into());
    v.push("{{ printf \"%%d %d%%\" 5 }}".into());
    v.push("{{ printf \"%[1]d %[1]d\" 5 }}".into());
    v.push("{{ printf \"%v\" nil }}".into());
    v
}
