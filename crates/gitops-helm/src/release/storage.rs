//! Release records in Secrets, as Helm v4's `Secret` storage driver keeps them
//! (`pkg/storage/driver/secrets.go`, `util.go`, `pkg/storage/storage.go`).
//!
//! One Secret per revision, named `sh.helm.release.v1.<name>.v<revision>`, of type
//! `helm.sh/release.v1`, labelled `name`, `owner=helm`, `status` and `version` (plus
//! `createdAt` or `modifiedAt`, Unix seconds), holding under `release` the base64 text of the
//! gzip (best compression) of the release's JSON. Helm reads records with or without gzip; so
//! does this module.
//!
//! # Guarantees
//! - A record is updated with the `resourceVersion` it was read with: two writers racing on one
//!   revision cannot both win (the loser gets [`Error::Conflict`]); a create of an existing
//!   revision fails with [`Error::Exists`]. Helm itself overwrites blindly.
//! - Decoding is bounded ([`MAX_RELEASE_BYTES`] of JSON): a corrupt or hostile record is an
//!   [`Error::Decode`] naming the Secret, never a panic or an unbounded allocation.

use std::collections::BTreeMap;
use std::io::{Read, Write};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{Api, DeleteParams, ListParams, PostParams};

use super::model::{Release, Status};

/// The type of a release Secret.
pub const SECRET_TYPE: &str = "helm.sh/release.v1";
/// The prefix of a release Secret's name (Helm's `HelmStorageType`).
pub const KEY_PREFIX: &str = "sh.helm.release.v1";
/// The most bytes of JSON a record may unpack to (a Secret holds at most 1 MiB of gzip).
pub const MAX_RELEASE_BYTES: u64 = 256 << 20;

const GZIP_MAGIC: [u8; 3] = [0x1f, 0x8b, 0x08];

/// Errors of the release storage.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// No record of the release (or of that revision) exists.
    #[error("release {name:?} in namespace {namespace}: not found{}", revision.map(|r| format!(" (revision {r})")).unwrap_or_default())]
    NotFound {
        /// The release.
        name: String,
        /// Its namespace.
        namespace: String,
        /// The revision asked for, if one was.
        revision: Option<u32>,
    },
    /// A release Secret cannot be decoded.
    #[error("release Secret {namespace}/{secret}: {what}")]
    Decode {
        /// Its namespace.
        namespace: String,
        /// The Secret's name.
        secret: String,
        /// What is wrong (missing `release` key, bad base64, bad gzip, bad JSON).
        what: String,
        /// The cause, when there is one.
        #[source]
        source: Option<Box<dyn std::error::Error + Send + Sync>>,
    },
    /// The revision exists already.
    #[error("release Secret {namespace}/{secret} exists already")]
    Exists {
        /// Its namespace.
        namespace: String,
        /// The Secret's name.
        secret: String,
    },
    /// The record changed since it was read (another writer).
    #[error("release Secret {namespace}/{secret} was changed by another writer")]
    Conflict {
        /// Its namespace.
        namespace: String,
        /// The Secret's name.
        secret: String,
    },
    /// The API server refused a request or could not be reached.
    #[error("release Secrets in namespace {namespace}: {operation}")]
    Kube {
        /// Its namespace.
        namespace: String,
        /// What was asked (`list releases named web`, `update sh.helm.release.v1.web.v2`).
        operation: String,
        /// The cause.
        #[source]
        source: kube::Error,
    },
    /// A release could not be encoded.
    #[error("release {name:?} revision {revision}: cannot encode: {source}")]
    Encode {
        /// The release.
        name: String,
        /// The revision.
        revision: u32,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
}

impl Error {
    /// Whether retrying may help (a conflict or an unreachable server).
    pub fn is_transient(&self) -> bool {
        match self {
            Error::Conflict { .. } => true,
            Error::Kube { source, .. } => match source {
                kube::Error::Api(status) => status.code >= 500 || status.code == 429,
                _ => true,
            },
            _ => false,
        }
    }
}

/// A release as stored: the record and what its Secret says about it.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Record {
    /// The release.
    pub release: Release,
    /// The Secret's name.
    pub secret: String,
    /// The Secret's `resourceVersion` when read (`None` before it is created).
    pub resource_version: Option<String>,
    /// When the Secret was last written, Unix seconds (`modifiedAt`, else `createdAt`, else its
    /// creation time).
    pub written_at: Option<i64>,
    /// Labels the user put on the record (Helm's system labels left out).
    pub labels: BTreeMap<String, String>,
}

