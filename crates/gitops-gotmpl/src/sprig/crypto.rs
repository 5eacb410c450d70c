//! Sprig's key, certificate, password and AES functions. Keys and certificates are new
//! each call (as in Helm), laid out as Go's `crypto/x509` and `encoding/pem` write them:
//! `RSA PRIVATE KEY` (PKCS#1), `EC PRIVATE KEY` (SEC 1) and `PRIVATE KEY` (PKCS#8, Ed25519)
//! blocks, and v3 certificates with Sprig's fields (common name, IP and DNS SANs, key
//! usages, server and client auth, basic constraints, key identifiers).
//! `derivePassword` is deterministic and matches Sprig byte for byte.

use std::sync::Arc;

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rand::SecureRandom;
use aws_lc_rs::signature::{self, KeyPair as _};
use base64::Engine as _;

use crate::{Function, Functions, Object, Ty, Value};

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

fn random(n: usize) -> Result<Vec<u8>, String> {
    let mut buf = vec![0u8; n];
    aws_lc_rs::rand::SystemRandom::new()
        .fill(&mut buf)
        .map_err(|_| "crypto/rand: no randomness".to_string())?;
    Ok(buf)
}

// ---- DER, the little of it that keys and certificates need ----

fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let n = content.len();
    if n < 0x80 {
        out.push(n as u8);
    } else {
        let bytes: Vec<u8> = n
            .to_be_bytes()
            .iter()
            .copied()
            .skip_while(|b| *b == 0)
            .collect();
        out.push(0x80 | bytes.len() as u8);
        out.extend(bytes);
    }
    out.extend_from_slice(content);
    out
}

fn seq(parts: &[&[u8]]) -> Vec<u8> {
    tlv(0x30, &parts.concat())
}

/// A non-negative INTEGER from big-endian magnitude bytes.
fn uint(bytes: &[u8]) -> Vec<u8> {
    let mut b: Vec<u8> = bytes.iter().copied().skip_while(|b| *b == 0).collect();
    if b.first().is_none_or(|b| b & 0x80 != 0) {
        b.insert(0, 0);
    }
    tlv(0x02, &b)
}

/// One element: (tag, content, the whole element, the rest).
type Element<'a> = (u8, &'a [u8], &'a [u8], &'a [u8]);

fn next(input: &[u8]) -> Result<Element<'_>, String> {
    let bad = || "x509: malformed DER".to_string();
    let (&tag, rest) = input.split_first().ok_or_else(bad)?;
    let (&first, rest) = rest.split_first().ok_or_else(bad)?;
    let (len, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 || rest.len() < n {
            return Err(bad());
        }
        let len = rest[..n]
            .iter()
            .fold(0usize, |acc, b| (acc << 8) | usize::from(*b));
        (len, &rest[n..])
    };
    if rest.len() < len {
        return Err(bad());
    }
    let header = input.len() - rest.len();
    Ok((tag, &rest[..len], &input[..header + len], &rest[len..]))
}

// ---- PEM as Go's encoding/pem writes and reads it ----

fn pem_encode(kind: &str, der: &[u8]) -> String {
    let b64 = B64.encode(der);
    let mut out = format!("-----BEGIN {kind}-----\n");
    for line in b64.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(line).unwrap_or_default());
        out.push('\n');
    }
    out.push_str(&format!("-----END {kind}-----\n"));
    out
}

/// The first PEM block: its type and bytes.
fn pem_decode(text: &str) -> Option<(String, Vec<u8>)> {
    let start = text.find("-----BEGIN ")?;
    let rest = &text[start + 11..];
    let kind_end = rest.find("-----")?;
    let kind = &rest[..kind_end];
    let body = &rest[kind_end + 5..];
    let end = body.find(&format!("-----END {kind}-----"))?;
    let body: String = body[..end]
        .lines()
        .filter(|l| !l.contains(':'))
        .flat_map(|l| l.chars())
        .filter(|c| !c.is_whitespace())
        .collect();
    Some((kind.to_string(), B64.decode(body).ok()?))
}

// ---- keys ----

enum Key {
    Rsa(signature::RsaKeyPair),
    Ec(signature::EcdsaKeyPair, Curve),
    Ed25519(signature::Ed25519KeyPair),
}

#[derive(Clone, Copy)]
enum Curve {
    P256,
    P384,
}

