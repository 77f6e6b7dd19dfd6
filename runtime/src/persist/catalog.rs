//! The catalog: the configuration a restarted node needs to serve what it served — namespaces and
//! their configs, the plugin versions they may name, alert rules added at run time.
//!
//! `catalog.json` is JSON on purpose: an operator can read it at 3 a.m. Plugin modules live beside
//! it as `plugins/<sha256>.wasm`, written before the catalog that names them (so a crash between
//! the two leaves an unreferenced module, never a dangling reference) and checked against their
//! name when read back. Compression dictionaries are kept the same way, as
//! `dictionaries/<sha256>.zdict`.

use std::path::Path;

use serde::{Deserialize, Serialize};

use std::io::Read;
use std::sync::Arc;

use super::atomic::write_atomic;
use super::crypto::KeyRing;
use super::sealed;
use super::{CATALOG_FILE, DICTIONARIES_DIR, PLUGINS_DIR, PersistError, unix_now_ms};
use crate::alert::AlertRule;
use crate::experiment::{ExperimentSpec, ShadowSpec};
use crate::namespace::{NamespaceConfig, Namespaces};
use crate::plugin::version_id;

/// The catalog format this build writes and reads.
pub const FORMAT: u32 = 1;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Catalog {
    pub format: u32,
    pub saved_at_unix_ms: u64,
    pub namespaces: Vec<CatalogNamespace>,
    pub plugins: Vec<CatalogPlugin>,
    #[serde(default)]
    pub alert_rules: Vec<AlertRule>,
    /// Running experiments, by namespace: restarted (from zero) at start.
    #[serde(default)]
    pub experiments: Vec<CatalogExperiment>,
    /// Running shadow evaluations, by namespace: restarted (from zero) at start.
    #[serde(default)]
    pub shadows: Vec<CatalogShadow>,
    /// API keys of the data and admin ports, by their hash only (the key itself is shown once,
    /// when it is made, and never stored). Filled in by the server, which owns authentication.
    #[serde(default)]
    pub api_keys: Vec<CatalogApiKey>,
    /// Users with passwords, by their argon2id hashes only. Filled in by the server.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub users: Vec<CatalogUser>,
    /// Tenants, their quotas and the plugin versions each owns. Filled in by the server.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tenants: Vec<CatalogTenant>,
}

/// One tenant as the catalog keeps it (its namespaces are recorded as `tenant/name`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CatalogTenant {
    pub name: String,
    pub created_unix_ms: u64,
    pub quotas: crate::tenant::TenantQuotas,
    /// The plugin versions the tenant uploaded, with the name it gave each.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub plugins: Vec<CatalogTenantPlugin>,
}

/// A plugin version as one tenant uploaded it: the bytes are shared, the name is its own.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CatalogTenantPlugin {
    pub id: String,
    pub name: String,
    pub description: String,
    pub uploaded_at_unix_ms: u64,
}

/// One API key as the catalog keeps it: who it is, what it may do, and the SHA-256 of the key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CatalogApiKey {
    pub id: String,
    pub name: String,
    pub scopes: Vec<String>,
    /// Lowercase hex SHA-256 of the whole key text.
    pub sha256: String,
    pub created_unix_ms: u64,
    /// Operations per second and burst the key may use; none: unlimited.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_limit: Option<CatalogRateLimit>,
    /// The tenant the key belongs to; none: an operator-level key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant: Option<String>,
}

