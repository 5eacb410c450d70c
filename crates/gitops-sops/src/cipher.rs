//! The value cipher: AES-256-GCM with a 32-byte IV, `ENC[AES256_GCM,data:…,iv:…,tag:…,type:…]`.

use aes_gcm::AesGcm;
use aes_gcm::aead::consts::U32;
use aes_gcm::aead::generic_array::GenericArray;
use aes_gcm::aead::{Aead, KeyInit, OsRng, Payload, rand_core::RngCore};
use aes_gcm::aes::Aes256;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use zeroize::Zeroizing;

use crate::tree::{Comment, Value, format_float_f};

type Aes256Gcm32 = AesGcm<Aes256, U32>;

const PREFIX: &str = "ENC[AES256_GCM,data:";

/// Why a value could not be decrypted (never carries plaintext).
#[derive(Debug, thiserror::Error)]
pub(crate) enum CipherError {
    #[error("value is not in the ENC[AES256_GCM,…] format")]
    Format,
    #[error("value is not valid base64")]
    Base64,
    #[error("authentication failed: the value, its path or the data key do not match")]
    Auth,
    #[error("unknown value type {0:?}")]
    UnknownType(String),
    #[error("decrypted value is not a valid {0}")]
    BadType(&'static str),
}

struct Parts<'a> {
    data: &'a str,
    iv: &'a str,
    tag: &'a str,
    kind: &'a str,
}

fn parse(s: &str) -> Result<Parts<'_>, CipherError> {
    // Same shape as sops' `^ENC\[AES256_GCM,data:(.+),iv:(.+),tag:(.+),type:(.+)\]` (greedy).
    let rest = s.strip_prefix(PREFIX).ok_or(CipherError::Format)?;
    let end = rest.rfind(']').ok_or(CipherError::Format)?;
    let rest = &rest[..end];
    let (rest, kind) = rest.rsplit_once(",type:").ok_or(CipherError::Format)?;
    let (rest, tag) = rest.rsplit_once(",tag:").ok_or(CipherError::Format)?;
    let (data, iv) = rest.rsplit_once(",iv:").ok_or(CipherError::Format)?;
    if data.is_empty() || iv.is_empty() || tag.is_empty() || kind.is_empty() {
        return Err(CipherError::Format);
    }
    Ok(Parts {
        data,
        iv,
        tag,
        kind,
    })
}

/// Decrypts raw bytes of an `ENC[…]` value and returns them with the type name.
pub(crate) fn decrypt_raw<'a>(
    s: &'a str,
    key: &[u8; 32],
    aad: &str,
) -> Result<(Zeroizing<Vec<u8>>, &'a str), CipherError> {
    let parts = parse(s)?;
    let mut data = STANDARD
        .decode(parts.data)
        .map_err(|_| CipherError::Base64)?;
    let iv = STANDARD.decode(parts.iv).map_err(|_| CipherError::Base64)?;
    let tag = STANDARD
        .decode(parts.tag)
        .map_err(|_| CipherError::Base64)?;
    if iv.len() != 32 || tag.len() != 16 {
        return Err(CipherError::Format);
    }
    data.extend_from_slice(&tag);
    let cipher = Aes256Gcm32::new(GenericArray::from_slice(key));
    let plain = cipher
        .decrypt(
            GenericArray::from_slice(&iv),
            Payload {
                msg: &data,
                aad: aad.as_bytes(),
            },
        )
        .map_err(|_| CipherError::Auth)?;
    Ok((Zeroizing::new(plain), parts.kind))
}

