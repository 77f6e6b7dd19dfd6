//! Upload checks: everything that can be known about a module before it serves a request.
//! A module is refused, with a message naming the reason, when it is too large, not valid
//! WebAssembly, imports anything outside the ABI, lacks or mistypes an ABI export, speaks another
//! ABI version, declares hooks it does not export, or does not fit the memory cap.

use std::sync::Arc;

use wasmtime::{ExternType, InstancePre, Module, ValType};

use super::abi;
use super::error::PluginError;
use super::hook::HookSet;
use super::imports::HostState;
use super::instance::{Fault, GuestInstance, InitArgs};
use super::limits::PluginLimits;
use super::sandbox::Sandbox;

/// A module that passed every check, compiled and linked, ready to instantiate per shard.
pub(crate) struct Checked {
    pub pre: InstancePre<HostState>,
    pub hooks: HookSet,
    /// What `larder_abi_version` returned: one of the versions this host serves.
    pub abi_version: i32,
}

fn type_letters(types: impl Iterator<Item = ValType>) -> String {
    types
        .map(|t| match t {
            ValType::I32 => 'i',
            ValType::I64 => 'I',
            ValType::F32 => 'f',
            ValType::F64 => 'F',
            _ => '?',
        })
        .collect()
}

fn describe(letters: &str) -> String {
    let names: Vec<&str> = letters
        .chars()
        .map(|c| match c {
            'i' => "i32",
            'I' => "i64",
            'f' => "f32",
            'F' => "f64",
            _ => "other",
        })
        .collect();
    format!("({})", names.join(", "))
}

pub(crate) fn check(
    sandbox: &Sandbox,
    limits: &PluginLimits,
    bytes: &[u8],
) -> Result<Checked, PluginError> {
    if bytes.len() > limits.max_module_bytes {
        return Err(PluginError::TooLarge {
            size: bytes.len(),
            max: limits.max_module_bytes,
        });
    }
    if !bytes.starts_with(b"\0asm") {
        return Err(PluginError::InvalidModule(
            "the body does not start with the WebAssembly magic bytes (\\0asm); upload the \
             compiled .wasm file"
                .into(),
        ));
    }
    let module = Module::new(&sandbox.engine, bytes)
        .map_err(|e| PluginError::InvalidModule(format!("{e:#}")))?;

    for import in module.imports() {
        let known = import.module() == abi::IMPORT_MODULE
            && abi::IMPORTS.iter().any(|(name, _)| *name == import.name());
        if !known {
            let allowed = abi::IMPORTS
                .iter()
                .map(|(n, sig)| format!("{}::{n} {sig}", abi::IMPORT_MODULE))
                .collect::<Vec<_>>()
                .join(", ");
            return Err(PluginError::UnknownImport {
                module: import.module().to_string(),
                name: import.name().to_string(),
                allowed,
            });
        }
    }

    match module.get_export(abi::EXPORT_MEMORY) {
        Some(ExternType::Memory(m)) => {
            let initial = m.minimum().saturating_mul(m.page_size());
            if initial > limits.max_memory_bytes as u64 {
                return Err(PluginError::OverLimits(format!(
                    "initial memory is {initial} bytes; the per-instance cap is {}",
                    limits.max_memory_bytes
                )));
            }
        }
        _ => {
            return Err(PluginError::MissingExport {
                name: abi::EXPORT_MEMORY,
                why: "the module must export its linear memory as \"memory\"",
            });
        }
    }
    for (name, params, results) in abi::EXPORT_SIGNATURES {
        match module.get_export(name) {
            None => {}
            Some(ExternType::Func(f)) => {
                let (p, r) = (type_letters(f.params()), type_letters(f.results()));
                if p != *params || r != *results {
                    return Err(PluginError::BadExport {
                        name: name.to_string(),
                        expected: format!("{} -> {}", describe(params), describe(results)),
                        found: format!("{} -> {}", describe(&p), describe(&r)),
                    });
                }
            }
            Some(other) => {
                return Err(PluginError::BadExport {
                    name: name.to_string(),
                    expected: "a function".into(),
                    found: format!("{other:?}").chars().take(60).collect(),
                });
            }
        }
    }
    for (name, why) in [
        (
            abi::EXPORT_ABI_VERSION,
            "every plugin exports the ABI version it speaks",
        ),
        (abi::EXPORT_HOOKS, "every plugin declares its hooks"),
        (
            abi::EXPORT_SCRATCH,
            "every plugin exports the address of its scratch buffer",
        ),
        (
            abi::EXPORT_SCRATCH_LEN,
            "every plugin exports the length of its scratch buffer",
        ),
    ] {
        if module.get_export(name).is_none() {
            return Err(PluginError::MissingExport { name, why });
        }
    }

    let pre = sandbox.linker.instantiate_pre(&module).map_err(|e| {
        PluginError::InvalidModule(format!("cannot link against the host imports: {e:#}"))
    })?;

    // A probe instance answers the declarations and proves the module starts within limits.
    let mut store = wasmtime::Store::new(
        &sandbox.engine,
        HostState::new(limits.max_memory_bytes, 0, Arc::from("upload")),
    );
    store.limiter(|s| &mut s.limiter);
    store.set_epoch_deadline(limits.deadline_ticks() * 10);
    let instance = pre
        .instantiate(&mut store)
        .map_err(|e| PluginError::StartFailed(format!("instantiation failed: {e:#}")))?;
    let call_i32 =
        |store: &mut wasmtime::Store<HostState>, name: &str| -> Result<i32, PluginError> {
            let f = instance
                .get_typed_func::<(), i32>(&mut *store, name)
                .map_err(|e| PluginError::StartFailed(format!("{name}: {e:#}")))?;
            f.call(&mut *store, ())
                .map_err(|e| PluginError::StartFailed(format!("{name}: {e:#}")))
        };
    let version = call_i32(&mut store, abi::EXPORT_ABI_VERSION)?;
    if !(abi::OLDEST_ABI_VERSION..=abi::ABI_VERSION).contains(&version) {
        return Err(PluginError::UnsupportedAbi {
            found: version,
            expected: abi::ABI_VERSION,
        });
    }
    let bits = call_i32(&mut store, abi::EXPORT_HOOKS)?;
    if bits == 0 {
        return Err(PluginError::BadHooks(bits, "declares no hook".into()));
    }
    if bits & !abi::HOOK_ALL != 0 {
        return Err(PluginError::BadHooks(
            bits,
            format!(
                "unknown bits; eviction={}, admission={}, prefetch={}, routing={}",
                abi::HOOK_EVICTION,
                abi::HOOK_ADMISSION,
                abi::HOOK_PREFETCH,
                abi::HOOK_ROUTING
            ),
        ));
    }
    for (bit, export) in abi::HOOK_EXPORTS {
        if bits & bit != 0 && module.get_export(export).is_none() {
            return Err(PluginError::MissingExport {
                name: export,
                why: "the module declares this hook in larder_hooks but does not export it",
            });
        }
    }
    drop(store);

    // Start one real instance the way a shard will, so scratch and init problems show now.
    let probe = InitArgs {
        namespace_id: 0,
        shard: 0,
        capacity_bytes: 64 << 20,
        seed: 0,
    };
    GuestInstance::start(&pre, limits, Arc::from("upload"), probe).map_err(|f| match f {
        Fault::OutOfMemory => PluginError::OverLimits(format!(
            "the plugin needs more than the {}-byte memory cap to start",
            limits.max_memory_bytes
        )),
        other => PluginError::StartFailed(other.to_string()),
    })?;
    Ok(Checked {
        pre,
        hooks: HookSet(bits),
        abi_version: version,
    })
}
