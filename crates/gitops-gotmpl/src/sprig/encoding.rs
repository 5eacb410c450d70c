//! Sprig's encoding and hash functions.

use base64::Engine;
use sha2::{Digest, Sha256, Sha512};

use super::arg_str;
use crate::{Function, Functions, Ty, Value};

pub(super) fn register(f: &mut Functions) {
    use Ty::*;
    f.insert(
        "b64enc",
        Function::new(&[String], |a| {
            Ok(Value::String(
                base64::engine::general_purpose::STANDARD.encode(arg_str(&a[0])),
            ))
        }),
    );
    f.insert(
        "b64dec",
        Function::new(&[String], |a| {
            // Sprig returns the decoding error's text as the result.
            Ok(Value::String(
                match base64::engine::general_purpose::STANDARD.decode(arg_str(&a[0])) {
                    Ok(bytes) => std::string::String::from_utf8_lossy(&bytes).into_owned(),
                    Err(e) => go_base64_error(&e),
                },
            ))
        }),
    );
    f.insert(
        "sha512sum",
        Function::new(&[String], |a| {
            Ok(Value::String(hex::encode(Sha512::digest(
                arg_str(&a[0]).as_bytes(),
            ))))
        }),
    );
    f.insert(
        "sha1sum",
        Function::new(&[String], |a| {
            Ok(Value::String(hex::encode(sha1(arg_str(&a[0]).as_bytes()))))
        }),
    );
    f.insert(
        "adler32sum",
        Function::new(&[String], |a| {
            let (mut x, mut y) = (1u32, 0u32);
            for b in arg_str(&a[0]).bytes() {
                x = (x + u32::from(b)) % 65521;
                y = (y + x) % 65521;
            }
            Ok(Value::String(((y << 16) | x).to_string()))
        }),
    );
    f.insert(
        "b32enc",
        Function::new(&[String], |a| {
            Ok(Value::String(base32_encode(arg_str(&a[0]).as_bytes())))
        }),
    );
    f.insert(
        "b32dec",
        Function::new(&[String], |a| {
            Ok(Value::String(match base32_decode(arg_str(&a[0])) {
                Ok(bytes) => std::string::String::from_utf8_lossy(&bytes).into_owned(),
                Err(at) => format!("illegal base32 data at input byte {at}"),
            }))
        }),
    );
    f.insert(
        "sha256sum",
        Function::new(&[String], |a| {
            Ok(Value::String(hex::encode(Sha256::digest(
                arg_str(&a[0]).as_bytes(),
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

const B32: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

fn base32_encode(data: &[u8]) -> std::string::String {
    let mut out = std::string::String::new();
    for chunk in data.chunks(5) {
        let mut buf = [0u8; 5];
        buf[..chunk.len()].copy_from_slice(chunk);
        let bits = buf.iter().fold(0u64, |acc, b| (acc << 8) | u64::from(*b));
        let chars = (chunk.len() * 8).div_ceil(5);
        for i in 0..8 {
            if i < chars {
                out.push(B32[((bits >> (35 - 5 * i)) & 31) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Go's `base32.StdEncoding.DecodeString`; the error is the offending byte's offset.
fn base32_decode(text: &str) -> Result<Vec<u8>, usize> {
    let bytes: Vec<u8> = text
        .bytes()
        .filter(|b| *b != b'\n' && *b != b'\r')
        .collect();
    if bytes.len() % 8 != 0 {
        return Err(bytes.len() / 8 * 8);
    }
    let mut out = Vec::new();
    for (ci, chunk) in bytes.chunks(8).enumerate() {
        let mut bits = 0u64;
        let mut n = 0;
        for (i, b) in chunk.iter().enumerate() {
            if *b == b'=' {
                if !chunk[i..].iter().all(|c| *c == b'=') || !matches!(i, 2 | 4 | 5 | 7) {
                    return Err(ci * 8 + i);
                }
                break;
            }
            let v = B32.iter().position(|c| c == b).ok_or(ci * 8 + i)?;
            bits = (bits << 5) | v as u64;
            n += 1;
        }
        bits <<= 5 * (8 - n);
        let len = n * 5 / 8;
        for i in 0..len {
            out.push((bits >> (32 - 8 * i)) as u8);
        }
        if n < 8 && ci + 1 != bytes.len() / 8 {
            return Err(ci * 8 + n);
        }
    }
    Ok(out)
}

/// SHA-1 (FIPS 180-4), for Sprig's `sha1sum`.
fn sha1(data: &[u8]) -> [u8; 20] {
    let mut h: [u32; 5] = [0x67452301, 0xEFCDAB89, 0x98BADCFE, 0x10325476, 0xC3D2E1F0];
    let mut msg = data.to_vec();
    let bit_len = (data.len() as u64).wrapping_mul(8);
    msg.push(0x80);
    while msg.len() % 64 != 56 {
        msg.push(0);
    }
    msg.extend_from_slice(&bit_len.to_be_bytes());
    for block in msg.chunks(64) {
        let mut w = [0u32; 80];
        for i in 0..16 {
            w[i] = u32::from_be_bytes([
                block[4 * i],
                block[4 * i + 1],
                block[4 * i + 2],
                block[4 * i + 3],
            ]);
        }
        for i in 16..80 {
            w[i] = (w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16]).rotate_left(1);
        }
        let [mut a, mut b, mut c, mut d, mut e] = h;
        for (i, wi) in w.iter().enumerate() {
            let (f, k) = match i {
                0..=19 => ((b & c) | (!b & d), 0x5A827999),
                20..=39 => (b ^ c ^ d, 0x6ED9EBA1),
                40..=59 => ((b & c) | (b & d) | (c & d), 0x8F1BBCDC),
                _ => (b ^ c ^ d, 0xCA62C1D6),
            };
            let t = a
                .rotate_left(5)
                .wrapping_add(f)
                .wrapping_add(e)
                .wrapping_add(k)
                .wrapping_add(*wi);
            e = d;
            d = c;
            c = b.rotate_left(30);
            b = a;
            a = t;
        }
        for (x, y) in h.iter_mut().zip([a, b, c, d, e]) {
            *x = x.wrapping_add(y);
        }
    }
    let mut out = [0u8; 20];
    for (i, x) in h.iter().enumerate() {
        out[4 * i..4 * i + 4].copy_from_slice(&x.to_be_bytes());
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn sha1_matches_the_standard_vectors() {
        assert_eq!(
            hex::encode(super::sha1(b"abc")),
            "a9993e364706816aba3e25717850c26c9cd0d89d"
        );
        assert_eq!(
            hex::encode(super::sha1(b"")),
            "da39a3ee5e6b4b0d3255bfef95601890afd80709"
        );
    }

    #[test]
    fn base32_round_trips() {
        for s in ["", "f", "fo", "foo", "foob", "fooba", "foobar"] {
            let e = super::base32_encode(s.as_bytes());
            assert_eq!(super::base32_decode(&e).unwrap(), s.as_bytes(), "{e}");
        }
        assert_eq!(super::base32_encode(b"foobar"), "MZXW6YTBOI======");
    }
}
