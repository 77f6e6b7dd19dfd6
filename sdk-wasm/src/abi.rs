//! The ABI's constants (see the crate docs for the full specification). They are defined once, in
//! the `larder-abi` crate, which the host builds its checks from too.

pub use larder_abi::*;
