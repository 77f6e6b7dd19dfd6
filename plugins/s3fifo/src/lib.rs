//! S3-FIFO eviction (Yang et al., SOSP '23): a small FIFO (10 % of the bytes) filters one-hit
//! wonders, a main FIFO with lazy promotion keeps the rest, and a ghost FIFO of recently evicted
//! key fingerprints sends returning keys straight to main. It decides exactly what the built-in
//! `s3fifo` policy decides.
//!
//! The policy itself is [`kit::S3Fifo`], shared with the `adaptive` plugin; this crate serves it
//! as the eviction hook.

use kit::{EvictionHook, S3Fifo};
use larder_sdk::export_plugin;

export_plugin!(EvictionHook<S3Fifo>, [eviction]);
