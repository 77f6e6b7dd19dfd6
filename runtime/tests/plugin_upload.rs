//! Upload checks: every reference plugin is accepted with the hooks it declares; modules that are
//! not WebAssembly, lack the ABI exports, import WASI or exceed a limit are refused with a message
//! that says which.

use larder_plugin_wasm as wasm;
use larder_runtime::plugin::{Hook, PluginError, PluginHost, PluginLimits, version_id};
use larder_runtime::{NamespaceConfig, NamespaceError, Namespaces, PolicyRef};

/// A valid module that exports only a memory: no ABI at all.
const MEMORY_ONLY: &[u8] = &[
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, // magic, version 1
    0x05, 0x03, 0x01, 0x00, 0x01, // memory section: one memory, min 1 page
    0x07, 0x0a, 0x01, 0x06, b'm', b'e', b'm', b'o', b'r', b'y', 0x02, 0x00, // export "memory"
];

fn hooks_of(bytes: &[u8]) -> Vec<Hook> {
    let host = PluginHost::default();
    host.upload(bytes, "t", "")
        .unwrap()
        .version
        .hooks
        .iter()
        .collect()
}

#[test]
fn reference_plugins_upload_with_their_hooks() {
    assert_eq!(hooks_of(wasm::LRU), [Hook::Eviction]);
    assert_eq!(hooks_of(wasm::S3FIFO), [Hook::Eviction]);
    assert_eq!(hooks_of(wasm::SIEVE), [Hook::Eviction]);
    assert_eq!(hooks_of(wasm::WTINYLFU), [Hook::Eviction]);
    assert_eq!(hooks_of(wasm::TINYLFU_DOORKEEPER), [Hook::Admission]);
    assert_eq!(hooks_of(wasm::SIZE_AWARE_ADMISSION), [Hook::Admission]);
    assert_eq!(hooks_of(wasm::CONTEXTUAL_ADMISSION), [Hook::Admission]);
    assert_eq!(hooks_of(wasm::NOOP), [Hook::Admission]);
    assert_eq!(hooks_of(wasm::ADMIT_ALL), [Hook::Admission]);
    assert_eq!(hooks_of(wasm::DOORKEEPER_BATCHED), [Hook::Admission]);
    assert_eq!(hooks_of(wasm::SEQUENTIAL_PREFETCH), [Hook::Prefetch]);
    assert_eq!(hooks_of(wasm::MARKOV_PREFETCH), [Hook::Prefetch]);
    assert_eq!(hooks_of(wasm::HASHTAG_ROUTING), [Hook::Routing]);
}

#[test]
fn versions_are_content_addressed_and_immutable() {
    let host = PluginHost::default();
    let first = host
        .upload(wasm::LRU, "lru", "least recently used")
        .unwrap();
    assert!(first.created);
    assert_eq!(first.version.id, version_id(wasm::LRU));
    assert_eq!(first.version.id.len(), 64);
    let again = host.upload(wasm::LRU, "another name", "").unwrap();
    assert!(!again.created);
    assert_eq!(again.version.id, first.version.id);
    assert_eq!(
        again.version.name, "lru",
        "the first upload's metadata stays"
    );
    let other = host.upload(wasm::SIEVE, "sieve", "").unwrap();
    assert_ne!(other.version.id, first.version.id);
    assert_eq!(host.list().len(), 2);
    // A unique prefix names a version; a short or unknown one does not.
    assert_eq!(
        host.get(&first.version.id[..10]).unwrap().id,
        first.version.id
    );
    assert!(matches!(
        host.get(&first.version.id[..4]),
        Err(PluginError::NotFound(_))
    ));
    assert!(matches!(
        host.get("00000000000"),
        Err(PluginError::NotFound(_))
    ));
}

#[test]
fn refuses_what_is_not_a_module() {
    let host = PluginHost::default();
    let err = host.upload(b"(module)", "", "").unwrap_err();
    assert_eq!(err.code(), "invalid_module");
    assert!(err.to_string().contains("magic"), "{err}");
    let truncated = &wasm::LRU[..wasm::LRU.len() / 2];
    let err = host.upload(truncated, "", "").unwrap_err();
    assert_eq!(err.code(), "invalid_module", "{err}");
}

/// An admission module written against the raw ABI, with `larder_admit_mode` answering `mode`
/// and `extra` spliced in among its exports.
fn admission_module(mode: i32, extra: &str) -> Vec<u8> {
    wat::parse_str(format!(
        r#"(module
            (memory (export "memory") 3)
            (func (export "larder_abi_version") (result i32) i32.const 4)
            (func (export "larder_hooks") (result i32) i32.const 2)
            (func (export "larder_scratch") (result i32) i32.const 1024)
            (func (export "larder_scratch_len") (result i32) i32.const 131072)
            (func (export "larder_admit") (param i64 i32 i64) (result i32) i32.const 1)
            (func (export "larder_admit_mode") (result i32) i32.const {mode})
            {extra})"#
    ))
    .unwrap()
}