/// Decrypts an `ENC[…]` value into a typed value (`sops`' `aes.Cipher.Decrypt`).
pub(crate) fn decrypt(s: &str, key: &[u8; 32], aad: &str) -> Result<Value, CipherError> {
    if s.is_empty() {
        return Ok(Value::Str(String::new()));
    }
    let (plain, kind) = decrypt_raw(s, key, aad)?;
    let text = || {
        std::str::from_utf8(&plain)
            .map(str::to_owned)
            .map_err(|_| CipherError::BadType("UTF-8 string"))
    };
    Ok(match kind {
        // A Go string need not be UTF-8 (binary files, `!!binary` YAML values).
        "str" => match String::from_utf8(plain.to_vec()) {
            Ok(s) => Value::Str(s),
            Err(e) => Value::Bytes(e.into_bytes()),
        },
        "int" => Value::Int(
            std::str::from_utf8(&plain)
                .ok()
                .and_then(|t| t.parse().ok())
                .ok_or(CipherError::BadType("integer"))?,
        ),
        "float" => Value::Float(
            std::str::from_utf8(&plain)
                .ok()
                .and_then(|t| t.parse().ok())
                .ok_or(CipherError::BadType("float"))?,
        ),
        "bool" => Value::Bool(match &plain[..] {
            b"1" | b"t" | b"T" | b"true" | b"TRUE" | b"True" => true,
            b"0" | b"f" | b"F" | b"false" | b"FALSE" | b"False" => false,
            _ => return Err(CipherError::BadType("boolean")),
        }),
        "bytes" => Value::Bytes(plain.to_vec()),
        "time" => Value::Time(text()?),
        "comment" => Value::Comment(Comment {
            text: text()?,
            inline: false,
        }),
        other => return Err(CipherError::UnknownType(other.to_string())),
    })
}

/// Encrypts raw bytes with a fresh random IV.
pub(crate) fn encrypt_raw(plain: &[u8], kind: &str, key: &[u8; 32], aad: &str) -> String {
    let mut iv = [0u8; 32];
    OsRng.fill_bytes(&mut iv);
    let cipher = Aes256Gcm32::new(GenericArray::from_slice(key));
    let mut out = cipher
        .encrypt(
            GenericArray::from_slice(&iv),
            Payload {
                msg: plain,
                aad: aad.as_bytes(),
            },
        )
        .expect("AES-GCM encryption cannot fail for inputs below 64 GiB");
    let tag = out.split_off(out.len() - 16);
    format!(
        "{PREFIX}{},iv:{},tag:{},type:{kind}]",
        STANDARD.encode(&out),
        STANDARD.encode(iv),
        STANDARD.encode(tag)
    )
}

/// Encrypts a typed value (`sops`' `aes.Cipher.Encrypt`); empty strings stay empty.
pub(crate) fn encrypt(v: &Value, key: &[u8; 32], aad: &str) -> Option<String> {
    let (bytes, kind): (Zeroizing<Vec<u8>>, &str) = match v {
        Value::Str(s) if s.is_empty() => return Some(String::new()),
        Value::Comment(c) if c.text.is_empty() => return Some(String::new()),
        Value::Bytes(b) if b.is_empty() => return Some(String::new()),
        Value::Str(s) => (Zeroizing::new(s.as_bytes().to_vec()), "str"),
        Value::Int(i) => (Zeroizing::new(i.to_string().into_bytes()), "int"),
        Value::Float(f) => (Zeroizing::new(format_float_f(*f).into_bytes()), "float"),
        Value::Bool(b) => (
            Zeroizing::new(if *b {
                b"True".to_vec()
            } else {
                b"False".to_vec()
            }),
            "bool",
        ),
        Value::Time(t) => (Zeroizing::new(t.as_bytes().to_vec()), "time"),
        // sops stores byte strings as `str` (it cannot encrypt a `bytes` value back).
        Value::Bytes(b) => (Zeroizing::new(b.clone()), "str"),
        Value::Comment(c) => (Zeroizing::new(c.text.as_bytes().to_vec()), "comment"),
        Value::Map(_) | Value::Seq(_) | Value::Null => return None,
    };
    Some(encrypt_raw(&bytes, kind, key, aad))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_binding() {
        let key = [7u8; 32];
        let enc = encrypt(&Value::Str("hunter2".into()), &key, "a:b:").unwrap();
        assert!(enc.starts_with(PREFIX) && enc.ends_with(",type:str]"));
        assert!(matches!(decrypt(&enc, &key, "a:b:"), Ok(Value::Str(s)) if s == "hunter2"));
        assert!(matches!(
            decrypt(&enc, &key, "a:c:"),
            Err(CipherError::Auth)
        ));
        let int = encrypt(&Value::Int(42), &key, "n:").unwrap();
        assert!(matches!(decrypt(&int, &key, "n:"), Ok(Value::Int(42))));
        assert!(matches!(
            decrypt("ENC[AES256_GCM,data:x]", &key, ""),
            Err(CipherError::Format)
        ));
    }
}