const OID_RSA_SHA256: &[u8] = &[
    0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0b,
];
const OID_ECDSA_SHA256: &[u8] = &[0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02];
const OID_ECDSA_SHA384: &[u8] = &[0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x03];
const OID_ED25519: &[u8] = &[0x06, 0x03, 0x2b, 0x65, 0x70];

impl Key {
    fn rsa(bits: aws_lc_rs::rsa::KeySize) -> Result<Key, String> {
        signature::RsaKeyPair::generate(bits)
            .map(Key::Rsa)
            .map_err(|_| "error generating rsa key".to_string())
    }

    fn generate(kind: &str) -> Result<Key, String> {
        match kind {
            "" | "rsa" => Key::rsa(aws_lc_rs::rsa::KeySize::Rsa4096),
            "ecdsa" => {
                signature::EcdsaKeyPair::generate(&signature::ECDSA_P256_SHA256_ASN1_SIGNING)
                    .map(|k| Key::Ec(k, Curve::P256))
                    .map_err(|_| "failed to generate private key".to_string())
            }
            "ed25519" => signature::Ed25519KeyPair::generate()
                .map(Key::Ed25519)
                .map_err(|_| "failed to generate private key".to_string()),
            other => Err(format!("Unknown type {other}")),
        }
    }

    /// Sprig's `parsePrivateKeyPEM`, with its messages.
    fn from_pem(text: &str) -> Result<Key, String> {
        let (kind, der) = pem_decode(text).ok_or("no PEM data in input")?;
        if kind == "PRIVATE KEY" {
            if let Ok(k) = signature::RsaKeyPair::from_pkcs8(&der) {
                return Ok(Key::Rsa(k));
            }
            for (alg, curve) in [
                (&signature::ECDSA_P256_SHA256_ASN1_SIGNING, Curve::P256),
                (&signature::ECDSA_P384_SHA384_ASN1_SIGNING, Curve::P384),
            ] {
                if let Ok(k) = signature::EcdsaKeyPair::from_pkcs8(alg, &der) {
                    return Ok(Key::Ec(k, curve));
                }
            }
            return signature::Ed25519KeyPair::from_pkcs8_maybe_unchecked(&der)
                .map(Key::Ed25519)
                .map_err(|e| format!("decoding PEM as PKCS#8: {e}"));
        }
        let Some(prefix) = kind.strip_suffix(" PRIVATE KEY") else {
            return Err(format!("no private key data in PEM block of type {kind}"));
        };
        match prefix {
            "RSA" => signature::RsaKeyPair::from_der(&der)
                .map(Key::Rsa)
                .map_err(|e| format!("parsing RSA private key from PEM: {e}")),
            "EC" => {
                let mut last = String::new();
                for (alg, curve) in [
                    (&signature::ECDSA_P256_SHA256_ASN1_SIGNING, Curve::P256),
                    (&signature::ECDSA_P384_SHA384_ASN1_SIGNING, Curve::P384),
                ] {
                    match signature::EcdsaKeyPair::from_private_key_der(alg, &der) {
                        Ok(k) => return Ok(Key::Ec(k, curve)),
                        Err(e) => last = e.to_string(),
                    }
                }
                Err(format!("parsing EC private key from PEM: {last}"))
            }
            // Go's DSA is deprecated and aws-lc has none: refuse clearly.
            "DSA" => Err("parsing DSA private key from PEM: DSA keys are not supported".into()),
            _ => Err(format!("invalid private key type {kind}")),
        }
    }

    /// Sprig's `pemBlockForKey`.
    fn to_pem(&self) -> Result<String, String> {
        let fail = |_| "error pem-encoding key".to_string();
        match self {
            Key::Rsa(k) => {
                // PKCS#8 wraps the PKCS#1 key in its third element.
                let pkcs8 = k.as_der().map_err(fail)?;
                let (_, info, _, _) = next(pkcs8.as_ref())?;
                let (_, _, _, rest) = next(info)?;
                let (_, _, _, rest) = next(rest)?;
                let (_, pkcs1, _, _) = next(rest)?;
                Ok(pem_encode("RSA PRIVATE KEY", pkcs1))
            }
            Key::Ec(k, _) => {
                let der = k.private_key().as_der().map_err(fail)?;
                Ok(pem_encode("EC PRIVATE KEY", der.as_ref()))
            }
            Key::Ed25519(k) => {
                let der: aws_lc_rs::encoding::Pkcs8V1Der<'_> = k.as_der().map_err(fail)?;
                Ok(pem_encode("PRIVATE KEY", der.as_ref()))
            }
        }
    }

