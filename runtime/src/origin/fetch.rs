//! One origin request: render the URL, wait for a request slot, send, read a bounded body — all
//! under one deadline, so a slow or saturated origin turns into an error, never a hang.

use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use reqwest::StatusCode;
use tokio::sync::Semaphore;

use super::config::{OriginConfig, UrlTemplate};
use super::error::OriginError;
use super::stats::OriginStats;
use crate::store::{Expiry, MAX_KEY_LEN};

/// What one origin config turns into. Replaced as a whole when the namespace's origin changes;
/// fetches already running finish against the config they started with.
pub(crate) struct Fetcher {
    pub(crate) config: OriginConfig,
    template: UrlTemplate,
    /// Request slots; demand fetches and prefetches share them.
    slots: Arc<Semaphore>,
    timeout: Duration,
    /// Expiry of fetched values.
    pub(crate) expiry: Expiry,
}

impl Fetcher {
    pub(crate) fn new(config: OriginConfig) -> Self {
        Self {
            template: UrlTemplate::new(&config.url),
            slots: Arc::new(Semaphore::new(config.concurrency as usize)),
            timeout: Duration::from_millis(config.timeout_ms),
            expiry: match config.ttl_secs {
                Some(secs) => Expiry::AfterMs(secs.saturating_mul(1000)),
                None => Expiry::Default,
            },
            config,
        }
    }

    /// Fetch `key`: `Ok(None)` when the origin says it does not exist. `max_item_size` bounds
    /// key + value, as in the store, so an oversized answer is cut off while it is read.
    pub(crate) async fn fetch(
        &self,
        client: &reqwest::Client,
        stats: &OriginStats,
        key: &[u8],
        max_item_size: u64,
    ) -> Result<Option<Bytes>, OriginError> {
        if key.is_empty() {
            return Err(OriginError::InvalidKey("the key is empty"));
        }
        if key.len() > MAX_KEY_LEN {
            return Err(OriginError::InvalidKey(
                "the key is longer than the store accepts",
            ));
        }
        let url = self.template.render(key).ok_or(OriginError::InvalidKey(
            "'.' and '..' cannot be carried in a URL path",
        ))?;
        let deadline = tokio::time::Instant::now() + self.timeout;
        let timeout_ms = self.config.timeout_ms;
        // Waiting for a slot counts against the same deadline: a saturated origin is a slow one.
        let _slot = match tokio::time::timeout_at(deadline, self.slots.acquire()).await {
            Ok(Ok(slot)) => slot,
            // The semaphore is never closed; treat it like a full one if it ever is.
            Ok(Err(_)) | Err(_) => return Err(OriginError::Timeout { timeout_ms }),
        };
        let max_value = max_item_size.saturating_sub(key.len() as u64);
        stats.requests.fetch_add(1, Relaxed);
        stats.in_flight.fetch_add(1, Relaxed);
        let started = Instant::now();
        let answer =
            tokio::time::timeout_at(deadline, request(client, &url, max_value, max_item_size))
                .await;
        stats.in_flight.fetch_sub(1, Relaxed);
        stats.latency.observe(started.elapsed().as_secs_f64());
        let answer = answer.unwrap_or(Err(OriginError::Timeout { timeout_ms }));
        match &answer {
            Ok(Some(_)) => stats.found.fetch_add(1, Relaxed),
            Ok(None) => stats.not_found.fetch_add(1, Relaxed),
            Err(_) => 0,
        };
        answer
    }

    /// At most this many prefetches run at once: half the slots, so demand misses keep room.
    pub(crate) fn prefetch_workers(&self) -> usize {
        (self.config.concurrency as usize).div_ceil(2)
    }
}

async fn request(
    client: &reqwest::Client,
    url: &str,
    max_value: u64,
    max_item_size: u64,
) -> Result<Option<Bytes>, OriginError> {
    let mut answer = client
        .get(url)
        .send()
        .await
        .map_err(OriginError::from_transport)?;
    match answer.status() {
        StatusCode::NOT_FOUND | StatusCode::GONE => return Ok(None),
        s if s.is_success() => {}
        s => return Err(OriginError::Status { status: s.as_u16() }),
    }
    let too_large = OriginError::TooLarge { max: max_item_size };
    if answer.content_length().is_some_and(|len| len > max_value) {
        return Err(too_large);
    }
    let mut body = BytesMut::with_capacity(answer.content_length().unwrap_or(0) as usize);
    while let Some(chunk) = answer.chunk().await.map_err(OriginError::from_transport)? {
        if (body.len() + chunk.len()) as u64 > max_value {
            return Err(too_large);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(Some(body.freeze()))
}
