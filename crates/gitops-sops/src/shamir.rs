//! Shamir secret sharing over GF(2^8), share-compatible with the `shamir` package `sops` uses:
//! each share is the evaluated bytes followed by one byte holding its x coordinate.

use aes_gcm::aead::{OsRng, rand_core::RngCore};
use zeroize::Zeroizing;

/// Multiplication in GF(2^8) with the AES polynomial x^8 + x^4 + x^3 + x + 1.
fn mul(a: u8, b: u8) -> u8 {
    let mut acc: u8 = 0;
    for i in (0..8).rev() {
        let bit = (b >> i) & 1;
        let carry = if acc & 0x80 != 0 { 0x1b } else { 0 };
        acc = (acc << 1) ^ carry;
        if bit == 1 {
            acc ^= a;
        }
    }
    acc
}

fn inverse(a: u8) -> u8 {
    // a^254 = a^-1 in GF(2^8).
    let mut result = 1u8;
    let mut base = a;
    let mut exp = 254u8;
    while exp > 0 {
        if exp & 1 == 1 {
            result = mul(result, base);
        }
        base = mul(base, base);
        exp >>= 1;
    }
    result
}

/// Why shares could not be combined.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ShamirError {
    #[error("fewer than two parts")]
    TooFew,
    #[error("parts have different lengths")]
    Lengths,
    #[error("two parts share an x coordinate")]
    Duplicate,
}

/// Recovers the secret from at least `threshold` shares.
pub(crate) fn combine(parts: &[Zeroizing<Vec<u8>>]) -> Result<Zeroizing<Vec<u8>>, ShamirError> {
    if parts.len() < 2 {
        return Err(ShamirError::TooFew);
    }
    let len = parts[0].len();
    if len < 2 || parts.iter().any(|p| p.len() != len) {
        return Err(ShamirError::Lengths);
    }
    let xs: Vec<u8> = parts.iter().map(|p| p[len - 1]).collect();
    for (i, x) in xs.iter().enumerate() {
        if xs[..i].contains(x) {
            return Err(ShamirError::Duplicate);
        }
    }
    let mut secret = Zeroizing::new(vec![0u8; len - 1]);
    for (idx, out) in secret.iter_mut().enumerate() {
        // Lagrange interpolation at x = 0.
        let mut result = 0u8;
        for (i, &xi) in xs.iter().enumerate() {
            let mut basis = 1u8;
            for (j, &xj) in xs.iter().enumerate() {
                if i != j {
                    basis = mul(basis, mul(xj, inverse(xi ^ xj)));
                }
            }
            result ^= mul(parts[i][idx], basis);
        }
        *out = result;
    }
    Ok(secret)
}

/// Splits a secret into `parts` shares of which any `threshold` recover it.
pub(crate) fn split(secret: &[u8], parts: usize, threshold: usize) -> Vec<Zeroizing<Vec<u8>>> {
    assert!(
        (2..=255).contains(&threshold) && threshold <= parts && parts <= 255,
        "callers validate the threshold"
    );
    let mut out: Vec<Zeroizing<Vec<u8>>> = (0..parts)
        .map(|i| {
            let mut v = vec![0u8; secret.len() + 1];
            v[secret.len()] = (i + 1) as u8;
            Zeroizing::new(v)
        })
        .collect();
    let mut coeffs = Zeroizing::new(vec![0u8; threshold]);
    for (idx, &byte) in secret.iter().enumerate() {
        coeffs[0] = byte;
        OsRng.fill_bytes(&mut coeffs[1..]);
        for (i, share) in out.iter_mut().enumerate() {
            let x = (i + 1) as u8;
            let mut y = coeffs[threshold - 1];
            for c in coeffs[..threshold - 1].iter().rev() {
                y = mul(y, x) ^ c;
            }
            share[idx] = y;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_inverse() {
        for a in 1..=255u8 {
            assert_eq!(mul(a, inverse(a)), 1, "{a}");
        }
    }

    #[test]
    fn split_and_combine_any_subset() {
        let secret: Vec<u8> = (0..32).collect();
        let shares = split(&secret, 5, 3);
        let subset = vec![shares[4].clone(), shares[0].clone(), shares[2].clone()];
        assert_eq!(&combine(&subset).unwrap()[..], &secret[..]);
        let two = vec![shares[1].clone(), shares[3].clone()];
        assert_ne!(&combine(&two).unwrap()[..], &secret[..]);
    }
}
