//! OCI registries: two `docker-registry` (distribution 2.8) instances, one with htpasswd basic
//! auth, one with bearer-token auth whose tokens come from a small issuer in this crate and are
//! verified by the registry against the issuer's certificate.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use sha2::{Digest as _, Sha256};

use crate::Error;
use crate::kube_env::random_hex;
use crate::process::{
    Server, create_dir, find_program, free_port, run, run_bytes, temp_dir, wait_for_port,
    write_file,
};

/// How a [`RegistryServer`] authenticates clients.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum RegistryAuth {
    /// HTTP basic auth against an htpasswd file.
    Basic,
    /// `WWW-Authenticate: Bearer realm=…,service=…`: clients get a JWT from the token issuer
    /// (with basic auth there) and present it.
    Token,
}

/// Both registries.
pub struct RegistryEnv {
    /// The registry with htpasswd basic auth.
    pub basic: RegistryServer,
    /// The registry with bearer-token auth.
    pub token: RegistryServer,
    dir: PathBuf,
}

/// One running registry, plain HTTP on 127.0.0.1 (clients must treat it as insecure).
pub struct RegistryServer {
    auth: RegistryAuth,
    port: u16,
    username: String,
    password: String,
    token_realm: Option<String>,
    service: String,
    log: PathBuf,
    server: Server,
}

/// The service name the token registry expects in tokens (`aud`).
const TOKEN_SERVICE: &str = "gitops-testenv-registry";
/// The issuer name the token registry expects in tokens (`iss`).
const TOKEN_ISSUER: &str = "gitops-testenv-token-issuer";

impl RegistryEnv {
    /// Starts both registries and the token issuer (about a second).
    ///
    /// # Errors
    /// [`Error::Missing`] when `docker-registry` or `openssl` is not installed.
    pub fn start() -> Result<Self, Error> {
        crate::process::with_retries(Self::start_once)
    }

    fn start_once() -> Result<Self, Error> {
        let registry = find_program("docker-registry", &["/usr/bin/docker-registry"]).ok_or(
            Error::Missing {
                component: "docker-registry",
                detail: "not on PATH".into(),
            },
        )?;
        let openssl = find_program("openssl", &[]).ok_or(Error::Missing {
            component: "openssl",
            detail: "not on PATH".into(),
        })?;
        let dir = temp_dir("gitops-testenv-registry-")?;
        let logs = dir.join("logs");
        create_dir(&logs)?;
        let username = "gitops".to_string();
        let password = format!("pw-{}", random_hex(8));

        // Basic-auth instance.
        let basic_dir = dir.join("basic");
        create_dir(&basic_dir)?;
        let htpasswd = basic_dir.join("htpasswd");
        let hash = bcrypt::hash(&password, 5).map_err(|e| Error::Start {
            server: "docker-registry".into(),
            detail: format!("could not hash the password: {e}"),
        })?;
        write_file(&htpasswd, format!("{username}:{hash}\n"))?;
        let basic_port = free_port()?;
        let auth = format!(
            "auth:\n  htpasswd:\n    realm: gitops-testenv\n    path: {}\n",
            htpasswd.display()
        );
        let basic = start_registry(
            &registry,
            "registry-basic",
            &basic_dir,
            basic_port,
            &auth,
            &logs,
        )?;

        // Token issuer: RSA key + self-signed certificate (the registry's rootcertbundle).
        let token_dir = dir.join("token");
        create_dir(&token_dir)?;
        let key = token_dir.join("issuer.key");
        let cert = token_dir.join("issuer.crt");
        run(Command::new(&openssl)
            .args([
                "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "3650",
            ])
            .args(["-subj", "/CN=gitops-testenv-token-issuer", "-keyout"])
            .arg(&key)
            .arg("-out")
            .arg(&cert))?;
        let public_der = run_bytes(
            Command::new(&openssl)
                .args(["pkey", "-pubout", "-outform", "DER", "-in"])
                .arg(&key),
            None,
        )?;
        let issuer = Arc::new(Issuer {
            openssl: openssl.clone(),
            key: key.clone(),
            kid: libtrust_key_id(&public_der),
            username: username.clone(),
            password: password.clone(),
        });
        let listener = TcpListener::bind("127.0.0.1:0")
            .map_err(|e| Error::io("could not bind the token issuer", e))?;
        let issuer_port = listener
            .local_addr()
            .map_err(|e| Error::io("could not read the token issuer's port", e))?
            .port();
        let realm = format!("http://127.0.0.1:{issuer_port}/token");
        {
            let issuer = Arc::clone(&issuer);
            std::thread::Builder::new()
                .name("gitops-testenv-token-issuer".into())
                .spawn(move || issuer.serve(listener))
                .map_err(|e| Error::io("could not start the token issuer thread", e))?;
        }
        let token_port = free_port()?;
        let auth = format!(
            "auth:\n  token:\n    realm: {realm}\n    service: {TOKEN_SERVICE}\n    issuer: {TOKEN_ISSUER}\n    rootcertbundle: {}\n",
            cert.display()
        );
        let token = start_registry(
            &registry,
            "registry-token",
            &token_dir,
            token_port,
            &auth,
            &logs,
        )?;

        Ok(Self {
            basic: RegistryServer {
                auth: RegistryAuth::Basic,
                port: basic_port,
                username: username.clone(),
                password: password.clone(),
                token_realm: None,
                service: String::new(),
                log: basic.log_path().to_path_buf(),
                server: basic,
            },
            token: RegistryServer {
                auth: RegistryAuth::Token,
                port: token_port,
                username,
                password,
                token_realm: Some(realm),
                service: TOKEN_SERVICE.into(),
                log: token.log_path().to_path_buf(),
                server: token,
            },
            dir,
        })
    }