    /// The SubjectPublicKeyInfo.
    fn spki(&self) -> Result<Vec<u8>, String> {
        let fail = |_| "error retrieving public key from signee key".to_string();
        Ok(match self {
            Key::Rsa(k) => k.public_key().as_der().map_err(fail)?.as_ref().to_vec(),
            Key::Ec(k, _) => k.public_key().as_der().map_err(fail)?.as_ref().to_vec(),
            Key::Ed25519(k) => k.public_key().as_der().map_err(fail)?.as_ref().to_vec(),
        })
    }

    /// The AlgorithmIdentifier Go picks for this signing key.
    fn signature_algorithm(&self) -> Vec<u8> {
        match self {
            Key::Rsa(_) => seq(&[OID_RSA_SHA256, &[0x05, 0x00]]),
            Key::Ec(_, Curve::P256) => seq(&[OID_ECDSA_SHA256]),
            Key::Ec(_, Curve::P384) => seq(&[OID_ECDSA_SHA384]),
            Key::Ed25519(_) => seq(&[OID_ED25519]),
        }
    }

    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, String> {
        let rng = aws_lc_rs::rand::SystemRandom::new();
        let fail = |_| "error creating certificate: signing failed".to_string();
        match self {
            Key::Rsa(k) => {
                let mut sig = vec![0; k.public_modulus_len()];
                k.sign(&signature::RSA_PKCS1_SHA256, &rng, message, &mut sig)
                    .map_err(fail)?;
                Ok(sig)
            }
            Key::Ec(k, _) => Ok(k.sign(&rng, message).map_err(fail)?.as_ref().to_vec()),
            Key::Ed25519(k) => Ok(k.sign(message).as_ref().to_vec()),
        }
    }
}

// ---- certificates ----

/// Sprig's `certificate`: what `genCA` and friends return, `.Cert` and `.Key` in PEM.
#[derive(Debug, Clone)]
struct Certificate {
    cert: String,
    key: String,
}

impl Object for Certificate {
    fn type_name(&self) -> &str {
        "sprig.certificate"
    }

    fn field(&self, name: &str) -> Option<Value> {
        match name {
            "Cert" => Some(Value::String(self.cert.clone())),
            "Key" => Some(Value::String(self.key.clone())),
            _ => None,
        }
    }

    fn display(&self) -> String {
        format!("{{{} {}}}", self.cert, self.key)
    }

    fn as_any(&self) -> Option<&dyn std::any::Any> {
        Some(self)
    }
}

fn certificate(v: &Value) -> Result<Certificate, String> {
    if let Value::Object(o) = v
        && let Some(c) = o.as_any().and_then(|a| a.downcast_ref::<Certificate>())
    {
        return Ok(c.clone());
    }
    Err(format!(
        "wrong type for value; expected sprig.certificate; got {}",
        v.type_name()
    ))
}

/// What a certificate needs of its issuer: its subject and key identifier.
struct Issuer {
    subject: Vec<u8>,
    spki: Vec<u8>,
    key_id: Option<Vec<u8>>,
}

/// Reads the parts of a DER certificate that signing under it needs.
fn parse_certificate(der: &[u8]) -> Result<Issuer, String> {
    let (_, cert, _, _) = next(der)?;
    let (_, tbs, _, _) = next(cert)?;
    let mut rest = tbs;
    let (tag, _, _, r) = next(rest)?;
    if tag == 0xa0 {
        rest = r;
    }
    // serial, signature, issuer, validity
    for _ in 0..4 {
        rest = next(rest)?.3;
    }
    let (_, _, subject, r) = next(rest)?;
    let (_, _, spki, mut rest) = next(r)?;
    let mut key_id = None;
    while !rest.is_empty() {
        let (tag, content, _, r) = next(rest)?;
        rest = r;
        if tag != 0xa3 {
            continue;
        }
        let (_, mut exts, _, _) = next(content)?;
        while !exts.is_empty() {
            let (_, ext, _, r) = next(exts)?;
            exts = r;
            let (_, oid, _, mut fields) = next(ext)?;
            if oid != [0x55, 0x1d, 0x0e] {
                continue;
            }
            let (tag, _, _, r) = next(fields)?;
            if tag == 0x01 {
                fields = r;
            }
            let (_, value, _, _) = next(fields)?;
            key_id = Some(next(value)?.1.to_vec());
        }
    }
    Ok(Issuer {
        subject: subject.to_vec(),
        spki: spki.to_vec(),
        key_id,
    })
}