#[test]
fn refuses_an_admission_mode_it_does_not_know_or_cannot_serve() {
    let host = PluginHost::default();
    let err = host.upload(&admission_module(7, ""), "", "").unwrap_err();
    assert!(
        err.to_string().contains("larder_admit_mode returned 7"),
        "{err}"
    );
    // Observe mode without the exports it is served through.
    let err = host.upload(&admission_module(2, ""), "", "").unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("larder_admit_observe") && text.contains("larder_admit_verdicts"),
        "{text}"
    );
    // With them, and with "never", the same module is accepted.
    let observe = r#"(func (export "larder_admit_observe") (param i32) (result i32) i32.const 0)
        (func (export "larder_admit_verdicts") (result i32) i32.const 64)"#;
    host.upload(&admission_module(2, observe), "", "").unwrap();
    host.upload(&admission_module(1, ""), "", "").unwrap();
}

#[test]
fn refuses_a_module_without_the_abi_exports() {
    let err = PluginHost::default()
        .upload(MEMORY_ONLY, "", "")
        .unwrap_err();
    assert!(
        matches!(
            err,
            PluginError::MissingExport {
                name: "larder_abi_version",
                ..
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("larder_abi_version"));
}

#[test]
fn refuses_wasi_naming_the_import() {
    let err = PluginHost::default()
        .upload(wasm::WASI_IMPORT, "", "")
        .unwrap_err();
    assert_eq!(err.code(), "unknown_import");
    let text = err.to_string();
    assert!(text.contains("wasi_snapshot_preview1::fd_write"), "{text}");
    assert!(
        text.contains("larder::now_ms"),
        "the message lists what is allowed: {text}"
    );
}

#[test]
fn refuses_modules_over_the_limits() {
    let small = PluginHost::new(PluginLimits {
        max_module_bytes: 1024,
        ..Default::default()
    });
    let err = small.upload(wasm::LRU, "", "").unwrap_err();
    assert!(
        matches!(err, PluginError::TooLarge { max: 1024, .. }),
        "{err}"
    );

    // The SDK's static buffers alone need more than 64 KiB of linear memory.
    let tight = PluginHost::new(PluginLimits {
        max_memory_bytes: 64 * 1024,
        ..Default::default()
    });
    let err = tight.upload(wasm::LRU, "", "").unwrap_err();
    assert_eq!(err.code(), "over_limits", "{err}");
    assert!(err.to_string().contains("memory"), "{err}");
}

#[test]
fn namespace_config_references_are_checked() {
    let namespaces = Namespaces::new(NamespaceConfig::default()).unwrap();
    let lru = namespaces
        .plugins()
        .upload(wasm::LRU, "lru", "")
        .unwrap()
        .version;

    let unknown = NamespaceConfig {
        eviction: PolicyRef::plugin("ab".repeat(32)),
        ..Default::default()
    };
    match namespaces.create("a", unknown) {
        Err(NamespaceError::InvalidConfig {
            field: "eviction",
            reason,
        }) => {
            assert!(reason.contains("no plugin version"), "{reason}")
        }
        other => panic!("unexpected {other:?}"),
    }

    // An eviction plugin cannot serve admission.
    let wrong_hook = NamespaceConfig {
        admission: Some(PolicyRef::plugin(&lru.id)),
        ..Default::default()
    };
    match namespaces.create("b", wrong_hook) {
        Err(NamespaceError::InvalidConfig {
            field: "admission",
            reason,
        }) => {
            assert!(
                reason.contains("does not implement the admission hook"),
                "{reason}"
            )
        }
        other => panic!("unexpected {other:?}"),
    }

    // Config JSON names plugins as "plugin:<id>"; a prefix is resolved.
    let json = serde_json::json!({ "eviction": format!("plugin:{}", &lru.id[..16]), "capacity_bytes": 1 << 20, "max_item_size": 1024 });
    let cfg: NamespaceConfig = serde_json::from_value(json).unwrap();
    let ns = namespaces.create("c", cfg).unwrap();
    assert_eq!(ns.store().policy_name(), format!("plugin:{}", lru.id));
    let usage = namespaces.plugin_usage(&lru.id);
    assert_eq!(usage, vec![("c".to_string(), Hook::Eviction)]);
}