    /// Both registries.
    pub fn servers(&self) -> [&RegistryServer; 2] {
        [&self.basic, &self.token]
    }

    /// The temporary directory (storage, htpasswd, issuer key and certificate, logs).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Stops both registries and removes the temporary directory. Dropping does the same.
    pub fn stop(self) {
        drop(self);
    }
}

impl Drop for RegistryEnv {
    fn drop(&mut self) {
        self.basic.server.stop(Duration::from_secs(3));
        self.token.server.stop(Duration::from_secs(3));
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn start_registry(
    binary: &Path,
    name: &str,
    dir: &Path,
    port: u16,
    auth: &str,
    logs: &Path,
) -> Result<Server, Error> {
    let config = dir.join("config.yml");
    write_file(
        &config,
        format!(
            "version: 0.1\nlog:\n  level: info\n  accesslog:\n    disabled: false\nstorage:\n  filesystem:\n    rootdirectory: {data}\n  delete:\n    enabled: true\n  redirect:\n    disable: true\nhttp:\n  addr: 127.0.0.1:{port}\n  secret: {secret}\n{auth}",
            data = dir.join("data").display(),
            secret = random_hex(16),
        ),
    )?;
    let mut cmd = Command::new(binary);
    cmd.arg("serve").arg(&config);
    let server = Server::spawn(name, cmd, logs)?;
    wait_for_port(&server, port, Duration::from_secs(15))?;
    Ok(server)
}

impl RegistryServer {
    /// How this registry authenticates.
    pub fn auth(&self) -> RegistryAuth {
        self.auth
    }

    /// `127.0.0.1:<port>`, the host part of image references (`127.0.0.1:<port>/repo:tag`).
    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// `http://127.0.0.1:<port>`
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The user name accepted (by htpasswd, or by the token issuer).
    pub fn username(&self) -> &str {
        &self.username
    }

    /// The password accepted (by htpasswd, or by the token issuer).
    pub fn password(&self) -> &str {
        &self.password
    }

    /// The token issuer's URL (`http://127.0.0.1:<port>/token`) for the token registry.
    pub fn token_realm(&self) -> Option<&str> {
        self.token_realm.as_deref()
    }

    /// The registry's log (includes its access log).
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Process id of the registry (leads its own process group).
    pub fn pid(&self) -> u32 {
        self.server.pid()
    }

    fn http() -> Result<reqwest::Client, Error> {
        reqwest::Client::builder()
            .no_proxy()
            .timeout(Duration::from_secs(30))
            .build()
            .map_err(|e| Error::Http {
                context: "building an HTTP client".into(),
                source: e,
            })
    }

    /// A bearer token from the issuer for `scope` (e.g. `repository:app:pull,push`); `None` for
    /// the basic-auth registry.
    ///
    /// # Errors
    /// When the issuer does not answer with a token.
    pub async fn token(&self, scope: &str) -> Result<Option<String>, Error> {
        let Some(realm) = &self.token_realm else {
            return Ok(None);
        };
        let response = Self::http()?
            .get(format!(
                "{realm}?service={}&scope={}",
                percent_encode(&self.service),
                percent_encode(scope)
            ))
            .basic_auth(&self.username, Some(&self.password))
            .send()
            .await
            .map_err(|e| Error::Http {
                context: format!("GET {realm}"),
                source: e,
            })?;
        let body = checked(response, "token request", &[200]).await?;
        let value: serde_json::Value = serde_json::from_slice(&body).map_err(|e| Error::Start {
            server: "token issuer".into(),
            detail: format!("answer is not JSON: {e}"),
        })?;
        Ok(value["token"].as_str().map(str::to_string))
    }

    async fn authorize(
        &self,
        request: reqwest::RequestBuilder,
        repo: &str,
    ) -> Result<reqwest::RequestBuilder, Error> {
        Ok(match self.auth {
            RegistryAuth::Basic => request.basic_auth(&self.username, Some(&self.password)),
            RegistryAuth::Token => {
                let token = self
                    .token(&format!("repository:{repo}:pull,push"))
                    .await?
                    .unwrap_or_default();
                request.bearer_auth(token)
            }
        })
    }

    /// Uploads a blob (POST then PUT with the digest) and returns its digest `sha256:…`.
    ///
    /// # Errors
    /// On HTTP failures or unexpected statuses.
    pub async fn push_blob(&self, repo: &str, data: &[u8]) -> Result<String, Error> {
        let digest = sha256_digest(data);
        let http = Self::http()?;
        let start = format!("{}/v2/{repo}/blobs/uploads/", self.url());
        let request = self.authorize(http.post(&start), repo).await?;
        let response = request.send().await.map_err(|e| Error::Http {
            context: format!("POST {start}"),
            source: e,
        })?;
        let location = response
            .headers()
            .get("location")
            .and_then(|l| l.to_str().ok())
            .map(str::to_string);
        checked(response, "starting a blob upload", &[202]).await?;
        let location = location.ok_or_else(|| Error::Status {
            context: "starting a blob upload".into(),
            status: 202,
            body: "no Location header".into(),
        })?;
        let mut upload = if location.starts_with('/') {
            format!("{}{location}", self.url())
        } else {
            location
        };
        upload.push(if upload.contains('?') { '&' } else { '?' });
        upload.push_str("digest=");
        upload.push_str(&digest);
        let request = self
            .authorize(
                http.put(&upload)
                    .header("content-type", "application/octet-stream")
                    .body(data.to_vec()),
                repo,
            )
            .await?;
        let response = request.send().await.map_err(|e| Error::Http {
            context: "PUT blob".into(),
            source: e,
        })?;
        checked(response, "finishing a blob upload", &[201]).await?;
        Ok(digest)
    }

    /// Puts a manifest under `reference` (a tag or digest) and returns its digest.
    ///
    /// # Errors
    /// On HTTP failures or unexpected statuses.
    pub async fn push_manifest(
        &self,
        repo: &str,
        reference: &str,
        media_type: &str,
        manifest: &[u8],
    ) -> Result<String, Error> {
        let url = format!("{}/v2/{repo}/manifests/{reference}", self.url());
        let request = self
            .authorize(
                Self::http()?
                    .put(&url)
                    .header("content-type", media_type)
                    .body(manifest.to_vec()),
                repo,
            )
            .await?;
        let response = request.send().await.map_err(|e| Error::Http {
            context: format!("PUT {url}"),
            source: e,
        })?;
        checked(response, "putting a manifest", &[201]).await?;
        Ok(sha256_digest(manifest))
    }

    /// Pushes an OCI image manifest with the given config and layers (`(media type, bytes)`),
    /// tags it `tag` and returns the manifest digest.
    ///
    /// For a Flux-style artifact use config media type
    /// `application/vnd.cncf.flux.config.v1+json` and one layer of
    /// `application/vnd.cncf.flux.content.v1.tar+gzip`.
    ///
    /// # Errors
    /// On HTTP failures or unexpected statuses.
    pub async fn push_image(
        &self,
        repo: &str,
        tag: &str,
        config_media_type: &str,
        config: &[u8],
        layers: &[(&str, &[u8])],
    ) -> Result<String, Error> {
        let config_digest = self.push_blob(repo, config).await?;
        let mut layer_descriptors = Vec::new();
        for (media_type, data) in layers {
            let digest = self.push_blob(repo, data).await?;
            layer_descriptors.push(serde_json::json!({
                "mediaType": media_type, "digest": digest, "size": data.len(),
            }));
        }
        let manifest = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {"mediaType": config_media_type, "digest": config_digest, "size": config.len()},
            "layers": layer_descriptors,
        });
        let bytes = serde_json::to_vec(&manifest).expect("a JSON value always serializes");
        self.push_manifest(repo, tag, OCI_MANIFEST, &bytes).await
    }

