//! Sprig's encoding and hash functions.

use base64::Engine;
use sha2::{Digest, Sha256};

use crate::{Function, Functions, Ty, Value};

fn s(v: &Value) -> &str {
    v.as_str().unwrap_or_default()
}

pub(super) fn register(f: &mut Functions) {
    use Ty::*;
    f.insert(
        "b64enc",
        Function::new(&[String], |a| {
            Ok(Value::String(
                base64::engine::general_purpose::STANDARD.encode(s(&a[0])),
            ))
        }),
    );
    f.insert(
        "b64dec",
        Function::new(&[String], |a| {
            // Sprig returns the decoding error's text as the result.
            Ok(Value::String(
                match base64::engine::general_purpose::STANDARD.decode(s(&a[0])) {
                    Ok(bytes) => std::string::String::from_utf8_lossy(&bytes).into_owned(),
                    Err(e) => go_base64_error(&e),
                },
            ))
        }),
    );
    f.insert(
        "sha256sum",
        Function::new(&[String], |a| {
            Ok(Value::String(hex::encode(Sha256::digest(
                s(&a[0]).as_bytes(),
            ))))
        }),
    );
}

fn go_base64_error(e: &base64::DecodeError) -> std::string::String {
    let at = match e {
        base64::DecodeError::InvalidByte(at, _) => *at,
        base64::DecodeError::InvalidLength(n) => *n,
        base64::DecodeError::InvalidLastSymbol(at, _) => *at,
        base64::DecodeError::InvalidPadding => 0,
    };
    format!("illegal base64 data at input byte {at}")
}
