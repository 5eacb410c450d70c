//! Sprig's `getHostByName`: a forward lookup through the system resolver, one address picked
//! at random when there are several, as Sprig picks. It blocks for as long as the resolver
//! does; a host that must not resolve names while rendering (Helm without `--enable-dns`)
//! replaces this function.

use std::net::ToSocketAddrs;

use crate::{Function, Functions, Ty, Value};

/// The addresses `name` resolves to, without duplicates (the resolver lists an address once
/// per socket type), in the resolver's order.
fn addresses(name: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    if let Ok(found) = (name, 0).to_socket_addrs() {
        for addr in found {
            let ip = addr.ip().to_string();
            if !out.contains(&ip) {
                out.push(ip);
            }
        }
    }
    out
}

pub(super) fn register(f: &mut Functions) {
    f.insert(
        "getHostByName",
        Function::new(&[Ty::String], |a| {
            let found = addresses(a[0].as_str().unwrap_or(""));
            if found.is_empty() {
                // Sprig indexes a random element of the empty answer; Go's rand.Intn panics
                // with this text and text/template reports it as the call's error.
                return Err("invalid argument to Intn".to_string());
            }
            let pick = super::random::below(found.len() as u64) as usize;
            Ok(Value::String(found[pick].clone()))
        }),
    );
}