/// Go's `pkix.Name{CommonName: cn}` as DER: a PrintableString when Go's rules allow one.
fn name(cn: &str) -> Vec<u8> {
    if cn.is_empty() {
        return seq(&[]);
    }
    let printable = cn
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b" '()+,-./:=?*".contains(&b));
    let value = tlv(if printable { 0x13 } else { 0x0c }, cn.as_bytes());
    let atv = seq(&[&[0x06, 0x03, 0x55, 0x04, 0x03], &value]);
    seq(&[&tlv(0x31, &atv)])
}

/// Go's time encoding in certificates: UTCTime from 1950 to 2049, else GeneralizedTime.
fn time(secs: i64) -> Vec<u8> {
    let (y, mo, d) = super::dates::civil(secs.div_euclid(86_400));
    let s = secs.rem_euclid(86_400);
    let (h, mi, se) = (s / 3600, s / 60 % 60, s % 60);
    if (1950..2050).contains(&y) {
        let text = format!("{:02}{mo:02}{d:02}{h:02}{mi:02}{se:02}Z", y % 100);
        tlv(0x17, text.as_bytes())
    } else {
        let text = format!("{y:04}{mo:02}{d:02}{h:02}{mi:02}{se:02}Z");
        tlv(0x18, text.as_bytes())
    }
}

fn extension(oid: &[u8], critical: bool, value: &[u8]) -> Vec<u8> {
    let oid = tlv(0x06, oid);
    let octets = tlv(0x04, value);
    if critical {
        seq(&[&oid, &[0x01, 0x01, 0xff], &octets])
    } else {
        seq(&[&oid, &octets])
    }
}

/// Go's `net.ParseIP` bytes as a certificate holds them (IPv4 in 4 bytes).
fn ip_bytes(v: &Value) -> Result<Vec<u8>, String> {
    let Value::String(s) = v else {
        return Err(format!(
            "error parsing ip: {} is not a string",
            crate::gofmt::sprint(std::slice::from_ref(v))
        ));
    };
    match s.parse::<std::net::IpAddr>() {
        Ok(std::net::IpAddr::V4(ip)) => Ok(ip.octets().to_vec()),
        Ok(std::net::IpAddr::V6(ip)) => Ok(match ip.to_ipv4_mapped() {
            Some(v4) => v4.octets().to_vec(),
            None => ip.octets().to_vec(),
        }),
        Err(_) => Err(format!("error parsing ip: {s}")),
    }
}

fn dns_name(v: &Value) -> Result<String, String> {
    match v {
        Value::String(s) => Ok(s.clone()),
        other => Err(format!(
            "error processing alternate dns name: {} is not a string",
            crate::gofmt::sprint(std::slice::from_ref(other))
        )),
    }
}

struct Template<'a> {
    cn: &'a str,
    ips: &'a [Value],
    dns: &'a [Value],
    days: i64,
    is_ca: bool,
}

