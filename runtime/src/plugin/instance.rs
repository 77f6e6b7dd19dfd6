//! One live instance of a plugin module: its wasmtime store, memory, scratch buffer and typed
//! exports, with one method per ABI call. Every call runs under a fresh epoch deadline, and every
//! failure is classified into a [`Fault`] — never propagated as a panic or a request error.

use std::sync::Arc;

use wasmtime::{InstancePre, Memory, Store, Trap, TypedFunc};

use super::abi;
use super::imports::HostState;
use super::limits::PluginLimits;

/// Why a plugin call did not produce a usable answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// The guest trapped (unreachable, out-of-bounds access, a host import refused its input…).
    Trap(String),
    /// The call ran past its deadline and was interrupted.
    Deadline,
    /// The guest tried to grow its memory past the cap.
    OutOfMemory,
    /// The guest answered, but the answer broke the ABI's contract.
    InvalidAnswer(&'static str),
    /// The instance could not be created or initialised.
    Start(String),
}

impl Fault {
    /// Short reason for metrics labels and logs.
    pub fn kind(&self) -> &'static str {
        match self {
            Fault::Trap(_) => "trap",
            Fault::Deadline => "deadline",
            Fault::OutOfMemory => "out_of_memory",
            Fault::InvalidAnswer(_) => "invalid_answer",
            Fault::Start(_) => "start",
        }
    }
}

impl std::fmt::Display for Fault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Fault::Trap(m) => write!(f, "trap: {m}"),
            Fault::Deadline => write!(f, "missed its call deadline"),
            Fault::OutOfMemory => write!(f, "ran out of memory (hit the instance memory cap)"),
            Fault::InvalidAnswer(m) => write!(f, "invalid answer: {m}"),
            Fault::Start(m) => write!(f, "could not start: {m}"),
        }
    }
}

/// What `larder_init` is told.
#[derive(Debug, Clone, Copy)]
pub(crate) struct InitArgs {
    pub namespace_id: u64,
    pub shard: u32,
    pub capacity_bytes: u64,
    pub seed: u64,
}

struct Exports {
    init: Option<TypedFunc<(i64, i32, i64, i64), i32>>,
    evict: Option<TypedFunc<(i32, i64, i32), i32>>,
    evict_capacity: Option<TypedFunc<i64, ()>>,
    evict_clear: Option<TypedFunc<(), ()>>,
    admit: Option<TypedFunc<(i64, i32, i64), i32>>,
    prefetch: Option<TypedFunc<(i64, i32, i32), i32>>,
    route: Option<TypedFunc<(i64, i32), i64>>,
    admit_observe: Option<TypedFunc<i32, i32>>,
}

/// How an admission plugin asked to be consulted (ABI 4; see `abi::ADMIT_MODE_*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AdmitMode {
    /// `larder_admit` per new key.
    Decide,
    /// Never called: every key is admitted.
    Never,
    /// Decided from the verdict map; told of the requests in batches.
    Observe,
}

/// Where an observing admission plugin keeps its verdicts (ABI 4): `len` bytes at `ptr`, one bit
/// per hash bucket. The default (no map yet) admits every key.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct VerdictMap {
    ptr: usize,
    len: usize,
}

/// Where an eviction plugin keeps its per-slot read counters (ABI 3), as its descriptor last
/// said: `len` bytes at `ptr` in its memory, saturating at `max`. The default covers no slot.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct AccessMap {
    ptr: usize,
    len: usize,
    max: u8,
}

impl AccessMap {
    /// Whether a read of `slot` can be a bump in place.
    #[inline]
    pub fn covers(&self, slot: u32) -> bool {
        (slot as usize) < self.len
    }
}

pub(crate) struct GuestInstance {
    store: Store<HostState>,
    memory: Memory,
    scratch: usize,
    scratch_len: usize,
    /// Address of the access map's descriptor, when the module exports one.
    access_map: Option<usize>,
    admit_mode: AdmitMode,
    /// Address of the verdict map's descriptor (observing admission plugins only).
    verdicts: Option<usize>,
    exports: Exports,
    deadline_ticks: u64,
}

