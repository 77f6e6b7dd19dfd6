//! S3-FIFO eviction (Yang et al., SOSP '23): a small FIFO (10 % of the bytes) filters one-hit
//! wonders, a main FIFO with lazy promotion keeps the rest, and a ghost FIFO of recently evicted
//! key fingerprints sends returning keys straight to main.
//!
//! This crate is the built-in `s3fifo` policy (`larder_policy::S3Fifo`, in `runtime/policy`)
//! compiled to wasm32 and served through the plugin ABI: it decides exactly what the built-in
//! decides.

use kit::EvictionHook;
use kit::policy::S3Fifo;
use larder_sdk::export_plugin;

export_plugin!(EvictionHook<S3Fifo>, [eviction]);