/// Go's `x509.CreateCertificate` with Sprig's template, signed by `signer` (self-signed when
/// `issuer` is `None`).
fn create(
    t: &Template<'_>,
    subject_key: &Key,
    issuer: Option<&Issuer>,
    signer: &Key,
) -> Result<String, String> {
    let ips = t.ips.iter().map(ip_bytes).collect::<Result<Vec<_>, _>>()?;
    let dns = t.dns.iter().map(dns_name).collect::<Result<Vec<_>, _>>()?;
    let mut serial = random(16)?;
    serial.insert(0, 0);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    let not_after = now.saturating_add(t.days.saturating_mul(86_400));
    let spki = subject_key.spki()?;
    if let Some(issuer) = issuer
        && issuer.spki != signer.spki()?
    {
        return Err(
            "error creating certificate: x509: provided PrivateKey doesn't match parent's PublicKey"
                .into(),
        );
    }
    let subject = name(t.cn);
    let issuer_name = issuer.map_or_else(|| subject.clone(), |i| i.subject.clone());
    let sig_alg = signer.signature_algorithm();

    let mut exts = Vec::new();
    // Key usage: digital signature, key encipherment (and certificate signing for a CA),
    // as a minimal bit string.
    let ku: &[u8] = if t.is_ca {
        &[0x03, 0x02, 0x02, 0xa4]
    } else {
        &[0x03, 0x02, 0x05, 0xa0]
    };
    exts.push(extension(&[0x55, 0x1d, 0x0f], true, ku));
    let server_auth = [0x06, 0x08, 0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x03, 0x01];
    let client_auth = [0x06, 0x08, 0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x03, 0x02];
    exts.push(extension(
        &[0x55, 0x1d, 0x25],
        false,
        &seq(&[&server_auth, &client_auth]),
    ));
    let bc = if t.is_ca {
        seq(&[&[0x01, 0x01, 0xff]])
    } else {
        seq(&[])
    };
    exts.push(extension(&[0x55, 0x1d, 0x13], true, &bc));
    if t.is_ca {
        // Go 1.25's subject key identifier: SHA-256 of the public key bits, truncated.
        let (_, info, _, _) = next(&spki)?;
        let (_, _, _, rest) = next(info)?;
        let (_, bits, _, _) = next(rest)?;
        let digest = <sha2::Sha256 as sha2::Digest>::digest(bits.get(1..).unwrap_or_default());
        exts.push(extension(
            &[0x55, 0x1d, 0x0e],
            false,
            &tlv(0x04, &digest[..20]),
        ));
    }
    if let Some(id) = issuer.and_then(|i| i.key_id.as_ref())
        && issuer_name != subject
    {
        exts.push(extension(
            &[0x55, 0x1d, 0x23],
            false,
            &seq(&[&tlv(0x80, id)]),
        ));
    }
    if !ips.is_empty() || !dns.is_empty() {
        let mut names = Vec::new();
        for d in &dns {
            names.extend(tlv(0x82, d.as_bytes()));
        }
        for ip in &ips {
            names.extend(tlv(0x87, ip));
        }
        exts.push(extension(
            &[0x55, 0x1d, 0x11],
            subject == seq(&[]),
            &tlv(0x30, &names),
        ));
    }
    let tbs = seq(&[
        &[0xa0, 0x03, 0x02, 0x01, 0x02],
        &uint(&serial),
        &sig_alg,
        &issuer_name,
        &seq(&[&time(now), &time(not_after)]),
        &subject,
        &spki,
        &tlv(0xa3, &tlv(0x30, &exts.concat())),
    ]);
    let mut bits = vec![0];
    bits.extend(signer.sign(&tbs)?);
    let cert = seq(&[&tbs, &sig_alg, &tlv(0x03, &bits)]);
    Ok(pem_encode("CERTIFICATE", &cert))
}

fn cert_value(cert: String, key: &Key) -> Result<Value, String> {
    Ok(Value::Object(Arc::new(Certificate {
        cert,
        key: key.to_pem()?,
    })))
}

fn self_signed(t: &Template<'_>, key: Key) -> Result<Value, String> {
    let cert = create(t, &key, None, &key)?;
    cert_value(cert, &key)
}

fn signed(t: &Template<'_>, ca: &Value, key: Key) -> Result<Value, String> {
    let ca = certificate(ca)?;
    let (_, der) = pem_decode(&ca.cert).ok_or("unable to decode certificate")?;
    let issuer = parse_certificate(&der)
        .map_err(|e| format!("error parsing certificate: decodedSignerCert.Bytes: {e}"))?;
    let signer = Key::from_pem(&ca.key).map_err(|e| format!("error parsing private key: {e}"))?;
    let cert = create(t, &key, Some(&issuer), &signer)?;
    cert_value(cert, &key)
}

fn pem_key(v: &Value) -> Result<Key, String> {
    Key::from_pem(v.as_str().unwrap_or_default()).map_err(|e| format!("parsing private key: {e}"))
}

fn int(v: &Value) -> i64 {
    match v {
        Value::Int(i) | Value::Int64(i) => *i,
        _ => 0,
    }
}

fn list(v: &Value) -> &[Value] {
    match v {
        Value::List(l) => l,
        _ => &[],
    }
}

fn string(v: &Value) -> &str {
    v.as_str().unwrap_or_default()
}

// ---- passwords and AES ----

/// Sprig's `bcrypt`: cost 10, `$2a$`, Go's refusal of passwords over 72 bytes.
fn bcrypt_hash(password: &str) -> String {
    if password.len() > 72 {
        return "failed to encrypt string with bcrypt: bcrypt: password length exceeds 72 bytes"
            .into();
    }
    match bcrypt::hash_with_result(password, 10) {
        Ok(h) => h.format_for_version(bcrypt::Version::TwoA),
        Err(e) => format!("failed to encrypt string with bcrypt: {e}"),
    }
}

