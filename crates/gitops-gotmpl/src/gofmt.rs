//! Go's `fmt` for the values templates hold: `Sprint`, `Sprintln`, `Sprintf` with the verbs,
//! flags, widths and precisions charts use, and `strconv`'s float and quoting rules.

use crate::Value;

/// Go's `fmt.Sprint`: operands printed with `%v`, a space between two operands when neither is
/// a string.
pub fn sprint(args: &[Value]) -> String {
    let mut out = String::new();
    for (i, a) in args.iter().enumerate() {
        let is_string = matches!(a, Value::String(_));
        if i > 0 && !is_string && !matches!(args[i - 1], Value::String(_)) {
            out.push(' ');
        }
        print_value(&mut out, a, 'v', &Flags::default(), 0);
    }
    out
}

/// Go's `fmt.Sprintln`: operands with `%v`, always separated by spaces, then a newline.
pub fn sprintln(args: &[Value]) -> String {
    let mut out = String::new();
    for (i, a) in args.iter().enumerate() {
        if i > 0 {
            out.push(' ');
        }
        print_value(&mut out, a, 'v', &Flags::default(), 0);
    }
    out.push('\n');
    out
}

#[derive(Default, Clone)]
struct Flags {
    plus: bool,
    minus: bool,
    sharp: bool,
    space: bool,
    zero: bool,
    width: Option<usize>,
    prec: Option<usize>,
    /// `%#v`: Go syntax.
    sharp_v: bool,
}

/// Go's `fmt.Sprintf`.
pub fn sprintf(format: &str, args: &[Value]) -> String {
    let mut out = String::new();
    let mut argi = 0;
    let mut reordered = false;
    let b = format.as_bytes();
    let mut i = 0;
    while i < b.len() {
        // Copy literal text up to the next '%'.
        let start = i;
        while i < b.len() && b[i] != b'%' {
            i += 1;
        }
        out.push_str(&format[start..i]);
        if i >= b.len() {
            break;
        }
        i += 1; // the '%'
        let mut f = Flags::default();
        while i < b.len() {
            match b[i] {
                b'#' => f.sharp = true,
                b'0' => f.zero = !f.minus,
                b'+' => f.plus = true,
                b'-' => {
                    f.minus = true;
                    f.zero = false;
                }
                b' ' => f.space = true,
                _ => break,
            }
            i += 1;
        }
        // An explicit argument index, `[n]`, applies to what follows.
        let arg_index = |i: &mut usize, argi: &mut usize, reordered: &mut bool| {
            if *i < b.len() && b[*i] == b'[' {
                let (n, j) = parse_num(b, *i + 1);
                if j < b.len() && b[j] == b']' && j > *i + 1 && n >= 1 {
                    *argi = n - 1;
                    *reordered = true;
                    *i = j + 1;
                    return true;
                }
                return false;
            }
            true
        };
        if !arg_index(&mut i, &mut argi, &mut reordered) {
            out.push_str("%!(BADINDEX)");
            while i < b.len() && b[i] != b']' {
                i += 1;
            }
            i += 1;
            continue;
        }
        // Width: a number or '*'.
        if i < b.len() && b[i] == b'*' {
            i += 1;
            match args.get(argi) {
                Some(Value::Int(n) | Value::Int64(n)) => {
                    argi += 1;
                    if *n < 0 {
                        f.minus = true;
                        f.zero = false;
                    }
                    f.width = Some(n.unsigned_abs().min(1_000_000) as usize);
                }
                _ => {
                    argi += 1;
                    out.push_str("%!(BADWIDTH)");
                }
            }
        } else {
            let (n, j) = parse_num(b, i);
            if j > i {
                f.width = Some(n);
                i = j;
            }
        }
        if i < b.len() && b[i] == b'.' {
            i += 1;
            if i < b.len() && b[i] == b'*' {
                i += 1;
                match args.get(argi) {
                    Some(Value::Int(n) | Value::Int64(n)) if *n >= 0 => {
                        argi += 1;
                        f.prec = Some((*n).min(1_000_000) as usize);
                    }
                    _ => {
                        argi += 1;
                        out.push_str("%!(BADPREC)");
                    }
                }
            } else {
                let (n, j) = parse_num(b, i);
                f.prec = Some(n);
                i = j;
            }
        }
        if !arg_index(&mut i, &mut argi, &mut reordered) {
            out.push_str("%!(BADINDEX)");
            continue;
        }
        let Some(verb) = format[i..].chars().next() else {
            out.push_str("%!(NOVERB)");
            break;
        };
        i += verb.len_utf8();
        if verb == '%' {
            out.push('%');
            continue;
        }
        let Some(arg) = args.get(argi) else {
            out.push_str(&format!("%!{verb}(MISSING)"));
            continue;
        };
        argi += 1;
        if verb == 'T' {
            let t = if arg.is_nil() {
                "<nil>"
            } else {
                arg.type_name()
            };
            pad(&mut out, t, &f);
            continue;
        }
        if verb == 'v' {
            // For %v, '#' asks for Go syntax and '+' for field names (structs only): neither
            // is a number flag.
            f.sharp_v = f.sharp;
            f.sharp = false;
            f.plus = false;
            if f.sharp_v {
                go_syntax(&mut out, arg, 0);
                continue;
            }
        }
        print_value(&mut out, arg, verb, &f, 0);
    }
    if !reordered && argi < args.len() {
        out.push_str("%!(EXTRA ");
        for (k, a) in args[argi..].iter().enumerate() {
            if k > 0 {
                out.push_str(", ");
            }
            if a.is_nil() {
                out.push_str("<nil>");
            } else {
                out.push_str(a.type_name());
                out.push('=');
                print_value(&mut out, a, 'v', &Flags::default(), 0);
            }
        }
        out.push(')');
    }
    out
}