impl GuestInstance {
    /// Instantiate and initialise. Runs the module's start function and `larder_init` under the
    /// deadline (ten times the per-call one: initialisation may allocate its tables).
    pub fn start(
        pre: &InstancePre<HostState>,
        limits: &PluginLimits,
        label: Arc<str>,
        init: InitArgs,
    ) -> Result<Self, Fault> {
        let state = HostState::new(limits.max_memory_bytes, init.seed, label);
        let mut store = Store::new(pre.module().engine(), state);
        store.limiter(|s| &mut s.limiter);
        let deadline_ticks = limits.deadline_ticks();
        store.set_epoch_deadline(deadline_ticks * 10);
        let instance = pre
            .instantiate(&mut store)
            .map_err(|e| start_fault(&store, e))?;
        let memory = instance
            .get_memory(&mut store, abi::EXPORT_MEMORY)
            .ok_or_else(|| Fault::Start("no exported memory".into()))?;
        store.data_mut().memory = Some(memory);
        let func = |store: &mut Store<HostState>, name: &str| -> Result<Option<_>, Fault> {
            Ok(instance.get_func(&mut *store, name))
        };
        macro_rules! typed {
            ($name:expr) => {
                match func(&mut store, $name)? {
                    None => None,
                    Some(f) => Some(
                        f.typed(&store)
                            .map_err(|e| Fault::Start(format!("{e:#}")))?,
                    ),
                }
            };
        }
        let scratch_fn: Option<TypedFunc<(), i32>> = typed!(abi::EXPORT_SCRATCH);
        let scratch_len_fn: Option<TypedFunc<(), i32>> = typed!(abi::EXPORT_SCRATCH_LEN);
        let access_map_fn: Option<TypedFunc<(), i32>> = typed!(abi::EXPORT_ACCESS_MAP);
        let admit_mode_fn: Option<TypedFunc<(), i32>> = typed!(abi::EXPORT_ADMIT_MODE);
        let verdicts_fn: Option<TypedFunc<(), i32>> = typed!(abi::EXPORT_ADMIT_VERDICTS);
        let exports = Exports {
            init: typed!(abi::EXPORT_INIT),
            evict: typed!(abi::EXPORT_EVICT),
            evict_capacity: typed!(abi::EXPORT_EVICT_CAPACITY),
            evict_clear: typed!(abi::EXPORT_EVICT_CLEAR),
            admit: typed!(abi::EXPORT_ADMIT),
            prefetch: typed!(abi::EXPORT_PREFETCH),
            route: typed!(abi::EXPORT_ROUTE),
            admit_observe: typed!(abi::EXPORT_ADMIT_OBSERVE),
        };
        let (Some(scratch_fn), Some(scratch_len_fn)) = (scratch_fn, scratch_len_fn) else {
            return Err(Fault::Start("missing the scratch buffer exports".into()));
        };
        let scratch = scratch_fn
            .call(&mut store, ())
            .map_err(|e| start_fault(&store, e))?;
        let scratch_len = scratch_len_fn
            .call(&mut store, ())
            .map_err(|e| start_fault(&store, e))?;
        let (scratch, scratch_len) = (scratch as u32 as usize, scratch_len as u32 as usize);
        if scratch_len < abi::MIN_SCRATCH_LEN {
            return Err(Fault::Start(format!(
                "scratch buffer is {scratch_len} bytes; the ABI needs at least {}",
                abi::MIN_SCRATCH_LEN
            )));
        }
        if scratch
            .checked_add(scratch_len)
            .is_none_or(|end| end > memory.data_size(&store))
        {
            return Err(Fault::Start(
                "scratch buffer lies outside the memory".into(),
            ));
        }
        let access_map = match access_map_fn {
            None => None,
            Some(f) => Some(descriptor_address(
                &mut store,
                &memory,
                &f,
                abi::ACCESS_MAP_DESCRIPTOR_LEN,
                "access map",
            )?),
        };
        if let Some(init_fn) = &exports.init {
            let args = (
                init.namespace_id as i64,
                init.shard as i32,
                init.capacity_bytes.min(i64::MAX as u64) as i64,
                init.seed as i64,
            );
            match init_fn.call(&mut store, args) {
                Ok(0) => {}
                Ok(code) => return Err(Fault::Start(format!("larder_init returned {code}"))),
                Err(e) => return Err(start_fault(&store, e)),
            }
        }
        // Asked once, after init: a plugin may choose its mode from what init told it.
        let admit_mode = match admit_mode_fn {
            None => AdmitMode::Decide,
            Some(f) => match f.call(&mut store, ()).map_err(|e| start_fault(&store, e))? {
                abi::ADMIT_MODE_DECIDE => AdmitMode::Decide,
                abi::ADMIT_MODE_NEVER => AdmitMode::Never,
                abi::ADMIT_MODE_OBSERVE => AdmitMode::Observe,
                other => {
                    return Err(Fault::Start(format!(
                        "larder_admit_mode returned {other}; the modes are {} (decide), {} \
                         (never called) and {} (observe)",
                        abi::ADMIT_MODE_DECIDE,
                        abi::ADMIT_MODE_NEVER,
                        abi::ADMIT_MODE_OBSERVE
                    )));
                }
            },
        };
        let verdicts = match (admit_mode, verdicts_fn, &exports.admit_observe) {
            (AdmitMode::Observe, Some(f), Some(_)) => Some(descriptor_address(
                &mut store,
                &memory,
                &f,
                abi::VERDICT_MAP_DESCRIPTOR_LEN,
                "verdict map",
            )?),
            (AdmitMode::Observe, _, _) => {
                return Err(Fault::Start(format!(
                    "larder_admit_mode is observe ({}), which needs the exports {} and {}",
                    abi::ADMIT_MODE_OBSERVE,
                    abi::EXPORT_ADMIT_OBSERVE,
                    abi::EXPORT_ADMIT_VERDICTS
                )));
            }
            _ => None,
        };
        Ok(Self {
            store,
            memory,
            scratch,
            scratch_len,
            access_map,
            admit_mode,
            verdicts,
            exports,
            deadline_ticks,
        })
    }

