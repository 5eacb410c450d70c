//! Sprig's integer and float math and conversions.

use super::convert::{to_float64, to_int64};
use crate::{Function, Functions, Ty, Value};

/// Sprig's integer math returns `int64`.
fn i(v: i64) -> Result<Value, String> {
    Ok(Value::Int64(v))
}

pub(super) fn register(f: &mut Functions) {
    use Ty::*;
    register_float(f);
    f.insert(
        "add",
        Function::variadic(&[], Any, |a| {
            i(a.iter().fold(0i64, |s, x| s.wrapping_add(to_int64(x))))
        }),
    );
    f.insert(
        "add1",
        Function::new(&[Any], |a| i(to_int64(&a[0]).wrapping_add(1))),
    );
    f.insert(
        "sub",
        Function::new(&[Any, Any], |a| {
            i(to_int64(&a[0]).wrapping_sub(to_int64(&a[1])))
        }),
    );
    f.insert(
        "mul",
        Function::variadic(&[Any], Any, |a| {
            i(a[1..]
                .iter()
                .fold(to_int64(&a[0]), |s, x| s.wrapping_mul(to_int64(x))))
        }),
    );
    f.insert(
        "div",
        Function::new(&[Any, Any], |a| {
            let d = to_int64(&a[1]);
            if d == 0 {
                return Err("runtime error: integer divide by zero".into());
            }
            i(to_int64(&a[0]).wrapping_div(d))
        }),
    );
    f.insert(
        "mod",
        Function::new(&[Any, Any], |a| {
            let d = to_int64(&a[1]);
            if d == 0 {
                return Err("runtime error: integer divide by zero".into());
            }
            i(to_int64(&a[0]).wrapping_rem(d))
        }),
    );
    for name in ["max", "biggest"] {
        f.insert(
            name,
            Function::variadic(&[Any], Any, |a| {
                i(a[1..].iter().map(to_int64).fold(to_int64(&a[0]), i64::max))
            }),
        );
    }
    f.insert(
        "min",
        Function::variadic(&[Any], Any, |a| {
            i(a[1..].iter().map(to_int64).fold(to_int64(&a[0]), i64::min))
        }),
    );
    f.insert(
        "int",
        Function::new(&[Any], |a| Ok(Value::Int(to_int64(&a[0])))),
    );
    f.insert("int64", Function::new(&[Any], |a| i(to_int64(&a[0]))));
    f.insert(
        "float64",
        Function::new(&[Any], |a| Ok(Value::Float(to_float64(&a[0])))),
    );
    f.insert(
        "atoi",
        Function::new(&[String], |a| {
            let s = a[0].as_str().unwrap_or_default();
            let t = s.strip_prefix('+').unwrap_or(s);
            Ok(Value::Int(
                if t.starts_with(['+', '-']) && t.len() > 1 && s.starts_with('+') {
                    0
                } else {
                    s.parse::<i64>().unwrap_or(0)
                },
            ))
        }),
    );
    f.insert(
        "floor",
        Function::new(&[Any], |a| Ok(Value::Float(to_float64(&a[0]).floor()))),
    );
    f.insert(
        "ceil",
        Function::new(&[Any], |a| Ok(Value::Float(to_float64(&a[0]).ceil()))),
    );
    f.insert(
        "round",
        Function::variadic(&[Any, Int], Float, |a| {
            let round_on = match a.get(2) {
                Some(Value::Float(r)) => *r,
                _ => 0.5,
            };
            let val = to_float64(&a[0]);
            let places = match a[1] {
                Value::Int(p) => p as f64,
                _ => 0.0,
            };
            let pow = 10f64.powf(places);
            let digit = pow * val;
            let frac = digit.fract();
            let r = if frac >= round_on {
                digit.ceil()
            } else {
                digit.floor()
            };
            Ok(Value::Float(r / pow))
        }),
    );
}

