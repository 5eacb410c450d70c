//! [`DirectoryApplier`]: rendered manifests in a folder, one file per object.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use async_trait::async_trait;
use gitops_core::apply::Drift;
use gitops_core::apply::{ApplyOptions, Error, FieldDrift, Health, HealthStatus};
use gitops_core::inventory::{self, Entry, InventoryStore};
use gitops_core::{Action, Applier, ChangeSet, Inventory, Object, ObjectRef, object};
use serde_json::Value;

use crate::fs;

/// The inventory file that marks a folder as ours.
pub const INVENTORY_FILE: &str = ".gitops-inventory.yaml";

/// Writes each object to `<out>/<namespace or _cluster>/<Kind>[.<group>]_<name>.yaml` and keeps
/// the inventory in `<out>/.gitops-inventory.yaml`.
///
/// A folder that exists, is not empty and has no inventory file is not ours: every operation
/// refuses it rather than mix our files with someone else's. Every write goes through a
/// temporary file and a rename.
///
/// # Guarantees
/// Every file it writes, reads or deletes is `<out>/<folder>/<file>`, both one plain path
/// component, whatever the objects or the inventory file say:
/// - the namespace must be a Kubernetes namespace name (a DNS label: `a-z`, `0-9`, `-`, at most
///   63 bytes), the kind an identifier (`A-Za-z0-9`, at most 63 bytes), the group a DNS
///   subdomain (`a-z`, `A-Z`, `0-9`, `.`, `-`, at most 253 bytes) and the name at most 253 bytes
///   with no `/`, `\`, NUL or control character and not `.` or `..`; the file name must fit
///   the usual 255-byte limit. Anything else is [`Error::Rejected`] naming the object, before
///   any file is touched;
/// - an inventory entry that breaks these rules makes [`InventoryStore::load`] fail with
///   [`inventory::Error::Malformed`], so an edited inventory cannot steer a prune;
/// - a namespace folder or object file that is a symbolic link is refused
///   ([`Error::NotOwned`]) instead of followed.
#[derive(Clone, Debug)]
pub struct DirectoryApplier {
    out: PathBuf,
}

impl DirectoryApplier {
    /// An applier writing below `out` (created when missing).
    pub fn new(out: impl Into<PathBuf>) -> Self {
        Self { out: out.into() }
    }

    /// The output folder.
    pub fn out(&self) -> &Path {
        &self.out
    }

    /// The file an object is written to.
    ///
    /// # Errors
    /// [`Error::Rejected`] when the object's namespace, kind, group or name cannot be a path
    /// component inside the folder (see the type's guarantees).
    pub fn file_of(&self, id: &ObjectRef) -> Result<PathBuf, Error> {
        let (folder, file) = file_name(id).map_err(|message| Error::Rejected {
            id: id.clone(),
            message,
        })?;
        Ok(self.out.join(folder).join(file))
    }
}

/// The longest file name common file systems take (ext4, xfs, btrfs, tmpfs, APFS).
const MAX_FILE_NAME: usize = 255;