    pub fn scratch_len(&self) -> usize {
        self.scratch_len
    }

    /// The scratch buffer, for the host to fill before a call or read after it.
    pub fn scratch_mut(&mut self) -> &mut [u8] {
        // In bounds: checked at start, and linear memory never shrinks.
        &mut self.memory.data_mut(&mut self.store)[self.scratch..self.scratch + self.scratch_len]
    }

    /// The access map as the guest describes it now (read after every eviction call: the guest
    /// may grow or move its counters during one). A descriptor that points outside the memory,
    /// or says `max = 0`, is no map: every read is then sent as an event, which is always right.
    pub fn access_map(&mut self) -> AccessMap {
        let Some(at) = self.access_map else {
            return AccessMap::default();
        };
        let data = self.memory.data(&self.store);
        let [ptr, len, max] = descriptor_words(data, at);
        if max == 0 || max > u8::MAX as usize || ptr.checked_add(len).is_none_or(|e| e > data.len())
        {
            return AccessMap::default();
        }
        AccessMap {
            ptr,
            len,
            max: max as u8,
        }
    }

    /// How this instance asked to be consulted for admission (read once at start).
    pub fn admit_mode(&self) -> AdmitMode {
        self.admit_mode
    }

    /// The verdict map as the guest describes it now (read after every observe call). A
    /// descriptor pointing outside the memory is no map, which admits every key.
    pub fn verdict_map(&mut self) -> VerdictMap {
        let Some(at) = self.verdicts else {
            return VerdictMap::default();
        };
        let data = self.memory.data(&self.store);
        let [ptr, len] = descriptor_words(data, at);
        if ptr.checked_add(len).is_none_or(|e| e > data.len()) {
            return VerdictMap::default();
        }
        VerdictMap { ptr, len }
    }

    /// The map's verdict on a key hash: admitted when its bit is set (or there is no map).
    #[inline]
    pub fn verdict(&self, map: VerdictMap, hash: u64) -> bool {
        if map.len == 0 {
            return true;
        }
        let bit = hash % (map.len as u64 * 8);
        // In bounds: the map was checked against the memory when it was read, and linear
        // memory never shrinks.
        let byte = self.memory.data(&self.store)[map.ptr + (bit / 8) as usize];
        byte & (1 << (bit % 8)) != 0
    }

    /// Deliver `n` admission records from the scratch buffer (observe mode).
    pub fn admit_observe(&mut self, n: usize) -> Result<i32, Fault> {
        self.arm();
        let Some(f) = &self.exports.admit_observe else {
            return Ok(0);
        };
        f.call(&mut self.store, n as i32).map_err(|e| self.fault(e))
    }

    /// One read of `slot`, applied in place: its counter goes up by one, up to the map's `max`.
    /// `slot` must be one the map covers.
    #[inline]
    pub fn bump(&mut self, map: AccessMap, slot: u32) {
        // In bounds: `covers` was checked, the map was checked against the memory when it was
        // read, and linear memory never shrinks.
        let c = &mut self.memory.data_mut(&mut self.store)[map.ptr + slot as usize];
        if *c < map.max {
            *c += 1;
        }
    }

