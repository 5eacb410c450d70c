//! Sprig's integer and float math and conversions.

use super::convert::{to_float64, to_int64};
use crate::{Function, Functions, Ty, Value};

fn i(v: i64) -> Result<Value, String> {
    Ok(Value::Int(v))
}

pub(super) fn register(f: &mut Functions) {
    use Ty::*;
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
    f.insert("int", Function::new(&[Any], |a| i(to_int64(&a[0]))));
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
            i(
                if t.starts_with(['+', '-']) && t.len() > 1 && s.starts_with('+') {
                    0
                } else {
                    s.parse::<i64>().unwrap_or(0)
                },
            )
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