fn parse_num(b: &[u8], mut i: usize) -> (usize, usize) {
    let mut n: usize = 0;
    while i < b.len() && b[i].is_ascii_digit() {
        n = n
            .saturating_mul(10)
            .saturating_add((b[i] - b'0') as usize)
            .min(1_000_000);
        i += 1;
    }
    (n, i)
}

fn bad_verb(out: &mut String, v: &Value, verb: char) {
    out.push_str("%!");
    out.push(verb);
    out.push('(');
    if v.is_nil() {
        out.push_str("<nil>");
    } else {
        out.push_str(v.type_name());
        out.push('=');
        print_value(out, v, 'v', &Flags::default(), 0);
    }
    out.push(')');
}

fn pad(out: &mut String, s: &str, f: &Flags) {
    let Some(width) = f.width else {
        out.push_str(s);
        return;
    };
    let n = s.chars().count();
    if n >= width {
        out.push_str(s);
        return;
    }
    let fill = width - n;
    if f.minus {
        out.push_str(s);
        out.extend(std::iter::repeat_n(' ', fill));
    } else {
        let c = if f.zero { '0' } else { ' ' };
        out.extend(std::iter::repeat_n(c, fill));
        out.push_str(s);
    }
}

fn print_value(out: &mut String, v: &Value, verb: char, f: &Flags, depth: usize) {
    // A map can hold itself (Sprig's `set`); Go would recurse until its stack is exhausted.
    // Stop descending at the string budget instead.
    if out.len() > crate::sprig::MAX_STRING {
        return;
    }
    match v {
        Value::Missing | Value::Nil => match verb {
            _ if depth > 0 => pad(out, "<nil>", f),
            'v' => pad(out, "<nil>", f),
            _ => bad_verb(out, v, verb),
        },
        Value::Bool(b) => match verb {
            'v' | 't' => pad(out, if *b { "true" } else { "false" }, f),
            _ => bad_verb(out, v, verb),
        },
        Value::Int(i) | Value::Int64(i) => fmt_int(out, *i, verb, f, v),
        Value::Float(x) => match verb {
            'v' => fmt_float(out, *x, 'g', f.prec, f),
            'b' | 'g' | 'G' | 'x' | 'X' => fmt_float(out, *x, verb, f.prec, f),
            'f' | 'F' | 'e' | 'E' => fmt_float(out, *x, verb, Some(f.prec.unwrap_or(6)), f),
            _ => bad_verb(out, v, verb),
        },
        Value::String(s) => fmt_string(out, s, verb, f, v),
        Value::List(items) => {
            if depth > 100 {
                out.push_str("[...]");
                return;
            }
            out.push('[');
            for (k, item) in items.iter().enumerate() {
                if k > 0 {
                    out.push(' ');
                }
                print_value(out, item, verb, f, depth + 1);
            }
            out.push(']');
        }
        Value::Map(m) => {
            if depth > 100 {
                out.push_str("map[...]");
                return;
            }
            out.push_str("map[");
            for (k, (key, val)) in m.entries().into_iter().enumerate() {
                if k > 0 {
                    out.push(' ');
                }
                fmt_string(out, &key, verb, f, &Value::String(key.clone()));
                out.push(':');
                print_value(out, &val, verb, f, depth + 1);
            }
            out.push(']');
        }
        Value::Object(o) => match verb {
            'v' | 's' => pad(out, &o.display(), f),
            _ => bad_verb(out, v, verb),
        },
    }
}

