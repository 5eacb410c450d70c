//! Sprig's reflection functions: `typeOf typeIs typeIsLike kindOf kindIs deepEqual`.

use super::lists::{deep_equal, kind};
use crate::{Function, Functions, Ty, Value};

/// Go's `%T` of a value passed as `interface{}`.
fn type_of(v: &Value) -> &str {
    if v.is_nil() { "<nil>" } else { v.type_name() }
}

pub(super) fn register(f: &mut Functions) {
    use Ty::*;
    f.insert(
        "typeOf",
        Function::new(&[Any], |a| Ok(Value::string(type_of(&a[0])))),
    );
    f.insert(
        "typeIs",
        Function::new(&[String, Any], |a| {
            Ok(Value::Bool(a[0].as_str() == Some(type_of(&a[1]))))
        }),
    );
    f.insert(
        "typeIsLike",
        Function::new(&[String, Any], |a| {
            let t = type_of(&a[1]);
            let target = a[0].as_str().unwrap_or_default();
            Ok(Value::Bool(target == t || format!("*{target}") == t))
        }),
    );
    f.insert(
        "kindOf",
        Function::new(&[Any], |a| Ok(Value::string(kind(&a[0])))),
    );
    f.insert(
        "kindIs",
        Function::new(&[String, Any], |a| {
            Ok(Value::Bool(a[0].as_str() == Some(kind(&a[1]))))
        }),
    );
    f.insert(
        "deepEqual",
        Function::new(&[Any, Any], |a| Ok(Value::Bool(deep_equal(&a[0], &a[1])))),
    );
}