const MASTER_PASSWORD_SEED: &[u8] = b"com.lyndir.masterpassword";

fn password_templates(kind: &str) -> Option<&'static [&'static str]> {
    Some(match kind {
        "maximum" => &["anoxxxxxxxxxxxxxxxxx", "axxxxxxxxxxxxxxxxxno"],
        "long" => &[
            "CvcvnoCvcvCvcv",
            "CvcvCvcvnoCvcv",
            "CvcvCvcvCvcvno",
            "CvccnoCvcvCvcv",
            "CvccCvcvnoCvcv",
            "CvccCvcvCvcvno",
            "CvcvnoCvccCvcv",
            "CvcvCvccnoCvcv",
            "CvcvCvccCvcvno",
            "CvcvnoCvcvCvcc",
            "CvcvCvcvnoCvcc",
            "CvcvCvcvCvccno",
            "CvccnoCvccCvcv",
            "CvccCvccnoCvcv",
            "CvccCvccCvcvno",
            "CvcvnoCvccCvcc",
            "CvcvCvccnoCvcc",
            "CvcvCvccCvccno",
            "CvccnoCvcvCvcc",
            "CvccCvcvnoCvcc",
            "CvccCvcvCvccno",
        ],
        "medium" => &["CvcnoCvc", "CvcCvcno"],
        "short" => &["Cvcn"],
        "basic" => &["aaanaaan", "aannaaan", "aaannaaa"],
        "pin" => &["nnnn"],
        _ => return None,
    })
}

fn template_characters(class: u8) -> &'static [u8] {
    match class {
        b'V' => b"AEIOU",
        b'C' => b"BCDFGHJKLMNPQRSTVWXYZ",
        b'v' => b"aeiou",
        b'c' => b"bcdfghjklmnpqrstvwxyz",
        b'A' => b"AEIOUBCDFGHJKLMNPQRSTVWXYZ",
        b'a' => b"AEIOUaeiouBCDFGHJKLMNPQRSTVWXYZbcdfghjklmnpqrstvwxyz",
        b'n' => b"0123456789",
        b'o' => b"@&%?,=[]_:-+*$#!'^~;()/.",
        _ => b"AEIOUaeiouBCDFGHJKLMNPQRSTVWXYZbcdfghjklmnpqrstvwxyz0123456789!@#$%^&*()",
    }
}

/// The Master Password algorithm (v3) as Sprig implements it: scrypt of the master password
/// salted with the user, HMAC-SHA256 of the site and counter, a template and characters
/// picked by the seed's bytes.
fn derive_password(counter: u32, kind: &str, password: &str, user: &str, site: &str) -> String {
    use hmac::Mac;
    let Some(templates) = password_templates(kind) else {
        return format!("cannot find password template {kind}");
    };
    let mut salt = MASTER_PASSWORD_SEED.to_vec();
    salt.extend((user.len() as u32).to_be_bytes());
    salt.extend(user.as_bytes());
    let mut key = [0u8; 64];
    let derived = scrypt::Params::new(15, 8, 2, 64)
        .map_err(|e| e.to_string())
        .and_then(|p| {
            scrypt::scrypt(password.as_bytes(), &salt, &p, &mut key).map_err(|e| e.to_string())
        });
    if let Err(e) = derived {
        return format!("failed to derive password: {e}");
    }
    let mut message = MASTER_PASSWORD_SEED.to_vec();
    message.extend((site.len() as u32).to_be_bytes());
    message.extend(site.as_bytes());
    message.extend(counter.to_be_bytes());
    let Ok(mut mac) = hmac::Hmac::<sha2::Sha256>::new_from_slice(&key) else {
        return "failed to derive password".into();
    };
    mac.update(&message);
    let seed = mac.finalize().into_bytes();
    let template = templates[usize::from(seed[0]) % templates.len()];
    template
        .bytes()
        .enumerate()
        .map(|(i, class)| {
            let chars = template_characters(class);
            chars[usize::from(seed[i + 1]) % chars.len()] as char
        })
        .collect()
}