fn fmt_string(out: &mut String, s: &str, verb: char, f: &Flags, v: &Value) {
    match verb {
        'v' | 's' => {
            let s = match f.prec {
                Some(p) => s.chars().take(p).collect::<String>(),
                None => s.to_string(),
            };
            pad(out, &s, f);
        }
        'q' => {
            let s = match f.prec {
                Some(p) => s.chars().take(p).collect::<String>(),
                None => s.to_string(),
            };
            if f.sharp && can_backquote(&s) {
                pad(out, &format!("`{s}`"), f);
            } else {
                pad(out, &quote(&s, f.plus), f);
            }
        }
        'x' | 'X' => {
            let bytes = s.as_bytes();
            let bytes = match f.prec {
                Some(p) => &bytes[..p.min(bytes.len())],
                None => bytes,
            };
            let digits: &[u8] = if verb == 'x' {
                b"0123456789abcdef"
            } else {
                b"0123456789ABCDEF"
            };
            let mut h = String::new();
            for (k, c) in bytes.iter().enumerate() {
                if f.space && k > 0 {
                    h.push(' ');
                }
                if f.sharp && (f.space || k == 0) {
                    h.push('0');
                    h.push(verb);
                }
                h.push(digits[(c >> 4) as usize] as char);
                h.push(digits[(c & 15) as usize] as char);
            }
            pad(out, &h, f);
        }
        _ => bad_verb(out, v, verb),
    }
}

fn fmt_int(out: &mut String, i: i64, verb: char, f: &Flags, v: &Value) {
    match verb {
        'v' | 'd' => fmt_integer(out, i, 10, verb, f, false),
        'b' => fmt_integer(out, i, 2, verb, f, false),
        'o' | 'O' => fmt_integer(out, i, 8, verb, f, false),
        'x' => fmt_integer(out, i, 16, verb, f, false),
        'X' => fmt_integer(out, i, 16, verb, f, true),
        'c' => {
            let c = char::from_u32(i as u32)
                .filter(|_| (0..=0x10FFFF).contains(&i))
                .unwrap_or('\u{FFFD}');
            pad(out, &c.to_string(), f);
        }
        'q' => {
            let c = char::from_u32(i as u32)
                .filter(|_| (0..=0x10FFFF).contains(&i))
                .unwrap_or('\u{FFFD}');
            pad(out, &quote_rune(c, f.plus), f);
        }
        'U' => {
            let mut s = if i < 0 {
                format!("U+{:X}", i as u64)
            } else {
                format!("U+{:04X}", i)
            };
            if let Some(p) = f.prec {
                let digits = s.len() - 2;
                if p > digits {
                    s = format!("U+{}{}", "0".repeat(p - digits), &s[2..]);
                }
            }
            if f.sharp
                && let Some(c) = char::from_u32(i as u32)
                && is_print(c)
            {
                s.push_str(&format!(" '{c}'"));
            }
            pad(out, &s, f);
        }
        'e' | 'E' | 'f' | 'F' | 'g' | 'G' | 's' | 't' => bad_verb(out, v, verb),
        _ => bad_verb(out, v, verb),
    }
}