    /// Lists the tags of `repo` (`GET /v2/<repo>/tags/list`, first page).
    ///
    /// # Errors
    /// On HTTP failures or unexpected statuses.
    pub async fn list_tags(&self, repo: &str) -> Result<Vec<String>, Error> {
        let url = format!("{}/v2/{repo}/tags/list", self.url());
        let request = self.authorize(Self::http()?.get(&url), repo).await?;
        let response = request.send().await.map_err(|e| Error::Http {
            context: format!("GET {url}"),
            source: e,
        })?;
        let body = checked(response, "listing tags", &[200]).await?;
        let value: serde_json::Value =
            serde_json::from_slice(&body).map_err(|e| Error::Status {
                context: "listing tags".into(),
                status: 200,
                body: format!("not JSON: {e}"),
            })?;
        Ok(value["tags"]
            .as_array()
            .map(|tags| {
                tags.iter()
                    .filter_map(|t| t.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default())
    }
}

/// Media type of an OCI image manifest.
const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";

async fn checked(response: reqwest::Response, context: &str, ok: &[u16]) -> Result<Vec<u8>, Error> {
    let status = response.status().as_u16();
    let body = response.bytes().await.map_err(|e| Error::Http {
        context: format!("{context}: reading the body"),
        source: e,
    })?;
    if ok.contains(&status) {
        Ok(body.to_vec())
    } else {
        Err(Error::Status {
            context: context.into(),
            status,
            body: String::from_utf8_lossy(&body).chars().take(500).collect(),
        })
    }
}

fn sha256_digest(data: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(data)))
}

/// The key id the registry derives from a certificate's public key (libtrust's format): the
/// first 240 bits of SHA-256 over the DER public key, base32, in groups of four joined by `:`.
fn libtrust_key_id(public_der: &[u8]) -> String {
    let hash = Sha256::digest(public_der);
    let encoded = base32(&hash[..30]);
    let groups: Vec<&str> = encoded
        .as_bytes()
        .chunks(4)
        .map(|c| std::str::from_utf8(c).unwrap_or_default())
        .collect();
    groups.join(":")
}

fn base32(data: &[u8]) -> String {
    const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut out = String::new();
    let mut buffer: u32 = 0;
    let mut bits = 0;
    for &byte in data {
        buffer = (buffer << 8) | u32::from(byte);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(char::from(ALPHABET[((buffer >> bits) & 31) as usize]));
        }
    }
    if bits > 0 {
        out.push(char::from(ALPHABET[((buffer << (5 - bits)) & 31) as usize]));
    }
    out
}