/// The Secret name of a revision: `sh.helm.release.v1.<name>.v<revision>`.
pub fn secret_name(name: &str, revision: u32) -> String {
    format!("{KEY_PREFIX}.{name}.v{revision}")
}

/// Labels Helm manages itself on a record.
const SYSTEM_LABELS: [&str; 6] = [
    "name",
    "owner",
    "status",
    "version",
    "createdAt",
    "modifiedAt",
];

/// The release records of one namespace.
#[derive(Clone)]
pub struct Storage {
    api: Api<Secret>,
    namespace: String,
}

impl std::fmt::Debug for Storage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Storage")
            .field("namespace", &self.namespace)
            .finish_non_exhaustive()
    }
}

impl Storage {
    /// The records in `namespace`.
    pub fn new(client: kube::Client, namespace: impl Into<String>) -> Self {
        let namespace = namespace.into();
        Storage {
            api: Api::namespaced(client, &namespace),
            namespace,
        }
    }

    /// The namespace.
    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    fn kube(&self, operation: impl Into<String>) -> impl FnOnce(kube::Error) -> Error + '_ {
        let operation = operation.into();
        move |source| Error::Kube {
            namespace: self.namespace.clone(),
            operation,
            source,
        }
    }

    /// One revision.
    ///
    /// # Errors
    /// [`Error::NotFound`], [`Error::Decode`], [`Error::Kube`].
    pub async fn get(&self, name: &str, revision: u32) -> Result<Record, Error> {
        let key = secret_name(name, revision);
        let secret = self
            .api
            .get_opt(&key)
            .await
            .map_err(self.kube(format!("get {key}")))?
            .ok_or_else(|| Error::NotFound {
                name: name.to_owned(),
                namespace: self.namespace.clone(),
                revision: Some(revision),
            })?;
        self.decode(&secret)
    }

    /// Every revision of a release, oldest first (empty when there is none).
    ///
    /// # Errors
    /// [`Error::Decode`] for a record that cannot be read (Helm skips those silently; a
    /// history with a hole would hide the revision an action must know), [`Error::Kube`].
    pub async fn history(&self, name: &str) -> Result<Vec<Record>, Error> {
        let selector = format!("owner=helm,name={name}");
        self.list_selected(&selector, &format!("list releases named {name}"))
            .await
    }

    /// The records of every release in the namespace, oldest revision first per release.
    ///
    /// # Errors
    /// As [`Storage::history`].
    pub async fn all(&self) -> Result<Vec<Record>, Error> {
        self.list_selected("owner=helm", "list releases").await
    }

    async fn list_selected(&self, selector: &str, operation: &str) -> Result<Vec<Record>, Error> {
        let mut out = Vec::new();
        let mut params = ListParams::default().labels(selector).limit(200);
        loop {
            let page = self.api.list(&params).await.map_err(self.kube(operation))?;
            for secret in &page.items {
                if secret.type_.as_deref() == Some(SECRET_TYPE) {
                    out.push(self.decode(secret)?);
                }
            }
            match page.metadata.continue_ {
                Some(token) if !token.is_empty() => params = params.continue_token(&token),
                _ => break,
            }
        }
        out.sort_by(|a, b| {
            (&a.release.name, a.release.version).cmp(&(&b.release.name, b.release.version))
        });
        Ok(out)
    }

    /// The highest revision, whatever its status.
    ///
    /// # Errors
    /// [`Error::NotFound`] when the release has no record, else as [`Storage::history`].
    pub async fn last(&self, name: &str) -> Result<Record, Error> {
        self.history(name)
            .await?
            .pop()
            .ok_or_else(|| self.not_found(name))
    }

    /// The highest `deployed` revision.
    ///
    /// # Errors
    /// [`Error::NotFound`] when none is deployed, else as [`Storage::history`].
    pub async fn deployed(&self, name: &str) -> Result<Record, Error> {
        self.history(name)
            .await?
            .into_iter()
            .rev()
            .find(|r| r.release.info.status == Status::Deployed)
            .ok_or_else(|| self.not_found(name))
    }

    fn not_found(&self, name: &str) -> Error {
        Error::NotFound {
            name: name.to_owned(),
            namespace: self.namespace.clone(),
            revision: None,
        }
    }

    /// Creates the record of a new revision.
    ///
    /// # Errors
    /// [`Error::Exists`], [`Error::Encode`], [`Error::Kube`].
    pub async fn create(&self, release: &Release) -> Result<Record, Error> {
        let secret = self.encode(release, "createdAt", None, &BTreeMap::new())?;
        let key = secret_name(&release.name, release.version);
        match self.api.create(&PostParams::default(), &secret).await {
            Ok(created) => self.decode(&created),
            Err(kube::Error::Api(s)) if s.code == 409 => Err(Error::Exists {
                namespace: self.namespace.clone(),
                secret: key,
            }),
            Err(e) => Err(self.kube(format!("create {key}"))(e)),
        }
    }

    /// Writes `record.release` over its Secret, if nobody changed it since it was read.
    ///
    /// # Errors
    /// [`Error::Conflict`], [`Error::Encode`], [`Error::Kube`].
    pub async fn update(&self, record: &Record) -> Result<Record, Error> {
        let secret = self.encode(
            &record.release,
            "modifiedAt",
            record.resource_version.clone(),
            &record.labels,
        )?;
        let key = secret_name(&record.release.name, record.release.version);
        match self
            .api
            .replace(&key, &PostParams::default(), &secret)
            .await
        {
            Ok(written) => self.decode(&written),
            Err(kube::Error::Api(s)) if s.code == 409 => Err(Error::Conflict {
                namespace: self.namespace.clone(),
                secret: key,
            }),
            Err(e) => Err(self.kube(format!("update {key}"))(e)),
        }
    }

    /// Deletes one revision's record (gone already is fine).
    ///
    /// # Errors
    /// [`Error::Kube`].
    pub async fn delete(&self, name: &str, revision: u32) -> Result<(), Error> {
        let key = secret_name(name, revision);
        match self.api.delete(&key, &DeleteParams::default()).await {
            Ok(_) => Ok(()),
            Err(kube::Error::Api(s)) if s.code == 404 => Ok(()),
            Err(e) => Err(self.kube(format!("delete {key}"))(e)),
        }
    }

    /// Deletes the oldest records until at most `max` remain, never the last `deployed` one
    /// (Helm's `removeLeastRecent`). `max == 0` keeps everything.
    ///
    /// # Errors
    /// As [`Storage::history`] and [`Storage::delete`].
    pub async fn prune(&self, name: &str, max: usize) -> Result<Vec<u32>, Error> {
        if max == 0 {
            return Ok(Vec::new());
        }
        let history = self.history(name).await?;
        if history.len() <= max {
            return Ok(Vec::new());
        }
        let keep_deployed = history
            .iter()
            .rev()
            .find(|r| r.release.info.status == Status::Deployed)
            .map(|r| r.release.version);
        let mut excess = history.len() - max;
        let mut removed = Vec::new();
        for r in &history {
            if excess == 0 {
                break;
            }
            if Some(r.release.version) == keep_deployed {
                continue;
            }
            self.delete(name, r.release.version).await?;
            removed.push(r.release.version);
            excess -= 1;
        }
        Ok(removed)
    }

    fn decode_error(
        &self,
        secret: &str,
        what: &str,
        source: Option<Box<dyn std::error::Error + Send + Sync>>,
    ) -> Error {
        Error::Decode {
            namespace: self.namespace.clone(),
            secret: secret.to_owned(),
            what: what.to_owned(),
            source,
        }
    }

    /// Reads a release Secret.
    ///
    /// # Errors
    /// [`Error::Decode`] naming the Secret.
    pub fn decode(&self, secret: &Secret) -> Result<Record, Error> {
        let key = secret.metadata.name.clone().unwrap_or_default();
        let data = secret
            .data
            .as_ref()
            .and_then(|d| d.get("release"))
            .ok_or_else(|| self.decode_error(&key, "no `release` key in data", None))?;
        let release = decode_release(&data.0)
            .map_err(|(what, source)| self.decode_error(&key, what, Some(source)))?;
        let labels = secret.metadata.labels.clone().unwrap_or_default();
        let unix = |k: &str| labels.get(k).and_then(|v| v.parse::<i64>().ok());
        let written_at = unix("modifiedAt")
            .or_else(|| unix("createdAt"))
            .or_else(|| {
                secret
                    .metadata
                    .creation_timestamp
                    .as_ref()
                    .map(|t| t.0.as_second())
            });
        Ok(Record {
            release,
            secret: key,
            resource_version: secret.metadata.resource_version.clone(),
            written_at,
            labels: labels
                .into_iter()
                .filter(|(k, _)| !SYSTEM_LABELS.contains(&k.as_str()))
                .collect(),
        })
    }

    fn encode(
        &self,
        release: &Release,
        stamp: &str,
        resource_version: Option<String>,
        user_labels: &BTreeMap<String, String>,
    ) -> Result<Secret, Error> {
        let text = encode_release(release).map_err(|source| Error::Encode {
            name: release.name.clone(),
            revision: release.version,
            source,
        })?;
        let mut labels = user_labels.clone();
        labels.insert("name".into(), release.name.clone());
        labels.insert("owner".into(), "helm".into());
        labels.insert("status".into(), release.info.status.as_str().into());
        labels.insert("version".into(), release.version.to_string());
        labels.insert(
            stamp.into(),
            k8s_openapi::jiff::Timestamp::now().as_second().to_string(),
        );
        Ok(Secret {
            metadata: ObjectMeta {
                name: Some(secret_name(&release.name, release.version)),
                namespace: Some(self.namespace.clone()),
                labels: Some(labels),
                resource_version,
                ..ObjectMeta::default()
            },
            type_: Some(SECRET_TYPE.into()),
            data: Some(BTreeMap::from([(
                "release".to_owned(),
                ByteString(text.into_bytes()),
            )])),
            ..Secret::default()
        })
    }
}