/// Sprig's AES key: the password's bytes in 32 zeroed bytes (AES-256).
fn aes_key(password: &str) -> Result<aws_lc_rs::cipher::UnboundCipherKey, String> {
    let mut key = [0u8; 32];
    let n = password.len().min(32);
    key[..n].copy_from_slice(&password.as_bytes()[..n]);
    aws_lc_rs::cipher::UnboundCipherKey::new(&aws_lc_rs::cipher::AES_256, &key)
        .map_err(|_| "crypto/aes: invalid key".to_string())
}

/// Sprig's `encryptAES`: AES-256-CBC, PKCS#7 padding, a random IV in front, base64.
fn encrypt_aes(password: &str, plaintext: &str) -> Result<String, String> {
    use aws_lc_rs::cipher::{EncryptingKey, EncryptionContext};
    use aws_lc_rs::iv::FixedLength;
    if plaintext.is_empty() {
        return Ok(String::new());
    }
    let pad = 16 - plaintext.len() % 16;
    let mut data = plaintext.as_bytes().to_vec();
    data.extend(std::iter::repeat_n(pad as u8, pad));
    let iv: [u8; 16] = random(16)?
        .try_into()
        .map_err(|_| "crypto/rand: short read".to_string())?;
    let key = EncryptingKey::cbc(aes_key(password)?).map_err(|_| "crypto/aes: invalid key")?;
    key.less_safe_encrypt(&mut data, EncryptionContext::Iv128(FixedLength::from(iv)))
        .map_err(|_| "crypto/cipher: encryption failed".to_string())?;
    let mut out = iv.to_vec();
    out.extend(data);
    Ok(B64.encode(out))
}

/// Sprig's `decryptAES`: the inverse, trusting the last byte as the padding length as Sprig
/// does (where Go would panic on a short or misaligned input, an error).
fn decrypt_aes(password: &str, text: &str) -> Result<String, String> {
    use aws_lc_rs::cipher::{DecryptingKey, DecryptionContext};
    use aws_lc_rs::iv::FixedLength;
    if text.is_empty() {
        return Ok(String::new());
    }
    let crypt = B64.decode(text).map_err(|e| {
        // Go's `base64.CorruptInputError`.
        let at = match e {
            base64::DecodeError::InvalidByte(at, _)
            | base64::DecodeError::InvalidLastSymbol(at, _) => at,
            base64::DecodeError::InvalidLength(n) => n,
            base64::DecodeError::InvalidPadding => text.len(),
        };
        format!("illegal base64 data at input byte {at}")
    })?;
    if crypt.len() < 16 {
        return Err("runtime error: slice bounds out of range".into());
    }
    let (iv, body) = crypt.split_at(16);
    if body.len() % 16 != 0 {
        return Err("crypto/cipher: input not full blocks".into());
    }
    if body.is_empty() {
        return Err("runtime error: index out of range [-1]".into());
    }
    let iv: [u8; 16] = iv.try_into().map_err(|_| "crypto/cipher: bad IV")?;
    let key = DecryptingKey::cbc(aes_key(password)?).map_err(|_| "crypto/aes: invalid key")?;
    let mut data = body.to_vec();
    let plain = key
        .decrypt(&mut data, DecryptionContext::Iv128(FixedLength::from(iv)))
        .map_err(|_| "crypto/cipher: decryption failed".to_string())?;
    let pad = usize::from(plain[plain.len() - 1]);
    if pad > plain.len() {
        return Err(format!(
            "runtime error: slice bounds out of range [:{}]",
            plain.len() as i64 - pad as i64
        ));
    }
    Ok(String::from_utf8_lossy(&plain[..plain.len() - pad]).into_owned())
}