/// The token issuer: `GET /token?service=…&scope=…` with basic auth answers a JWT (RS256,
/// signed with `openssl`) granting the requested actions.
struct Issuer {
    openssl: PathBuf,
    key: PathBuf,
    kid: String,
    username: String,
    password: String,
}

impl Issuer {
    fn serve(&self, listener: TcpListener) {
        for stream in listener.incoming().flatten() {
            let _ = self.handle(stream);
        }
    }

    fn handle(&self, mut stream: TcpStream) -> std::io::Result<()> {
        stream.set_read_timeout(Some(Duration::from_secs(10)))?;
        let mut head = Vec::new();
        let mut buf = [0u8; 2048];
        while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 64 * 1024 {
            let n = stream.read(&mut buf)?;
            if n == 0 {
                break;
            }
            head.extend_from_slice(&buf[..n]);
        }
        let head = String::from_utf8_lossy(&head);
        let mut lines = head.split("\r\n");
        let target = lines
            .next()
            .and_then(|l| l.split_whitespace().nth(1))
            .unwrap_or("/")
            .to_string();
        let authorization = lines
            .take_while(|l| !l.is_empty())
            .find_map(|l| {
                let (name, value) = l.split_once(':')?;
                name.eq_ignore_ascii_case("authorization")
                    .then(|| value.trim().to_string())
            })
            .unwrap_or_default();
        let (status, body) = self.answer(&target, &authorization);
        let response = format!(
            "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n{}\r\n{body}",
            body.len(),
            if status.starts_with("401") {
                "WWW-Authenticate: Basic realm=\"gitops-testenv\"\r\n"
            } else {
                ""
            },
        );
        stream.write_all(response.as_bytes())?;
        stream.flush()
    }