/// A float as shopspring/decimal's `NewFromFloat` sees it: its shortest decimal digits,
/// `mantissa × 10^exp`.
fn decimal(f: f64) -> Option<(i128, i32)> {
    if !f.is_finite() {
        return None;
    }
    let s = format!("{f:e}");
    let (mant, exp) = s.split_once('e')?;
    let exp: i32 = exp.parse().ok()?;
    let neg = mant.starts_with('-');
    let digits: String = mant.chars().filter(|c| c.is_ascii_digit()).collect();
    let frac = mant.split_once('.').map_or(0, |(_, f)| f.len()) as i32;
    let m: i128 = digits.parse().ok()?;
    Some((if neg { -m } else { m }, exp - frac))
}

fn pow10(n: u32) -> Option<i128> {
    10i128.checked_pow(n)
}

fn to_f64(m: i128, e: i32) -> f64 {
    format!("{m}e{e}").parse().unwrap_or(f64::NAN)
}

/// Exact decimal arithmetic where it fits in 128 bits, as Sprig's `addf`/`subf`/`mulf`/`divf`
/// do it (so `addf 0.1 0.2` is `0.3`); otherwise plain float arithmetic.
fn decimal_op(a: f64, b: f64, op: char) -> f64 {
    let exact = || -> Option<f64> {
        let (m1, e1) = decimal(a)?;
        let (m2, e2) = decimal(b)?;
        match op {
            '+' | '-' => {
                let e = e1.min(e2);
                let x = m1.checked_mul(pow10((e1 - e) as u32)?)?;
                let y = m2.checked_mul(pow10((e2 - e) as u32)?)?;
                let r = if op == '+' {
                    x.checked_add(y)?
                } else {
                    x.checked_sub(y)?
                };
                Some(to_f64(r, e))
            }
            '*' => Some(to_f64(m1.checked_mul(m2)?, e1 + e2)),
            _ => {
                // DivRound to 16 decimal places, half away from zero.
                if m2 == 0 {
                    return None;
                }
                let shift = e1 - e2 + 16;
                let (num, den) = if shift >= 0 {
                    (m1.checked_mul(pow10(shift as u32)?)?, m2)
                } else {
                    (m1, m2.checked_mul(pow10((-shift) as u32)?)?)
                };
                let q = num / den;
                let r = num % den;
                let q = if r.checked_mul(2)?.abs() >= den.abs() {
                    if (num < 0) != (den < 0) { q - 1 } else { q + 1 }
                } else {
                    q
                };
                Some(to_f64(q, -16))
            }
        }
    };
    exact().unwrap_or(match op {
        '+' => a + b,
        '-' => a - b,
        '*' => a * b,
        _ => a / b,
    })
}

pub(super) fn register_float(f: &mut Functions) {
    use Ty::*;
    for (name, op) in [("addf", '+'), ("subf", '-'), ("mulf", '*'), ("divf", '/')] {
        f.insert(
            name,
            Function::variadic(&[Any], Any, move |a| {
                let mut acc = to_float64(&a[0]);
                for x in &a[1..] {
                    let y = to_float64(x);
                    if op == '/' && y == 0.0 {
                        return Err("decimal division by 0".into());
                    }
                    acc = decimal_op(acc, y, op);
                }
                Ok(Value::Float(acc))
            }),
        );
    }
    f.insert(
        "add1f",
        Function::new(&[Any], |a| {
            Ok(Value::Float(decimal_op(to_float64(&a[0]), 1.0, '+')))
        }),
    );
    f.insert(
        "maxf",
        Function::variadic(&[Any], Any, |a| {
            Ok(Value::Float(
                a[1..]
                    .iter()
                    .map(to_float64)
                    .fold(to_float64(&a[0]), f64::max),
            ))
        }),
    );
    f.insert(
        "minf",
        Function::variadic(&[Any], Any, |a| {
            Ok(Value::Float(
                a[1..]
                    .iter()
                    .map(to_float64)
                    .fold(to_float64(&a[0]), f64::min),
            ))
        }),
    );
    f.insert(
        "toDecimal",
        Function::new(&[Any], |a| {
            let s = super::convert::to_string(&a[0]);
            i(i64::from_str_radix(&s, 8).unwrap_or(0))
        }),
    );
}
