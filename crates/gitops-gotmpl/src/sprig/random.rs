//! Sprig's random functions. Their values cannot match Helm's; their shape does (length,
//! alphabet, UUID version and variant bits), and like Sprig's they come from a
//! cryptographic generator.

use super::arg_int;
use crate::{Function, Functions, Ty, Value};

/// 64 random bits from the operating system's generator (through aws-lc's DRBG), as Sprig
/// draws from `crypto/rand`: these values become passwords and keys in rendered Secrets.
fn next() -> u64 {
    use aws_lc_rs::rand::SecureRandom;
    let mut b = [0u8; 8];
    // A failing system generator leaves zeros rather than panicking; aws-lc aborts the
    // process itself on a broken entropy source, so this is not reached in practice.
    let _ = aws_lc_rs::rand::SystemRandom::new().fill(&mut b);
    u64::from_le_bytes(b)
}

/// A uniformly distributed number below `n` (0 when `n` is 0).
pub(super) fn below(n: u64) -> u64 {
    if n == 0 {
        return 0;
    }
    // Rejecting the top partial block keeps the draw unbiased.
    let zone = u64::MAX - u64::MAX % n;
    loop {
        let r = next();
        if r < zone {
            return r % n;
        }
    }
}

fn random_from(alphabet: &[u8], n: i64) -> Result<Value, String> {
    if n < 0 {
        // goutils fails and Sprig ignores the error.
        return Ok(Value::string(""));
    }
    if n as usize > super::MAX_STRING {
        return Err(format!("result longer than {} bytes", super::MAX_STRING));
    }
    Ok(Value::String(
        (0..n)
            .map(|_| alphabet[(next() % alphabet.len() as u64) as usize] as char)
            .collect(),
    ))
}

const ALPHA: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
const NUM: &[u8] = b"0123456789";

pub(super) fn register(f: &mut Functions) {
    use Ty::*;
    let alnum: Vec<u8> = [ALPHA, NUM].concat();
    let ascii: Vec<u8> = (32u8..127).collect();
    f.insert(
        "randAlpha",
        Function::new(&[Int], |a| random_from(ALPHA, arg_int(&a[0]))),
    );
    f.insert(
        "randNumeric",
        Function::new(&[Int], |a| random_from(NUM, arg_int(&a[0]))),
    );
    f.insert(
        "randAlphaNum",
        Function::new(&[Int], move |a| random_from(&alnum, arg_int(&a[0]))),
    );
    f.insert(
        "randAscii",
        Function::new(&[Int], move |a| random_from(&ascii, arg_int(&a[0]))),
    );
    f.insert(
        "randInt",
        Function::new(&[Int, Int], |a| {
            let (min, max) = (arg_int(&a[0]), arg_int(&a[1]));
            if max <= min {
                return Err("invalid argument to Intn".into());
            }
            let span = (max - min) as u64;
            Ok(Value::Int(min + (next() % span) as i64))
        }),
    );
    f.insert(
        "randBytes",
        Function::new(&[Int], |a| {
            use base64::Engine;
            let n = arg_int(&a[0]).clamp(0, super::MAX_STRING as i64) as usize;
            let bytes: Vec<u8> = (0..n).map(|_| next() as u8).collect();
            Ok(Value::String(
                base64::engine::general_purpose::STANDARD.encode(bytes),
            ))
        }),
    );
    f.insert(
        "uuidv4",
        Function::new(&[], |_| {
            let mut b: Vec<u8> = (0..16).map(|_| next() as u8).collect();
            b[6] = (b[6] & 0x0f) | 0x40;
            b[8] = (b[8] & 0x3f) | 0x80;
            let h = hex::encode(b);
            Ok(Value::String(format!(
                "{}-{}-{}-{}-{}",
                &h[0..8],
                &h[8..12],
                &h[12..16],
                &h[16..20],
                &h[20..32]
            )))
        }),
    );
    f.insert(
        "shuffle",
        Function::new(&[String], |a| {
            let mut chars: Vec<char> = a[0].as_str().unwrap_or_default().chars().collect();
            for i in (1..chars.len()).rev() {
                let j = (next() % (i as u64 + 1)) as usize;
                chars.swap(i, j);
            }
            Ok(Value::String(chars.into_iter().collect()))
        }),
    );
    f.insert("hello", Function::new(&[], |_| Ok(Value::string("Hello!"))));
}