pub(super) fn register(f: &mut Functions) {
    use Ty::*;
    f.insert(
        "bcrypt",
        Function::new(&[String], |a| Ok(Value::String(bcrypt_hash(string(&a[0]))))),
    );
    f.insert(
        "htpasswd",
        Function::new(&[String, String], |a| {
            let user = string(&a[0]);
            if user.contains(':') {
                return Ok(Value::String(format!("invalid username: {user}")));
            }
            Ok(Value::String(format!(
                "{user}:{}",
                bcrypt_hash(string(&a[1]))
            )))
        }),
    );
    f.insert(
        "derivePassword",
        Function::new(&[Int, String, String, String, String], |a| {
            let counter = u32::try_from(int(&a[0]))
                .map_err(|_| format!("{} overflows uint32", int(&a[0])))?;
            Ok(Value::String(derive_password(
                counter,
                string(&a[1]),
                string(&a[2]),
                string(&a[3]),
                string(&a[4]),
            )))
        }),
    );
    f.insert(
        "genPrivateKey",
        Function::new(&[String], |a| {
            if string(&a[0]) == "dsa" {
                // Go's deprecated DSA: refused rather than answered with another key type.
                return Err("dsa keys are not supported by gitops-gotmpl".into());
            }
            Ok(Value::String(
                match Key::generate(string(&a[0])).and_then(|k| k.to_pem()) {
                    Ok(pem) => pem,
                    Err(message) if message.starts_with("Unknown type") => message,
                    Err(message) => format!("failed to generate private key: {message}"),
                },
            ))
        }),
    );
    f.insert(
        "buildCustomCert",
        Function::new(&[String, String], |a| {
            let cert = B64
                .decode(string(&a[0]))
                .map_err(|_| "unable to decode base64 certificate")?;
            let key = B64
                .decode(string(&a[1]))
                .map_err(|_| "unable to decode base64 private key")?;
            let cert = std::string::String::from_utf8_lossy(&cert).into_owned();
            let key = std::string::String::from_utf8_lossy(&key).into_owned();
            let (_, der) = pem_decode(&cert).ok_or("unable to decode certificate")?;
            parse_certificate(&der)
                .map_err(|e| format!("error parsing certificate: decodedCert.Bytes: {e}"))?;
            Key::from_pem(&key).map_err(|e| format!("error parsing private key: {e}"))?;
            Ok(Value::Object(Arc::new(Certificate { cert, key })))
        }),
    );
    fn ca(cn: &str, days: i64) -> Template<'_> {
        Template {
            cn,
            ips: &[],
            dns: &[],
            days,
            is_ca: true,
        }
    }
    f.insert(
        "genCA",
        Function::new(&[String, Int], |a| {
            let key = Key::rsa(aws_lc_rs::rsa::KeySize::Rsa2048)?;
            self_signed(&ca(string(&a[0]), int(&a[1])), key)
        }),
    );
    f.insert(
        "genCAWithKey",
        Function::new(&[String, Int, String], |a| {
            self_signed(&ca(string(&a[0]), int(&a[1])), pem_key(&a[2])?)
        }),
    );
    fn leaf<'a>(a: &'a [Value]) -> Template<'a> {
        Template {
            cn: string(&a[0]),
            ips: list(&a[1]),
            dns: list(&a[2]),
            days: int(&a[3]),
            is_ca: false,
        }
    }
    f.insert(
        "genSelfSignedCert",
        Function::new(&[String, List, List, Int], |a| {
            self_signed(&leaf(a), Key::rsa(aws_lc_rs::rsa::KeySize::Rsa2048)?)
        }),
    );
    f.insert(
        "genSelfSignedCertWithKey",
        Function::new(&[String, List, List, Int, String], |a| {
            self_signed(&leaf(a), pem_key(&a[4])?)
        }),
    );
    f.insert(
        "genSignedCert",
        Function::new(&[String, List, List, Int, Any], |a| {
            certificate(&a[4])?;
            signed(&leaf(a), &a[4], Key::rsa(aws_lc_rs::rsa::KeySize::Rsa2048)?)
        }),
    );
    f.insert(
        "genSignedCertWithKey",
        Function::new(&[String, List, List, Int, Any, String], |a| {
            certificate(&a[4])?;
            signed(&leaf(a), &a[4], pem_key(&a[5])?)
        }),
    );
    f.insert(
        "encryptAES",
        Function::new(&[String, String], |a| {
            encrypt_aes(string(&a[0]), string(&a[1])).map(Value::String)
        }),
    );
    f.insert(
        "decryptAES",
        Function::new(&[String, String], |a| {
            decrypt_aes(string(&a[0]), string(&a[1])).map(Value::String)
        }),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derive_password_matches_sprig_for_a_known_input() {
        // Sprig's own test: derivePassword 1 "long" "password" "user" "example.com".
        assert_eq!(
            derive_password(1, "long", "password", "user", "example.com"),
            "ZedaFaxcZaso9*"
        );
    }

    #[test]
    fn aes_round_trips() {
        let c = encrypt_aes("secretkey", "plaintext").unwrap_or_default();
        assert_eq!(decrypt_aes("secretkey", &c).as_deref(), Ok("plaintext"));
    }
}