fn fmt_integer(out: &mut String, i: i64, base: u32, verb: char, f: &Flags, upper: bool) {
    let neg = i < 0;
    let u = i.unsigned_abs();
    let mut digits = match base {
        2 => format!("{u:b}"),
        8 => format!("{u:o}"),
        16 if upper => format!("{u:X}"),
        16 => format!("{u:x}"),
        _ => u.to_string(),
    };
    // Precision is a minimum digit count; an explicit zero precision prints nothing for 0.
    let mut prec = f.prec;
    if prec.is_none() && f.zero && f.width.is_some() && !f.minus {
        let mut w = f.width.unwrap_or(0);
        if neg || f.plus || f.space {
            w = w.saturating_sub(1);
        }
        prec = Some(w);
    }
    if let Some(p) = prec {
        if p == 0 && u == 0 && f.prec == Some(0) {
            digits.clear();
        }
        if digits.len() < p {
            digits = format!("{}{}", "0".repeat(p - digits.len()), digits);
        }
    }
    let mut prefix = String::new();
    if f.sharp {
        match (base, verb) {
            (2, _) => prefix.push_str("0b"),
            (8, 'o') if !digits.starts_with('0') => prefix.push('0'),
            (16, _) => prefix.push_str(if upper { "0X" } else { "0x" }),
            _ => {}
        }
    }
    if verb == 'O' {
        prefix = "0o".into();
    }
    let sign = if neg {
        "-"
    } else if f.plus {
        "+"
    } else if f.space {
        " "
    } else {
        ""
    };
    let s = format!("{sign}{prefix}{digits}");
    // Zero padding was turned into precision above; pad the rest with spaces.
    let spaces = Flags {
        zero: false,
        ..f.clone()
    };
    pad(out, &s, &spaces);
}

/// `%#v`: the value as Go source would spell it.
fn go_syntax(out: &mut String, v: &Value, depth: usize) {
    if depth > 100 || out.len() > crate::sprig::MAX_STRING {
        return;
    }
    match v {
        Value::Missing | Value::Nil => out.push_str(if depth == 0 {
            "<nil>"
        } else {
            "interface {}(nil)"
        }),
        Value::String(s) => out.push_str(&quote(s, false)),
        Value::Float(x) => fmt_float(out, *x, 'g', None, &Flags::default()),
        Value::List(items) => {
            out.push_str("[]interface {}{");
            for (k, item) in items.iter().enumerate() {
                if k > 0 {
                    out.push_str(", ");
                }
                go_syntax(out, item, depth + 1);
            }
            out.push('}');
        }
        Value::Map(m) => {
            out.push_str("map[string]interface {}{");
            for (k, (key, val)) in m.entries().into_iter().enumerate() {
                if k > 0 {
                    out.push_str(", ");
                }
                out.push_str(&quote(&key, false));
                out.push(':');
                go_syntax(out, &val, depth + 1);
            }
            out.push('}');
        }
        other => print_value(out, other, 'v', &Flags::default(), depth),
    }
}