/// The folder and file name of an object, each checked to be one plain path component.
fn file_name(id: &ObjectRef) -> Result<(String, String), String> {
    let folder = match id.namespace.as_deref() {
        None => "_cluster".to_owned(),
        Some(ns) => {
            let label = !ns.is_empty()
                && ns.len() <= 63
                && ns
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
            if !label {
                return Err(format!(
                    "namespace {ns:?} is not a Kubernetes namespace name (a-z, 0-9, '-', at most 63 bytes); refusing to make a folder of it"
                ));
            }
            ns.to_owned()
        }
    };
    let kind_ok = !id.kind.is_empty()
        && id.kind.len() <= 63
        && id.kind.bytes().all(|b| b.is_ascii_alphanumeric());
    if !kind_ok {
        return Err(format!(
            "kind {:?} is not a Kubernetes kind (A-Z, a-z, 0-9, at most 63 bytes)",
            id.kind
        ));
    }
    let group_ok = id.group.len() <= 253
        && id
            .group
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-');
    if !group_ok {
        return Err(format!(
            "group {:?} is not an API group (a DNS subdomain)",
            id.group
        ));
    }
    let name = id.name.as_str();
    let name_ok = !name.is_empty()
        && name.len() <= 253
        && name != "."
        && name != ".."
        && !name
            .chars()
            .any(|c| c == '/' || c == '\\' || c.is_control());
    if !name_ok {
        return Err(format!(
            "name {name:?} cannot be a file name (empty, '.', '..', '/', '\\', a control character or over 253 bytes)"
        ));
    }
    let kind = if id.group.is_empty() {
        id.kind.clone()
    } else {
        format!("{}.{}", id.kind, id.group)
    };
    let file = format!("{kind}_{name}.yaml");
    if file.len() > MAX_FILE_NAME {
        return Err(format!(
            "file name {file:?} is {} bytes, over the {MAX_FILE_NAME}-byte limit",
            file.len()
        ));
    }
    // The checks above make each part one normal component; keep that true if they change.
    let single = |part: &str| {
        let mut components = Path::new(part).components();
        matches!(components.next(), Some(std::path::Component::Normal(c)) if c == part)
            && components.next().is_none()
    };
    if !single(&folder) || !single(&file) {
        return Err(format!("{folder}/{file} is not a plain relative path"));
    }
    Ok((folder, file))
}

/// Refuses a namespace folder or object file that is a symbolic link: following it would read,
/// write or delete outside the output folder.
fn refuse_symlinks(out: &Path, path: &Path) -> Result<(), Error> {
    let folder = path.parent().unwrap_or(out);
    for candidate in [folder, path] {
        match std::fs::symlink_metadata(candidate) {
            Ok(meta) if meta.file_type().is_symlink() => {
                return Err(Error::NotOwned {
                    location: candidate.display().to_string(),
                    message: "is a symbolic link; refusing to follow it out of the output folder"
                        .into(),
                });
            }
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(source) => {
                return Err(Error::Storage {
                    path: candidate.display().to_string(),
                    source,
                });
            }
        }
    }
    Ok(())
}

/// Fails unless `out` is missing, empty, or holds our inventory file.
fn check_owned(out: &Path) -> Result<(), Error> {
    if out.join(INVENTORY_FILE).is_file() {
        return Ok(());
    }
    match std::fs::read_dir(out) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(source) => Err(Error::Storage {
            path: out.display().to_string(),
            source,
        }),
        Ok(mut entries) => match entries.next() {
            None => Ok(()),
            Some(_) => Err(Error::NotOwned {
                location: out.display().to_string(),
                message: format!(
                    "folder is not empty and has no {INVENTORY_FILE}; refusing to write into a folder we do not own"
                ),
            }),
        },
    }
}

/// Checks ownership and marks a new folder as ours with an empty inventory.
fn claim(out: &Path) -> Result<(), Error> {
    check_owned(out)?;
    let marker = out.join(INVENTORY_FILE);
    if !marker.is_file() {
        fs::write_atomic(&marker, b"entries: []\n").map_err(storage(&marker))?;
    }
    Ok(())
}

fn storage(path: &Path) -> impl FnOnce(std::io::Error) -> Error + '_ {
    move |source| Error::Storage {
        path: path.display().to_string(),
        source,
    }
}

/// The objects as applied: named by [`gitops_core::apply::resolve_without_discovery`] (the same
/// rule `resolve` answers with), labelled with the owner's labels.
fn prepared(objects: &[Object], options: &ApplyOptions) -> Result<Vec<Object>, Error> {
    let ids = gitops_core::apply::resolve_without_discovery(objects, options);
    objects
        .iter()
        .zip(ids)
        .map(|(object, id)| {
            let mut object = object.clone();
            gitops_core::apply::place(&mut object, &id);
            if let Some(owner) = &options.owner {
                owner.label(&mut object).map_err(|e| Error::Rejected {
                    id: id.clone(),
                    message: e.to_string(),
                })?;
            }
            Ok(object)
        })
        .collect()
}

fn read_object(out: &Path, path: &Path) -> Result<Option<Object>, Error> {
    refuse_symlinks(out, path)?;
    match std::fs::read(path) {
        Ok(bytes) => parse_object(path, &bytes),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(Error::Storage {
            path: path.display().to_string(),
            source,
        }),
    }
}

