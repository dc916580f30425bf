//! Which objects a re-install may leave alone: those for which a server-side apply would change
//! nothing, proven from what the ownership preflight already read (docs/design-choices.md,
//! "Unchanged objects are not applied again").
//!
//! After each apply the inventory keeps one digest of the configuration sent together with this
//! executor's `managedFields` entries as the API server returned them. An apply of the same
//! configuration is a no-op exactly when nobody changed a field the executor owns since then, and
//! every such change shows in those entries: an update or a forced apply that changes one of our
//! fields takes its ownership away (the field leaves our entry), and a removal drops it from our
//! entry too. So when the same configuration meets the same entries on an object of the same uid,
//! the apply is skipped; any other difference (a new configuration, a taken or removed field, a
//! re-created object, an older record without digests) sends the apply as before.

use super::FIELD_MANAGER;
use super::record::InventoryEntry;
use crate::k8s::ObjectKey;
use crate::manifest::Object;
use kube::api::ObjectMeta;
use sha2::{Digest, Sha256};
use std::collections::HashMap;

/// What the preflight read of one of this job's objects that exists.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Live {
    pub uid: String,
    /// The digest of this executor's `managedFields` entries; `None` when it owns no field.
    pub ours: Option<String>,
}

impl Live {
    pub fn of(meta: &ObjectMeta) -> Self {
        Live {
            uid: meta.uid.clone().unwrap_or_default(),
            ours: managed_fields_digest(meta),
        }
    }
}

/// This executor's `managedFields` entries without their `time` (which says when, not what),
/// hashed; `None` when there are none.
pub fn managed_fields_digest(meta: &ObjectMeta) -> Option<String> {
    let mut hasher = HashWriter(Sha256::new());
    let mut any = false;
    for entry in meta.managed_fields.iter().flatten() {
        if entry.manager.as_deref() != Some(FIELD_MANAGER) {
            continue;
        }
        let what = (
            &entry.operation,
            &entry.api_version,
            &entry.subresource,
            &entry.fields_type,
            &entry.fields_v1,
        );
        serde_json::to_writer(&mut hasher, &what).expect("managedFields serialize");
        hasher.0.update(b"\n");
        any = true;
    }
    any.then(|| crate::digest::to_hex(&hasher.0.finalize()))
}

/// Serializes straight into the hash: no copy of the bytes is kept.
struct HashWriter(Sha256);

impl std::io::Write for HashWriter {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.update(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The configuration sent (the exact bytes of the apply's body) and the executor's fields after
/// the apply, as 128 bits of hex: what the inventory keeps per applied object.
pub fn applied_digest(object: &Object, ours: &str) -> String {
    let mut hasher = HashWriter(Sha256::new());
    serde_json::to_writer(&mut hasher, &object.value).expect("objects serialize");
    hasher.0.update(b"\n");
    hasher.0.update(ours.as_bytes());
    let mut hex = crate::digest::to_hex(&hasher.0.finalize());
    hex.truncate(32);
    hex
}

/// The inventory entry for an object the API server just applied: its uid and, from the
/// returned metadata, the digest that lets the next install skip it while nothing changes.
pub fn entry_after_apply(object: &Object, meta: &ObjectMeta) -> InventoryEntry {
    let mut entry = InventoryEntry::of(object);
    entry.uid = meta.uid.clone();
    entry.applied = managed_fields_digest(meta).map(|ours| applied_digest(object, &ours));
    entry
}

/// The objects whose apply would change nothing, with the inventory entry they keep: the previous
/// install applied this very configuration to the object of this uid, and the executor's fields
/// are as that apply left them.
pub fn unchanged<'a>(
    objects: &[&'a Object],
    live: &HashMap<ObjectKey<'a>, Live>,
    previous: &[InventoryEntry],
) -> HashMap<ObjectKey<'a>, InventoryEntry> {
    let previous: HashMap<ObjectKey, &InventoryEntry> =
        previous.iter().map(|entry| (entry.key(), entry)).collect();
    objects
        .iter()
        .filter_map(|object| {
            let key = object.key();
            let before = previous.get(&key)?;
            let now = live.get(&key)?;
            let proven = before.uid.as_deref() == Some(now.uid.as_str())
                && before.applied.as_deref()
                    == now
                        .ours
                        .as_deref()
                        .map(|ours| applied_digest(object, ours))
                        .as_deref();
            (proven && before.applied.is_some()).then(|| (key, (*before).clone()))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn object(yaml: &str) -> Object {
        Object {
            template: "t.yaml".into(),
            document: 0,
            value: crate::yaml::parse_one(yaml).unwrap(),
        }
    }

    fn meta(yaml: &str) -> ObjectMeta {
        serde_json::from_value(crate::yaml::parse_one(yaml).unwrap()).unwrap()
    }

    const CONFIG: &str = "
apiVersion: v1
kind: ConfigMap
metadata: {name: flow-config, namespace: dev}
data: {threshold: '0.5'}
";

    /// As the API server returns it after our apply, plus a controller's entry.
    const APPLIED: &str = "
uid: uid-1
managedFields:
- manager: modelops-executor
  operation: Apply
  apiVersion: v1
  time: '2026-12-01T03:00:00Z'
  fieldsType: FieldsV1
  fieldsV1: {'f:data': {'f:threshold': {}}}
- manager: kube-controller-manager
  operation: Update
  apiVersion: v1
  time: '2026-12-01T03:00:01Z'
  fieldsType: FieldsV1
  fieldsV1: {'f:metadata': {'f:annotations': {'f:seen': {}}}}
";

    fn check(object: &Object, previous: &InventoryEntry, now: &str) -> bool {
        let live = HashMap::from([(object.key(), Live::of(&meta(now)))]);
        !unchanged(&[object], &live, std::slice::from_ref(previous)).is_empty()
    }

    #[test]
    fn the_same_configuration_on_the_same_fields_of_the_same_object_is_unchanged() {
        let config = object(CONFIG);
        let previous = entry_after_apply(&config, &meta(APPLIED));
        assert_eq!(previous.uid.as_deref(), Some("uid-1"));
        assert_eq!(previous.applied.as_ref().map(String::len), Some(32));
        assert!(check(&config, &previous, APPLIED));
        // Later times and other managers' entries say nothing about our fields.
        let later = APPLIED
            .replace("03:00:00Z", "04:00:00Z")
            .replace("f:seen", "f:other");
        assert!(check(&config, &previous, &later));
    }

    #[test]
    fn any_change_sends_the_apply() {
        let config = object(CONFIG);
        let previous = entry_after_apply(&config, &meta(APPLIED));
        // A new configuration.
        assert!(!check(
            &object(&CONFIG.replace("0.5", "0.7")),
            &previous,
            APPLIED
        ));
        // A field of ours taken or removed by another writer leaves our entry.
        let taken = APPLIED.replace("{'f:data': {'f:threshold': {}}}", "{}");
        assert!(!check(&config, &previous, &taken));
        // Our entry gone altogether (managedFields reset).
        let reset = APPLIED.replace("manager: modelops-executor", "manager: someone");
        assert!(!check(&config, &previous, &reset));
        // The object was deleted and created again by someone else.
        assert!(!check(
            &config,
            &previous,
            &APPLIED.replace("uid-1", "uid-2")
        ));
        // A record written before digests were kept.
        let mut old = previous.clone();
        old.applied = None;
        assert!(!check(&config, &old, APPLIED));
        // An object that does not exist (not in what the preflight read).
        assert!(unchanged(&[&config], &HashMap::new(), &[previous]).is_empty());
    }
}