/// Decimal digits and the decimal point position of |x|, shortest or rounded to `sig`
/// significant digits, trailing zeros removed (strconv's `decimal` after `Round`).
fn digits(x: f64, sig: Option<usize>) -> (String, i32) {
    let x = x.abs();
    if x == 0.0 {
        return (String::new(), 0);
    }
    let s = match sig {
        None => format!("{x:e}"),
        Some(n) => format!("{:.*e}", n.saturating_sub(1), x),
    };
    let (mant, exp) = s.split_once('e').unwrap_or((&s, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let mut d: String = mant.chars().filter(|c| *c != '.').collect();
    while d.len() > 1 && d.ends_with('0') {
        d.pop();
    }
    if d == "0" {
        return (String::new(), 0);
    }
    (d, exp + 1)
}

fn exp_suffix(out: &mut String, e: char, exp: i32) {
    out.push(e);
    out.push(if exp < 0 { '-' } else { '+' });
    let a = exp.unsigned_abs();
    if a < 10 {
        out.push('0');
    }
    out.push_str(&a.to_string());
}

/// `%e` body from digits: `d.ddd` with `frac` decimals.
fn fmt_e(d: &str, dp: i32, frac: usize, e: char) -> String {
    let mut s = String::new();
    let first = d.chars().next().unwrap_or('0');
    s.push(first);
    if frac > 0 {
        s.push('.');
        let rest: String = d.chars().skip(1).collect();
        s.push_str(&rest);
        for _ in rest.len()..frac {
            s.push('0');
        }
        s.truncate(2 + frac);
    }
    let exp = if d.is_empty() { 0 } else { dp - 1 };
    exp_suffix(&mut s, e, exp);
    s
}

/// `%f` body from digits with `frac` decimals.
fn fmt_f(d: &str, dp: i32, frac: usize) -> String {
    let db = d.as_bytes();
    let digit = |i: i32| -> char {
        if i >= 0 && (i as usize) < db.len() {
            db[i as usize] as char
        } else {
            '0'
        }
    };
    let mut s = String::new();
    if dp > 0 {
        for i in 0..dp {
            s.push(digit(i));
        }
    } else {
        s.push('0');
    }
    if frac > 0 {
        s.push('.');
        for i in 0..frac as i32 {
            s.push(digit(dp + i));
        }
    }
    s
}

/// strconv.FormatFloat(x, verb, prec, 64) without the sign of negative numbers.
fn format_abs(x: f64, verb: char, prec: Option<usize>) -> String {
    match verb {
        'e' | 'E' => match prec {
            Some(p) => {
                let (d, dp) = digits(x, Some(p + 1));
                fmt_e(&d, dp, p, verb)
            }
            None => {
                let (d, dp) = digits(x, None);
                fmt_e(&d, dp, d.len().saturating_sub(1), verb)
            }
        },
        'f' | 'F' => match prec {
            Some(p) => format!("{:.*}", p, x.abs()),
            None => {
                let (d, dp) = digits(x, None);
                fmt_f(&d, dp, (d.len() as i32 - dp).max(0) as usize)
            }
        },
        _ => {
            // 'g' / 'G'
            let e = if verb == 'G' { 'E' } else { 'e' };
            let (d, dp, eprec, mut p) = match prec {
                None => {
                    let (d, dp) = digits(x, None);
                    let n = d.len().max(1);
                    (d, dp, 6usize, n)
                }
                Some(p) => {
                    let p = p.max(1);
                    let (d, dp) = digits(x, Some(p));
                    let mut eprec = p;
                    let nd = d.len();
                    if eprec > nd && nd as i32 >= dp {
                        eprec = nd;
                    }
                    (d, dp, eprec, p)
                }
            };
            let exp = dp - 1;
            if exp < -4 || exp >= eprec as i32 {
                if p > d.len() {
                    p = d.len();
                }
                return fmt_e(&d, dp, p.saturating_sub(1), e);
            }
            if p as i32 > dp {
                p = d.len();
            }
            fmt_f(&d, dp, (p as i32 - dp).max(0) as usize)
        }
    }
}

/// strconv's `%x` of a float64: `0x1.8p+01` (shortest digits, or `prec` hex digits).
fn hex_float(x: f64, prec: Option<usize>, upper: bool) -> String {
    let mut out = String::from("0x");
    let (mut mant, mut exp) = if x == 0.0 {
        (0u64, 0i32)
    } else {
        let bits = x.to_bits();
        let e = ((bits >> 52) & 0x7ff) as i32;
        let m = bits & ((1 << 52) - 1);
        if e == 0 {
            // Subnormal: normalise so the leading 1 is at bit 52.
            let shift = m.leading_zeros() as i32 - 11;
            (m << shift, -1022 - shift)
        } else {
            (m | (1 << 52), e - 1023)
        }
    };
    // 52 fraction bits = 13 hex digits; round to `prec` digits if asked (half to even).
    if let Some(p) = prec.filter(|p| *p < 13) {
        let drop = 4 * (13 - p as u32);
        let half = 1u64 << (drop - 1);
        let rem = mant & ((1u64 << drop) - 1);
        mant >>= drop;
        if rem > half || (rem == half && mant & 1 == 1) {
            mant += 1;
        }
        if mant >> (4 * p as u32) >= 2 {
            mant >>= 1;
            exp += 1;
        }
        mant <<= drop;
    }
    out.push(if mant >> 52 == 0 { '0' } else { '1' });
    let frac = mant & ((1 << 52) - 1);
    let mut digits = format!("{frac:013x}");
    match prec {
        None => {
            while digits.ends_with('0') {
                digits.pop();
            }
        }
        Some(p) => {
            digits.truncate(p.min(13));
            while digits.len() < p {
                digits.push('0');
            }
        }
    }
    if !digits.is_empty() {
        out.push('.');
        out.push_str(&digits);
    }
    out.push('p');
    out.push(if exp < 0 { '-' } else { '+' });
    if exp.unsigned_abs() < 10 {
        out.push('0');
    }
    out.push_str(&exp.unsigned_abs().to_string());
    if upper { out.to_uppercase() } else { out }
}

/// Go's `strconv.FormatFloat(x, 'g', -1, 64)`: what `{{ 1e6 }}` and `%v` print.
pub fn format_float(x: f64) -> String {
    let mut out = String::new();
    fmt_float(&mut out, x, 'g', None, &Flags::default());
    out
}

fn fmt_float(out: &mut String, x: f64, verb: char, prec: Option<usize>, f: &Flags) {
    let verb = match verb {
        'F' => 'f',
        'b' => 'g', // Go's binary exponent form is not supported; %g is printed instead.
        v => v,
    };
    let neg = x.is_sign_negative() && !x.is_nan();
    if x.is_infinite() || x.is_nan() {
        let body = if x.is_nan() {
            if f.plus {
                "+NaN"
            } else if f.space {
                " NaN"
            } else {
                "NaN"
            }
        } else if neg {
            "-Inf"
        } else if f.space && !f.plus {
            " Inf"
        } else {
            "+Inf"
        };
        let nf = Flags {
            zero: false,
            ..f.clone()
        };
        pad(out, body, &nf);
        return;
    }
    let mut body = if verb == 'x' || verb == 'X' {
        hex_float(x.abs(), prec, verb == 'X')
    } else {
        format_abs(x, verb, prec)
    };
    if f.sharp {
        // '#': always a decimal point; %g keeps trailing zeros.
        let (mant, exp) = match body.find(['e', 'E']) {
            Some(i) => (body[..i].to_string(), body[i..].to_string()),
            None => (body.clone(), String::new()),
        };
        let mut mant = mant;
        if !mant.contains('.') {
            mant.push('.');
        }
        if verb == 'g' || verb == 'G' {
            let want = prec.unwrap_or(6).max(1);
            let digits = mant.chars().filter(|c| c.is_ascii_digit()).count();
            let lead_zeros = mant
                .chars()
                .take_while(|c| *c == '0' || *c == '.')
                .filter(|c| *c == '0')
                .count();
            let sig = digits - lead_zeros.min(digits.saturating_sub(1));
            for _ in sig..want {
                mant.push('0');
            }
        }
        body = mant + &exp;
    }
    let sign = if neg {
        "-"
    } else if f.plus {
        "+"
    } else if f.space {
        " "
    } else {
        ""
    };
    if f.zero && !f.minus {
        if let Some(w) = f.width {
            let len = sign.len() + body.chars().count();
            out.push_str(sign);
            if w > len {
                out.extend(std::iter::repeat_n('0', w - len));
            }
            out.push_str(&body);
            return;
        }
    }
    pad(out, &format!("{sign}{body}"), f);
}

/// Go's `unicode.IsPrint`, approximately: graphic characters and the ASCII space.
pub(crate) fn is_print(c: char) -> bool {
    if c == ' ' {
        return true;
    }
    if c.is_control() || c.is_whitespace() {
        return false;
    }
    !matches!(c as u32,
        0xAD | 0x600..=0x605 | 0x61C | 0x6DD | 0x70F | 0x180E | 0x200B..=0x200F | 0x202A..=0x202E
        | 0x2060..=0x206F | 0xFEFF | 0xFFF9..=0xFFFB | 0xD800..=0xDFFF | 0xE000..=0xF8FF
        | 0xFFFE | 0xFFFF | 0xF0000..=0x10FFFF | 0xE0000..=0xE007F)
}

fn push_escaped(s: &mut String, c: char, quote: char, ascii_only: bool) {
    match c {
        '\x07' => s.push_str("\\a"),
        '\x08' => s.push_str("\\b"),
        '\x0c' => s.push_str("\\f"),
        '\n' => s.push_str("\\n"),
        '\r' => s.push_str("\\r"),
        '\t' => s.push_str("\\t"),
        '\x0b' => s.push_str("\\v"),
        '\\' => s.push_str("\\\\"),
        c if c == quote => {
            s.push('\\');
            s.push(c);
        }
        c if (c as u32) < 0x80 && is_print(c) => s.push(c),
        c if !ascii_only && is_print(c) => s.push(c),
        c if (c as u32) < 0x80 => s.push_str(&format!("\\x{:02x}", c as u32)),
        c if (c as u32) < 0x10000 => s.push_str(&format!("\\u{:04x}", c as u32)),
        c => s.push_str(&format!("\\U{:08x}", c as u32)),
    }
}

/// Go's `strconv.Quote` (or `QuoteToASCII` when `ascii_only`).
pub fn quote(s: &str, ascii_only: bool) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        push_escaped(&mut out, c, '"', ascii_only);
    }
    out.push('"');
    out
}