fn parse_object(path: &Path, bytes: &[u8]) -> Result<Option<Object>, Error> {
    let invalid = |e: Box<dyn std::error::Error + Send + Sync>| Error::Storage {
        path: path.display().to_string(),
        source: std::io::Error::new(std::io::ErrorKind::InvalidData, e),
    };
    let text = std::str::from_utf8(bytes).map_err(|e| invalid(Box::new(e)))?;
    let mut objects =
        object::parse_yaml(&path.display().to_string(), text).map_err(|e| invalid(Box::new(e)))?;
    Ok(objects.pop())
}

#[async_trait]
impl Applier for DirectoryApplier {
    async fn apply(&self, objects: &[Object], options: &ApplyOptions) -> Result<ChangeSet, Error> {
        let this = self.clone();
        let options = options.clone();
        let mut objects = prepared(objects, &options)?;
        gitops_core::apply::sort_for_apply(&mut objects);
        fs::blocking(move || {
            // Every object's file is checked before the first write, so a bad name in the
            // middle of a render leaves the folder as it was.
            let paths = objects
                .iter()
                .map(|o| this.file_of(o.id()))
                .collect::<Result<Vec<_>, _>>()?;
            claim(&this.out)?;
            let mut changes = ChangeSet::default();
            for (object, path) in objects.iter().zip(paths) {
                refuse_symlinks(&this.out, &path)?;
                let yaml = object.to_yaml().map_err(|e| Error::Rejected {
                    id: object.id().clone(),
                    message: e.to_string(),
                })?;
                let existing = match std::fs::read(&path) {
                    Ok(existing) => Some(existing),
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
                    Err(source) => {
                        return Err(Error::Storage {
                            path: path.display().to_string(),
                            source,
                        });
                    }
                };
                // Flux's per-object annotations; the written file is the live copy (parsed
                // only when it differs: an identical file holds the same annotations).
                let live = match &existing {
                    Some(bytes) if bytes != yaml.as_bytes() => parse_object(&path, bytes)?,
                    Some(_) => Some(object.clone()),
                    None => None,
                };
                if gitops_core::apply::decide(
                    object.value(),
                    live.as_ref().map(Object::value),
                    &options,
                ) == gitops_core::apply::Decision::Skip
                {
                    changes.push(object.id().clone(), Action::Skipped);
                    continue;
                }
                let action = match &existing {
                    Some(bytes) if bytes == yaml.as_bytes() => Action::Unchanged,
                    Some(_) => Action::Configured,
                    None => Action::Created,
                };
                if action != Action::Unchanged {
                    // A Secret holds decrypted values: keep it readable by the owner only.
                    fs::write_atomic_with(&path, yaml.as_bytes(), object.is_secret())
                        .map_err(storage(&path))?;
                }
                changes.push(object.id().clone(), action);
            }
            Ok(changes)
        })
        .await
    }

    async fn delete(&self, ids: &[ObjectRef], options: &ApplyOptions) -> Result<ChangeSet, Error> {
        let this = self.clone();
        let ids = ids.to_vec();
        let options = options.clone();
        fs::blocking(move || {
            check_owned(&this.out)?;
            let paths = ids
                .iter()
                .map(|id| this.file_of(id))
                .collect::<Result<Vec<_>, _>>()?;
            let mut changes = ChangeSet::default();
            for (id, path) in ids.into_iter().zip(paths) {
                let Some(object) = read_object(&this.out, &path)? else {
                    continue;
                };
                if gitops_core::apply::keep_on_prune(object.value(), &options).is_some() {
                    changes.push(id, Action::Skipped);
                    continue;
                }
                std::fs::remove_file(&path).map_err(storage(&path))?;
                if let Some(parent) = path.parent() {
                    // Leave no empty namespace folders behind; a non-empty one stays.
                    let _ = std::fs::remove_dir(parent);
                }
                changes.push(id, Action::Deleted);
            }
            Ok(changes)
        })
        .await
    }