    fn answer(&self, target: &str, authorization: &str) -> (&'static str, String) {
        let (path, query) = target.split_once('?').unwrap_or((target, ""));
        if path != "/token" {
            return ("404 Not Found", r#"{"error":"not found"}"#.into());
        }
        let expected = format!(
            "Basic {}",
            STANDARD.encode(format!("{}:{}", self.username, self.password))
        );
        if authorization != expected {
            return (
                "401 Unauthorized",
                r#"{"error":"credentials required"}"#.into(),
            );
        }
        let mut service = String::new();
        let mut access = Vec::new();
        for pair in query.split('&') {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            let v = percent_decode(v);
            match k {
                "service" => service = v,
                "scope" => {
                    for scope in v.split(' ') {
                        let Some((kind, rest)) = scope.split_once(':') else {
                            continue;
                        };
                        let Some((name, actions)) = rest.rsplit_once(':') else {
                            continue;
                        };
                        let actions: Vec<&str> =
                            actions.split(',').filter(|a| !a.is_empty()).collect();
                        access.push(serde_json::json!({
                            "type": kind, "name": name, "actions": actions,
                        }));
                    }
                }
                _ => {}
            }
        }
        match self.sign(&service, &access) {
            Ok(token) => (
                "200 OK",
                serde_json::json!({"token": token, "access_token": token, "expires_in": 3600})
                    .to_string(),
            ),
            Err(e) => (
                "500 Internal Server Error",
                serde_json::json!({"error": e.to_string()}).to_string(),
            ),
        }
    }

    fn sign(&self, audience: &str, access: &[serde_json::Value]) -> Result<String, Error> {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        let header = serde_json::json!({"typ": "JWT", "alg": "RS256", "kid": self.kid});
        let claims = serde_json::json!({
            "iss": TOKEN_ISSUER,
            "sub": self.username,
            "aud": audience,
            "iat": now,
            "nbf": now.saturating_sub(60),
            "exp": now + 3600,
            "jti": random_hex(12),
            "access": access,
        });
        let signing_input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let signature = run_bytes(
            Command::new(&self.openssl)
                .args(["dgst", "-sha256", "-sign"])
                .arg(&self.key),
            Some(signing_input.as_bytes()),
        )?;
        Ok(format!(
            "{signing_input}.{}",
            URL_SAFE_NO_PAD.encode(signature)
        ))
    }
}

fn percent_encode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("");
                match u8::from_str_radix(hex, 16) {
                    Ok(b) => {
                        out.push(b);
                        i += 2;
                    }
                    Err(_) => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base32_matches_rfc4648() {
        assert_eq!(base32(b"foobar"), "MZXW6YTBOI");
        assert_eq!(base32(b"f"), "MY");
    }

    #[test]
    fn percent_decoding() {
        assert_eq!(
            percent_decode("repository%3Aa%2Fb%3Apull%2Cpush"),
            "repository:a/b:pull,push"
        );
        assert_eq!(percent_decode("a+b%2"), "a b%2");
        assert_eq!(
            percent_decode(&percent_encode("repository:x/y:pull")),
            "repository:x/y:pull"
        );
    }

    #[test]
    fn key_id_shape() {
        let id = libtrust_key_id(b"anything");
        assert_eq!(id.len(), 48 + 11);
        assert_eq!(id.split(':').count(), 12);
    }
}