fn quote_rune(c: char, ascii_only: bool) -> String {
    let mut out = String::from("'");
    push_escaped(&mut out, c, '\'', ascii_only);
    out.push('\'');
    out
}

fn can_backquote(s: &str) -> bool {
    s.chars()
        .all(|c| c != '`' && c != '\u{FEFF}' && (c == '\t' || !c.is_control()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floats_print_as_go_prints_them() {
        let cases = [
            (1000000.0, "1e+06"),
            (3.0, "3"),
            (0.1, "0.1"),
            (100000.0, "100000"),
            (123456789.0, "1.23456789e+08"),
            (0.0001, "0.0001"),
            (0.00001, "1e-05"),
            (1.5e300, "1.5e+300"),
            (-2.5, "-2.5"),
            (0.0, "0"),
            (1e21, "1e+21"),
            (123456.0, "123456"),
            (1234567.0, "1.234567e+06"),
            (0.1 + 0.2, "0.30000000000000004"),
            (5e-324, "5e-324"),
            (f64::MAX, "1.7976931348623157e+308"),
        ];
        for (x, want) in cases {
            assert_eq!(format_float(x), want, "{x}");
        }
    }

    #[test]
    fn printf_verbs_follow_go() {
        let f = |fmt: &str, a: Value| sprintf(fmt, &[a]);
        assert_eq!(f("%5.2f", Value::Float(1.23456)), " 1.23");
        assert_eq!(f("%e", Value::Float(1234.5678)), "1.234568e+03");
        assert_eq!(f("%g", Value::Float(1e6)), "1e+06");
        assert_eq!(f("%.3g", Value::Float(1234.5678)), "1.23e+03");
        assert_eq!(f("%.3g", Value::Float(0.5)), "0.5");
        assert_eq!(f("%05d", Value::Int(-42)), "-0042");
        assert_eq!(f("%x", Value::Int(255)), "ff");
        assert_eq!(f("%#X", Value::Int(255)), "0XFF");
        assert_eq!(f("%q", Value::string("a\"b\n")), "\"a\\\"b\\n\"");
        assert_eq!(f("%-4s|", Value::string("ab")), "ab  |");
        assert_eq!(f("%d", Value::string("x")), "%!d(string=x)");
        assert_eq!(f("%s", Value::Int(5)), "%!s(int=5)");
        assert_eq!(f("%d", Value::Float(1.5)), "%!d(float64=1.5)");
        assert_eq!(f("%v", Value::Nil), "<nil>");
        assert_eq!(f("%s", Value::Nil), "%!s(<nil>)");
        assert_eq!(f("%c", Value::Int(65)), "A");
        assert_eq!(f("%U", Value::Int(65)), "U+0041");
        assert_eq!(f("%t", Value::Bool(true)), "true");
        assert_eq!(f("%x", Value::string("hi")), "6869");
        assert_eq!(f("%+d", Value::Int(5)), "+5");
        assert_eq!(f("%08.3f", Value::Float(-1.23456)), "-001.235");
        assert_eq!(sprintf("%d %d", &[Value::Int(1)]), "1 %!d(MISSING)");
        assert_eq!(
            sprintf("%d", &[Value::Int(1), Value::string("a")]),
            "1%!(EXTRA string=a)"
        );
        assert_eq!(sprintf("100%%", &[]), "100%");
    }

    #[test]
    fn sprint_spaces_between_non_strings() {
        assert_eq!(
            sprint(&[
                Value::Int(1),
                Value::Int(2),
                Value::string("a"),
                Value::Int(3)
            ]),
            "1 2a3"
        );
        assert_eq!(sprintln(&[Value::string("a"), Value::string("b")]), "a b\n");
    }
}