    async fn wait(
        &self,
        ids: &[ObjectRef],
        _timeout: Duration,
    ) -> Result<gitops_core::HealthReport, Error> {
        // A written file is as ready as it will ever be.
        let objects = ids
            .iter()
            .map(|id| {
                let exists = self.file_of(id)?.is_file();
                Ok(Health {
                    id: id.clone(),
                    status: if exists {
                        HealthStatus::Current
                    } else {
                        HealthStatus::NotFound
                    },
                    message: if exists {
                        "written".into()
                    } else {
                        "file missing".into()
                    },
                })
            })
            .collect::<Result<_, Error>>()?;
        Ok(gitops_core::HealthReport { objects })
    }

    async fn diff(&self, objects: &[Object]) -> Result<Vec<Drift>, Error> {
        let this = self.clone();
        let objects = objects.to_vec();
        fs::blocking(move || {
            let mut drifts = Vec::new();
            for object in &objects {
                match read_object(&this.out, &this.file_of(object.id())?)? {
                    None => drifts.push(Drift::Missing(object.id().clone())),
                    Some(live) => {
                        let mut fields = Vec::new();
                        // The owner labels the last apply wrote are ours, not drift.
                        let mut desired = object.clone();
                        if let Some(owner) = gitops_core::apply::Owner::found_on(live.value()) {
                            owner.label(&mut desired).map_err(|e| Error::Rejected {
                                id: object.id().clone(),
                                message: e.to_string(),
                            })?;
                        }
                        compare(
                            "",
                            Some(desired.value()),
                            Some(live.value()),
                            object.is_secret(),
                            &mut fields,
                        );
                        if !fields.is_empty() {
                            drifts.push(Drift::Changed {
                                id: object.id().clone(),
                                fields,
                            });
                        }
                    }
                }
            }
            Ok(drifts)
        })
        .await
    }
}

/// Collects the leaf fields where `desired` and `live` differ, masking Secret values.
fn compare(
    path: &str,
    desired: Option<&Value>,
    live: Option<&Value>,
    secret: bool,
    out: &mut Vec<FieldDrift>,
) {
    match (desired, live) {
        (Some(Value::Object(d)), Some(Value::Object(l))) => {
            let keys: std::collections::BTreeSet<&String> = d.keys().chain(l.keys()).collect();
            for key in keys {
                let child = format!("{path}/{}", key.replace('~', "~0").replace('/', "~1"));
                compare(&child, d.get(key), l.get(key), secret, out);
            }
        }
        (d, l) if d != l => {
            let masked = secret && (path.starts_with("/data/") || path.starts_with("/stringData/"));
            let show = |v: Option<&Value>| {
                v.map(|v| {
                    if masked {
                        "\"***\"".to_owned()
                    } else {
                        v.to_string()
                    }
                })
            };
            out.push(FieldDrift {
                path: path.to_owned(),
                desired: show(d),
                live: show(l),
            });
        }
        _ => {}
    }
}

#[async_trait]
impl InventoryStore for DirectoryApplier {
    async fn load(&self) -> Result<Option<Inventory>, inventory::Error> {
        let out = self.out.clone();
        fs::blocking(move || {
            let location = out.display().to_string();
            let fail = |e: Box<dyn std::error::Error + Send + Sync>| inventory::Error::Storage {
                location: location.clone(),
                source: e,
            };
            check_owned(&out).map_err(|e| fail(Box::new(e)))?;
            let text = match std::fs::read_to_string(out.join(INVENTORY_FILE)) {
                Ok(text) => text,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
                Err(e) => return Err(fail(Box::new(e))),
            };
            let wire: BTreeMap<String, Vec<Entry>> =
                serde_yaml_ng::from_str(&text).map_err(|e| fail(Box::new(e)))?;
            let entries = wire.get("entries").map(Vec::as_slice).unwrap_or_default();
            let inventory = Inventory::from_entries(&location, entries)?;
            // The file is on disk and may have been edited: an entry that names no file inside
            // the folder must not reach a prune.
            if let Some(bad) = inventory.iter().find(|id| file_name(id).is_err()) {
                return Err(inventory::Error::Malformed {
                    location,
                    entry: bad.inventory_id(),
                });
            }
            Ok(Some(inventory))
        })
        .await
    }