/// One user with passwords as the catalog keeps it: its rights and argon2id hashes (PHC form).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CatalogUser {
    pub name: String,
    /// The tenant the user belongs to; none: an operator-level user.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant: Option<String>,
    /// The highest scope held; empty: no commands.
    pub scopes: Vec<String>,
    pub enabled: bool,
    pub password_hashes: Vec<String>,
    pub created_unix_ms: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CatalogRateLimit {
    pub per_second: u32,
    pub burst: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CatalogExperiment {
    pub namespace: String,
    pub spec: ExperimentSpec,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CatalogShadow {
    pub namespace: String,
    pub spec: ShadowSpec,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CatalogNamespace {
    pub name: String,
    pub config: NamespaceConfig,
    /// Compression dictionaries its stored values may name.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dictionaries: Vec<CatalogDictionary>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CatalogDictionary {
    /// zstd's id for it, as frames compressed with it name it.
    pub id: u32,
    /// Hex SHA-256 of its bytes: also its file name under `dictionaries/`.
    pub sha256: String,
    /// It compresses new writes (at most one per namespace).
    pub current: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CatalogPlugin {
    /// Hex SHA-256 of the module: also its file name under `plugins/`.
    pub id: String,
    pub name: String,
    pub description: String,
}

/// A catalog read back, with every module it names (checked against its id).
#[derive(Debug, Clone)]
pub struct LoadedCatalog {
    pub catalog: Catalog,
    /// In upload order, so a restart uploads them in the same order.
    pub modules: Vec<(CatalogPlugin, Vec<u8>)>,
    /// Each namespace's dictionaries, read and checked: (namespace, dictionary, bytes).
    pub dictionaries: Vec<(String, CatalogDictionary, Vec<u8>)>,
}

impl Catalog {
    /// What `namespaces` (and their plugin host) hold now, plus `alert_rules`.
    pub fn capture(namespaces: &Namespaces, alert_rules: Vec<AlertRule>) -> Self {
        let mut list: Vec<CatalogNamespace> = namespaces
            .list()
            .iter()
            .map(|ns| {
                let dictionaries = ns.store().dictionaries();
                CatalogNamespace {
                    name: ns.name().to_string(),
                    config: ns.config(),
                    dictionaries: dictionaries
                        .retained()
                        .iter()
                        .map(|d| CatalogDictionary {
                            id: d.id(),
                            sha256: version_id(d.bytes()),
                            current: dictionaries.current_id() == Some(d.id()),
                        })
                        .collect(),
                }
            })
            .collect();
        list.sort_by(|a, b| a.name.cmp(&b.name));
        let plugins = namespaces
            .plugins()
            .list()
            .iter()
            .map(|v| CatalogPlugin {
                id: v.id.clone(),
                name: v.name.clone(),
                description: v.description.clone(),
            })
            .collect();
        let mut experiments = Vec::new();
        let mut shadows = Vec::new();
        for ns in namespaces.list() {
            let lab = ns.store().lab();
            if let Some(spec) = lab.experiment_spec() {
                experiments.push(CatalogExperiment {
                    namespace: ns.name().to_string(),
                    spec,
                });
            }
            if let Some(spec) = lab.shadow_spec() {
                shadows.push(CatalogShadow {
                    namespace: ns.name().to_string(),
                    spec,
                });
            }
        }
        Self {
            format: FORMAT,
            saved_at_unix_ms: unix_now_ms(),
            namespaces: list,
            plugins,
            alert_rules,
            experiments,
            shadows,
            api_keys: Vec::new(),
            tenants: Vec::new(),
            users: Vec::new(),
        }
    }

    /// Write every module not yet in `dir/plugins/`, then the catalog, each atomically.
    pub fn save(
        &self,
        dir: &Path,
        namespaces: &Namespaces,
        keys: Option<&Arc<KeyRing>>,
    ) -> Result<(), PersistError> {
        let modules = dir.join(PLUGINS_DIR);
        std::fs::create_dir_all(&modules).map_err(|e| PersistError::io(&modules, e))?;
        for version in namespaces.plugins().list() {
            let path = modules.join(format!("{}.wasm", version.id));
            // A module is content-addressed, so one on disk is rewritten only to change the key
            // it is sealed with (encryption turned on or off, or the current key rotated).
            if stored_key_id(&path) != Some(keys.map_or(0, |k| k.current_id())) {
                write_atomic(&path, &sealed::seal(&version.module, &path, keys)?)?;
            }
        }
        self.save_dictionaries(dir, namespaces, keys)?;
        let path = dir.join(CATALOG_FILE);
        let json = serde_json::to_vec_pretty(self)
            .map_err(|e| PersistError::invalid(&path, format!("cannot encode: {e}")))?;
        write_atomic(&path, &sealed::seal(&json, &path, keys)?)
    }

    /// Write each dictionary the catalog names that is not yet on disk (sealed with the current
    /// key), before the catalog naming it.
    fn save_dictionaries(
        &self,
        dir: &Path,
        namespaces: &Namespaces,
        keys: Option<&Arc<KeyRing>>,
    ) -> Result<(), PersistError> {
        if self.namespaces.iter().all(|n| n.dictionaries.is_empty()) {
            return Ok(());
        }
        let folder = dir.join(DICTIONARIES_DIR);
        std::fs::create_dir_all(&folder).map_err(|e| PersistError::io(&folder, e))?;
        for ns in namespaces.list() {
            for d in ns.store().dictionaries().retained() {
                let path = folder.join(format!("{}.zdict", version_id(d.bytes())));
                if stored_key_id(&path) != Some(keys.map_or(0, |k| k.current_id())) {
                    write_atomic(&path, &sealed::seal(d.bytes(), &path, keys)?)?;
                }
            }
        }
        Ok(())
    }

    /// Read `dir/catalog.json` and the modules it names; `Ok(None)` when there is no catalog yet.
    pub fn load(
        dir: &Path,
        keys: Option<&Arc<KeyRing>>,
    ) -> Result<Option<LoadedCatalog>, PersistError> {
        let path = dir.join(CATALOG_FILE);
        let bytes = match std::fs::read(&path) {
            Ok(b) => sealed::open(b, &path, keys)?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(PersistError::io(&path, e)),
        };
        let catalog: Catalog = serde_json::from_slice(&bytes)
            .map_err(|e| PersistError::invalid(&path, format!("not a valid catalog: {e}")))?;
        if catalog.format != FORMAT {
            return Err(PersistError::invalid(
                &path,
                format!(
                    "catalog format {}; this build reads format {FORMAT}",
                    catalog.format
                ),
            ));
        }
        let mut modules = Vec::with_capacity(catalog.plugins.len());
        for plugin in &catalog.plugins {
            let module_path = dir.join(PLUGINS_DIR).join(format!("{}.wasm", plugin.id));
            let stored =
                std::fs::read(&module_path).map_err(|e| PersistError::io(&module_path, e))?;
            let bytes = sealed::open(stored, &module_path, keys)?;
            if version_id(&bytes) != plugin.id {
                return Err(PersistError::invalid(
                    &module_path,
                    "the module's SHA-256 is not its name (the file is corrupt)",
                ));
            }
            modules.push((plugin.clone(), bytes));
        }
        let mut dictionaries = Vec::new();
        for ns in &catalog.namespaces {
            for d in &ns.dictionaries {
                let path = dir
                    .join(DICTIONARIES_DIR)
                    .join(format!("{}.zdict", d.sha256));
                let stored = std::fs::read(&path).map_err(|e| PersistError::io(&path, e))?;
                let bytes = sealed::open(stored, &path, keys)?;
                if version_id(&bytes) != d.sha256 {
                    return Err(PersistError::invalid(
                        &path,
                        "the dictionary's SHA-256 is not its name (the file is corrupt)",
                    ));
                }
                dictionaries.push((ns.name.clone(), d.clone(), bytes));
            }
        }
        Ok(Some(LoadedCatalog {
            catalog,
            modules,
            dictionaries,
        }))
    }
}

/// The key id the file at `path` is sealed with, 0 when it is not sealed; `None` when it
/// cannot be read.
fn stored_key_id(path: &Path) -> Option<u16> {
    let mut head = [0u8; 12];
    let mut file = std::fs::File::open(path).ok()?;
    match file.read_exact(&mut head) {
        Ok(()) if &head[..8] == sealed::MAGIC => Some(u16::from_le_bytes([head[10], head[11]])),
        Ok(()) => Some(0),
        // Shorter than a sealed header: not sealed.
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => Some(0),
        Err(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_corrupt_catalogs_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        assert!(
            Catalog::load(dir.path(), None).unwrap().is_none(),
            "no catalog yet"
        );
        let all = Namespaces::new(NamespaceConfig::default()).unwrap();
        all.create(
            "sessions",
            NamespaceConfig {
                capacity_bytes: 1 << 20,
                default_ttl_secs: 30,
                ..Default::default()
            },
        )
        .unwrap();
        let catalog = Catalog::capture(&all, Vec::new());
        catalog.save(dir.path(), &all, None).unwrap();
        let loaded = Catalog::load(dir.path(), None).unwrap().unwrap();
        assert_eq!(loaded.catalog, catalog);
        assert_eq!(loaded.catalog.namespaces[1].name, "sessions");
        assert_eq!(loaded.catalog.namespaces[1].config.default_ttl_secs, 30);

        let path = dir.path().join(CATALOG_FILE);
        let mut text = std::fs::read(&path).unwrap();
        text.truncate(text.len() / 2);
        std::fs::write(&path, &text).unwrap();
        let err = Catalog::load(dir.path(), None).unwrap_err();
        assert!(
            err.to_string().contains("catalog.json")
                && err.to_string().contains("not a valid catalog"),
            "{err}"
        );
    }
}