    #[inline]
    fn arm(&mut self) {
        self.store.set_epoch_deadline(self.deadline_ticks);
        self.store.data_mut().now_ms = 0;
    }

    fn fault(&self, e: wasmtime::Error) -> Fault {
        classify(&self.store, e)
    }

    /// Apply `n_events` events from the scratch buffer, then, if `need_bytes > 0`, write up to
    /// `max_victims` victim slots to it; returns how many.
    pub fn evict(
        &mut self,
        n_events: usize,
        need_bytes: u64,
        max_victims: usize,
    ) -> Result<i32, Fault> {
        // Armed before the export is looked up: borrowing it (not cloning, which costs a
        // reference count round trip per call) keeps `self` borrowed until the call.
        self.arm();
        let Some(f) = &self.exports.evict else {
            return Ok(0);
        };
        let args = (
            n_events as i32,
            need_bytes.min(i64::MAX as u64) as i64,
            max_victims as i32,
        );
        f.call(&mut self.store, args).map_err(|e| self.fault(e))
    }

    pub fn evict_capacity(&mut self, bytes: u64) -> Result<(), Fault> {
        self.arm();
        let Some(f) = &self.exports.evict_capacity else {
            return Ok(());
        };
        f.call(&mut self.store, bytes.min(i64::MAX as u64) as i64)
            .map_err(|e| self.fault(e))
    }

    pub fn evict_clear(&mut self) -> Result<(), Fault> {
        self.arm();
        let Some(f) = &self.exports.evict_clear else {
            return Ok(());
        };
        f.call(&mut self.store, ()).map_err(|e| self.fault(e))
    }

    pub fn admit(&mut self, hash: u64, size: u32, ttl_ms: u64) -> Result<i32, Fault> {
        self.arm();
        let Some(f) = &self.exports.admit else {
            return Ok(1);
        };
        let args = (
            hash as i64,
            size.min(i32::MAX as u32) as i32,
            ttl_ms.min(i64::MAX as u64) as i64,
        );
        f.call(&mut self.store, args).map_err(|e| self.fault(e))
    }

    /// Key bytes must already be at the start of the scratch buffer.
    pub fn prefetch(&mut self, hash: u64, key_len: usize, hit: bool) -> Result<i32, Fault> {
        self.arm();
        let Some(f) = &self.exports.prefetch else {
            return Ok(0);
        };
        f.call(&mut self.store, (hash as i64, key_len as i32, hit as i32))
            .map_err(|e| self.fault(e))
    }

    /// Key bytes must already be at the start of the scratch buffer.
    pub fn route(&mut self, hash: u64, key_len: usize) -> Result<i64, Fault> {
        self.arm();
        let Some(f) = &self.exports.route else {
            return Ok(abi::ROUTE_WHOLE_KEY);
        };
        f.call(&mut self.store, (hash as i64, key_len as i32))
            .map_err(|e| self.fault(e))
    }
}

/// Ask a descriptor export for its address and check that `len` bytes there lie in the memory.
fn descriptor_address(
    store: &mut Store<HostState>,
    memory: &Memory,
    export: &TypedFunc<(), i32>,
    len: usize,
    what: &str,
) -> Result<usize, Fault> {
    let at = export
        .call(&mut *store, ())
        .map_err(|e| start_fault(store, e))? as u32 as usize;
    if at + len > memory.data_size(&*store) {
        return Err(Fault::Start(format!(
            "{what} descriptor lies outside the memory"
        )));
    }
    Ok(at)
}

/// The `N` little-endian `u32` words of a descriptor at `at` (checked to lie in `data` at start;
/// linear memory never shrinks).
fn descriptor_words<const N: usize>(data: &[u8], at: usize) -> [usize; N] {
    std::array::from_fn(|i| {
        let b = &data[at + 4 * i..at + 4 * i + 4];
        u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize
    })
}

fn start_fault(store: &Store<HostState>, e: wasmtime::Error) -> Fault {
    match classify(store, e) {
        Fault::Trap(m) => Fault::Start(m),
        other => other,
    }
}

fn classify(store: &Store<HostState>, e: wasmtime::Error) -> Fault {
    if store.data().limiter.denied {
        return Fault::OutOfMemory;
    }
    match e.downcast_ref::<Trap>() {
        Some(Trap::Interrupt) => Fault::Deadline,
        Some(trap) => Fault::Trap(trap.to_string()),
        None => Fault::Trap(format!("{e:#}")),
    }
}