/// The `release` value Helm stores: base64 of the gzip (best compression) of the JSON.
///
/// # Errors
/// Only when compression fails (which writing to memory does not).
pub fn encode_release(release: &Release) -> Result<String, std::io::Error> {
    let json = serde_json::to_vec(release)?;
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    gz.write_all(&json)?;
    Ok(B64.encode(gz.finish()?))
}

type DecodeFailure = (&'static str, Box<dyn std::error::Error + Send + Sync>);

/// Reads a `release` value: base64, then gzip when it starts with gzip's magic, then JSON.
///
/// # Errors
/// Which step failed, and why.
pub fn decode_release(data: &[u8]) -> Result<Release, DecodeFailure> {
    let bytes = B64
        .decode(data.trim_ascii())
        .map_err(|e| ("`release` is not base64", e.into()))?;
    let json = if bytes.len() > 3 && bytes[..3] == GZIP_MAGIC {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(bytes.as_slice())
            .take(MAX_RELEASE_BYTES + 1)
            .read_to_end(&mut out)
            .map_err(|e| ("`release` is not valid gzip", e.into()))?;
        if out.len() as u64 > MAX_RELEASE_BYTES {
            return Err((
                "`release` unpacks to more than the limit",
                format!("more than {MAX_RELEASE_BYTES} bytes").into(),
            ));
        }
        out
    } else {
        bytes
    };
    serde_json::from_slice(&json).map_err(|e| ("`release` is not a release in JSON", e.into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encoding_round_trips_and_is_gzip() {
        let mut r = Release {
            name: "web".into(),
            version: 3,
            ..Release::default()
        };
        r.info.status = Status::Deployed;
        let text = encode_release(&r).expect("encodes");
        let raw = B64.decode(&text).expect("base64");
        assert_eq!(&raw[..3], &GZIP_MAGIC);
        assert_eq!(decode_release(text.as_bytes()).expect("decodes"), r);
        // Helm also reads a record written without gzip.
        let plain = B64.encode(serde_json::to_vec(&r).expect("json"));
        assert_eq!(decode_release(plain.as_bytes()).expect("decodes"), r);
    }

    #[test]
    fn corrupt_values_say_which_step_failed() {
        assert_eq!(
            decode_release(b"!!!").map(|_| ()).unwrap_err().0,
            "`release` is not base64"
        );
        let bad_gzip = B64.encode([0x1f, 0x8b, 0x08, 0, 1, 2, 3]);
        assert_eq!(
            decode_release(bad_gzip.as_bytes())
                .map(|_| ())
                .unwrap_err()
                .0,
            "`release` is not valid gzip"
        );
        let not_json = B64.encode(b"{nope");
        assert_eq!(
            decode_release(not_json.as_bytes())
                .map(|_| ())
                .unwrap_err()
                .0,
            "`release` is not a release in JSON"
        );
    }

    #[test]
    fn names_follow_helm() {
        assert_eq!(secret_name("web", 12), "sh.helm.release.v1.web.v12");
    }
}
