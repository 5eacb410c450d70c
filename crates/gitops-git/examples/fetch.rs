//! `fetch URL REF STORAGE [LAST_REVISION] [SECRET_FILE]`: fetches like `gitops source fetch` and
//! prints the revision and the artifact path; with `LAST_REVISION` it is an interval poll
//! (prints `unchanged` when nothing moved). Used by `bench/peer.sh`. `GITOPS_INSECURE_HTTP=1`
//! allows credentials over plain http.

use gitops_core::Source as _;
use gitops_git::{Auth, GitSource, Reference};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [url, reference, storage, rest @ ..] = args.as_slice() else {
        eprintln!("usage: fetch URL REF STORAGE [LAST_REVISION|-] [SECRET_FILE]");
        std::process::exit(2);
    };
    let reference: Reference = reference.parse()?;
    let auth = match rest.get(1) {
        Some(file) => Auth::from_secret_yaml(&std::fs::read_to_string(file)?)?,
        None => Auth::None,
    };
    let last = match rest.first().map(String::as_str) {
        Some("-") | None => None,
        Some(text) => Some(text.parse()?),
    };
    let insecure = std::env::var("GITOPS_INSECURE_HTTP").is_ok_and(|v| v == "1");
    let source = GitSource::new(url, reference, storage)?
        .with_auth(auth)
        .with_insecure_http(insecure);
    let fetched = source.fetch(last.as_ref()).await?;
    let state = if fetched.is_updated() {
        "updated"
    } else {
        "unchanged"
    };
    println!(
        "{} {} {}",
        fetched.artifact().revision,
        state,
        fetched.artifact().path.display()
    );
    Ok(())
}