    async fn save(&self, inventory: &Inventory) -> Result<(), inventory::Error> {
        let out = self.out.clone();
        let text = serde_yaml_ng::to_string(inventory);
        fs::blocking(move || {
            let location = out.display().to_string();
            let fail = |e: Box<dyn std::error::Error + Send + Sync>| inventory::Error::Storage {
                location: location.clone(),
                source: e,
            };
            check_owned(&out).map_err(|e| fail(Box::new(e)))?;
            let text = text.map_err(|e| fail(Box::new(e)))?;
            fs::write_atomic(&out.join(INVENTORY_FILE), text.as_bytes())
                .map_err(|e| fail(Box::new(e)))
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn objects(text: &str) -> Vec<Object> {
        object::parse_yaml("t.yaml", text).unwrap()
    }

    const TWO: &str = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\ndata:\n  k: v\n---\napiVersion: v1\nkind: Namespace\nmetadata:\n  name: web\n";

    #[tokio::test]
    async fn writes_one_file_per_object_and_reports_changes() {
        let dir = tempfile::tempdir().unwrap();
        let applier = DirectoryApplier::new(dir.path().join("out"));
        let options = ApplyOptions::default().with_target_namespace("web");
        let first = applier.apply(&objects(TWO), &options).await.unwrap();
        assert_eq!(first.count(Action::Created), 2);
        assert!(
            dir.path().join("out/web/ConfigMap_a.yaml").is_file(),
            "target namespace defaulted"
        );
        assert!(
            dir.path().join("out/_cluster/Namespace_web.yaml").is_file(),
            "cluster-scoped stays so"
        );
        let again = applier.apply(&objects(TWO), &options).await.unwrap();
        assert_eq!(again.count(Action::Unchanged), 2);
        let changed = applier
            .apply(&objects(&TWO.replace("k: v", "k: w")), &options)
            .await
            .unwrap();
        assert_eq!(changed.count(Action::Configured), 1);
    }

    #[tokio::test]
    async fn refuses_folders_it_does_not_own() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("precious.txt"), "keep").unwrap();
        let applier = DirectoryApplier::new(dir.path());
        let err = applier
            .apply(&objects(TWO), &ApplyOptions::default())
            .await
            .unwrap_err();
        assert!(matches!(err, Error::NotOwned { .. }), "{err}");
        assert!(applier.load().await.is_err());
        assert_eq!(
            std::fs::read_dir(dir.path()).unwrap().count(),
            1,
            "nothing written"
        );
    }

    #[tokio::test]
    async fn delete_honours_prune_disabled_and_diff_masks_secrets() {
        let dir = tempfile::tempdir().unwrap();
        let applier = DirectoryApplier::new(dir.path());
        let text = "apiVersion: v1\nkind: Secret\nmetadata:\n  name: s\n  namespace: n\n  annotations:\n    kustomize.toolkit.fluxcd.io/prune: disabled\nstringData:\n  password: hunter2\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\n  namespace: n\n";
        let objs = objects(text);
        applier
            .apply(&objs, &ApplyOptions::default())
            .await
            .unwrap();

        let drift = applier
            .diff(&objects(&text.replace("hunter2", "swordfish")))
            .await
            .unwrap();
        assert_eq!(drift.len(), 1);
        let Drift::Changed { fields, .. } = &drift[0] else {
            panic!("{drift:?}")
        };
        assert_eq!(fields[0].path, "/stringData/password");
        assert_eq!(fields[0].live.as_deref(), Some("\"***\""));
        assert!(!format!("{drift:?}").contains("hunter2"));

        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(applier.file_of(objs[0].id()).unwrap())
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600, "Secrets are private");
        }
        let ids: Vec<ObjectRef> = objs.iter().map(|o| o.id().clone()).collect();
        let pruned = applier
            .delete(&ids, &ApplyOptions::default())
            .await
            .unwrap();
        assert_eq!(pruned.count(Action::Skipped), 1);
        assert_eq!(pruned.count(Action::Deleted), 1);
        assert!(applier.file_of(&ids[0]).unwrap().is_file());
        assert!(!applier.file_of(&ids[1]).unwrap().is_file());
        assert_eq!(
            applier.diff(&objs[1..]).await.unwrap(),
            vec![Drift::Missing(ids[1].clone())]
        );
    }

    /// Every file below `root`, relative, sorted: what a test compares before and after.
    fn tree(root: &Path) -> Vec<String> {
        let mut found = Vec::new();
        let mut pending = vec![root.to_path_buf()];
        while let Some(dir) = pending.pop() {
            for entry in std::fs::read_dir(&dir).unwrap() {
                let path = entry.unwrap().path();
                if std::fs::symlink_metadata(&path).unwrap().is_dir() {
                    pending.push(path);
                } else {
                    found.push(path.strip_prefix(root).unwrap().display().to_string());
                }
            }
        }
        found.sort();
        found
    }

    fn config_map(namespace: Option<&str>, name: &str) -> Object {
        let mut object = objects(&format!(
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name:?}\ndata:\n  k: v\n"
        ))
        .remove(0);
        if let Some(ns) = namespace {
            object.set_namespace(ns);
        }
        object
    }

    #[tokio::test]
    async fn names_that_would_escape_the_folder_are_rejected_before_any_write() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("a").join("out");
        let applier = DirectoryApplier::new(&out);
        let long = "x".repeat(300);
        let cases: Vec<(Option<&str>, &str)> = vec![
            (Some(".."), "escaped"),
            (Some("../.."), "escaped"),
            (Some("/tmp"), "escaped"),
            (Some("."), "escaped"),
            (Some("a/../../.."), "escaped"),
            (Some("ns\0x"), "escaped"),
            (Some(&long), "escaped"),
            (Some("web"), "../../../escaped"),
            (Some("web"), "../../escaped"),
            (Some("web"), "a/b"),
            (Some("web"), ".."),
            (Some("web"), "a\0b"),
            (Some("web"), &long),
            (None, "../../escaped"),
        ];
        for (namespace, name) in cases {
            let good = config_map(Some("web"), "fine");
            let bad = config_map(namespace, name);
            let err = applier
                .apply(&[good, bad], &ApplyOptions::default())
                .await
                .unwrap_err();
            assert!(
                matches!(err, Error::Rejected { .. }),
                "{namespace:?}/{name:?}: {err}"
            );
            let message = err.to_string();
            assert!(
                message.contains("namespace") || message.contains("name"),
                "the error says which part is wrong: {message}"
            );
            assert_eq!(
                tree(dir.path()),
                Vec::<String>::new(),
                "{namespace:?}/{name:?}: nothing written anywhere, not even the good object"
            );
        }
        for id in [
            ObjectRef::new("", "v1", "../Escaped", Some("web"), "x"),
            ObjectRef::new("", "v1", "Config/Map", Some("web"), "x"),
            ObjectRef::new("../..", "v1", "ConfigMap", Some("web"), "x"),
            ObjectRef::new("a/b", "v1", "ConfigMap", None, "x"),
            ObjectRef::new("g".repeat(200), "v1", "ConfigMap", None, "n".repeat(200)),
        ] {
            let err = applier.file_of(&id).unwrap_err();
            assert!(matches!(err, Error::Rejected { .. }), "{id}: {err}");
        }
    }

    #[tokio::test]
    async fn an_edited_inventory_cannot_make_prune_delete_outside() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out");
        // Where namespace `..` points: the folder holding the output folder.
        let precious = dir.path();
        std::fs::write(
            precious.join("ConfigMap_keep.yaml"),
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: keep\n",
        )
        .unwrap();
        let applier = DirectoryApplier::new(&out);
        applier
            .apply(&[config_map(Some("web"), "a")], &ApplyOptions::default())
            .await
            .unwrap();
        // Someone edits the inventory so that a prune would reach `../precious`.
        std::fs::write(
            out.join(INVENTORY_FILE),
            "entries:\n- id: .._keep__ConfigMap\n  v: v1\n- id: web_a__ConfigMap\n  v: v1\n",
        )
        .unwrap();
        let err = applier.load().await.unwrap_err();
        assert!(
            matches!(err, inventory::Error::Malformed { ref entry, .. } if entry == ".._keep__ConfigMap"),
            "{err}"
        );
        // A host that builds the ids itself gets the same answer from delete.
        let escaping = ObjectRef::new("", "v1", "ConfigMap", Some(".."), "keep");
        let err = applier
            .delete(&[escaping], &ApplyOptions::default())
            .await
            .unwrap_err();
        assert!(matches!(err, Error::Rejected { .. }), "{err}");
        assert!(
            precious.join("ConfigMap_keep.yaml").is_file(),
            "not deleted"
        );
    }

    #[cfg(unix)]
    #[tokio::test]
    async fn symlinks_in_the_folder_are_refused_not_followed() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out");
        let outside = dir.path().join("outside");
        std::fs::create_dir_all(&outside).unwrap();
        std::fs::write(outside.join("target.yaml"), "precious\n").unwrap();
        let applier = DirectoryApplier::new(&out);
        applier
            .apply(&[config_map(Some("web"), "a")], &ApplyOptions::default())
            .await
            .unwrap();

        // A link at the old fixed temporary name: the write must not go through it.
        std::os::unix::fs::symlink(
            outside.join("target.yaml"),
            out.join("web").join(".ConfigMap_b.yaml.tmp"),
        )
        .unwrap();
        applier
            .apply(&[config_map(Some("web"), "b")], &ApplyOptions::default())
            .await
            .unwrap();
        assert_eq!(
            std::fs::read_to_string(outside.join("target.yaml")).unwrap(),
            "precious\n",
            "the planted link was not followed"
        );
        assert!(out.join("web").join("ConfigMap_b.yaml").is_file());

        // A link at an object's own path.
        std::os::unix::fs::symlink(
            outside.join("target.yaml"),
            out.join("web").join("ConfigMap_c.yaml"),
        )
        .unwrap();
        let err = applier
            .apply(&[config_map(Some("web"), "c")], &ApplyOptions::default())
            .await
            .unwrap_err();
        assert!(matches!(err, Error::NotOwned { .. }), "{err}");
        let c = ObjectRef::new("", "v1", "ConfigMap", Some("web"), "c");
        assert!(
            applier
                .delete(std::slice::from_ref(&c), &ApplyOptions::default())
                .await
                .is_err()
        );

        // A namespace folder that is a link to somewhere else.
        std::os::unix::fs::symlink(&outside, out.join("elsewhere")).unwrap();
        let err = applier
            .apply(
                &[config_map(Some("elsewhere"), "d")],
                &ApplyOptions::default(),
            )
            .await
            .unwrap_err();
        assert!(matches!(err, Error::NotOwned { .. }), "{err}");
        let mut left: Vec<String> = std::fs::read_dir(&outside)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        left.sort();
        assert_eq!(left, ["target.yaml"], "nothing written or deleted outside");
        assert_eq!(
            std::fs::read_to_string(outside.join("target.yaml")).unwrap(),
            "precious\n"
        );
    }

    #[tokio::test]
    async fn inventory_round_trips_in_the_folder() {
        let dir = tempfile::tempdir().unwrap();
        let applier = DirectoryApplier::new(dir.path().join("out"));
        assert!(applier.load().await.unwrap().is_none());
        let inventory: Inventory = objects(TWO).iter().map(|o| o.id().clone()).collect();
        applier.save(&inventory).await.unwrap();
        assert_eq!(applier.load().await.unwrap(), Some(inventory));
        let text = std::fs::read_to_string(dir.path().join("out").join(INVENTORY_FILE)).unwrap();
        assert!(text.contains("id: _a__ConfigMap"), "{text}");
    }
}

#[cfg(test)]
mod conformance {
    #[tokio::test]
    async fn directory_applier_passes_the_applier_suite() {
        let dir = tempfile::tempdir().unwrap();
        let applier = super::DirectoryApplier::new(dir.path().join("out"));
        gitops_core::conformance::applier(&applier, "conformance")
            .await
            .unwrap();
    }
}
