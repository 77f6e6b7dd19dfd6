//! Admin routes for a namespace's compression dictionaries:
//!
//! | route | does |
//! |---|---|
//! | `POST /v1/namespaces/{ns}/compression/dictionary` | train one on the namespace's values; it compresses new writes |
//! | `GET /v1/namespaces/{ns}/compression/dictionary` | the current one and every one values still name |
//! | `DELETE /v1/namespaces/{ns}/compression/dictionary` | new writes compress without one again |
//!
//! Training samples values already stored, so write representative data first. It takes CPU
//! time in proportion to the samples (about a second for 10 000 values), so it runs on the
//! blocking pool. Values written earlier keep the dictionary they were written with and read
//! back as before; see `runtime/src/store/dictionary.rs`.

use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use larder_runtime::store::dictionary::{
    DictionaryError, MAX_DICTIONARY_BYTES, MIN_DICTIONARY_BYTES,
};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::error::{ApiError, ErrorBody};
use super::extract::{NsPath, Query};
use crate::state::AppState;

const ROUTE: &str = "/v1/namespaces/{ns}/compression/dictionary";
const DEFAULT_MAX_BYTES: usize = 16 * 1024;
const DEFAULT_MAX_SAMPLES: usize = 10_000;
const MAX_SAMPLES: usize = 100_000;

/// The dictionary routes, to merge into the API router.
pub fn routes() -> Router<AppState> {
    Router::new().route(
        ROUTE,
        post(train_dictionary)
            .get(get_dictionaries)
            .delete(stop_dictionary),
    )
}

impl From<DictionaryError> for ApiError {
    fn from(err: DictionaryError) -> Self {
        let (status, code) = match &err {
            DictionaryError::TooFewSamples { .. } => (StatusCode::CONFLICT, "too_few_values"),
            DictionaryError::TooMany => (StatusCode::CONFLICT, "too_many_dictionaries"),
            DictionaryError::Training(_) | DictionaryError::NotADictionary => {
                (StatusCode::UNPROCESSABLE_ENTITY, "training_failed")
            }
        };
        ApiError::new(status, code, err.to_string())
    }
}

/// How to train.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct TrainParams {
    /// Largest dictionary to build, in bytes (default 16384). Small values gain most from 8–32 KiB.
    #[param(minimum = 1024, maximum = 1048576)]
    pub max_bytes: Option<usize>,
    /// Most values to learn from (default 10000), taken evenly across the namespace's shards.
    #[param(minimum = 16, maximum = 100000)]
    pub max_samples: Option<usize>,
}

/// One dictionary.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct DictionaryInfo {
    /// zstd's id for it; every value compressed with it names it.
    pub id: u32,
    pub bytes: u64,
    /// It compresses new writes.
    pub current: bool,
}

/// What training produced.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct TrainedDictionary {
    pub dictionary: DictionaryInfo,
    /// How many of the namespace's values it learnt from.
    pub samples: u64,
}

/// A namespace's dictionaries.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct DictionaryList {
    /// The one compressing new writes, if any.
    pub current: Option<u32>,
    /// Every dictionary kept (the current one and older ones stored values still name), by id.
    pub dictionaries: Vec<DictionaryInfo>,
}

fn bad_param(name: &str, range: std::ops::RangeInclusive<usize>) -> ApiError {
    ApiError::bad_request(
        "bad_query",
        format!("{name} must be from {} to {}", range.start(), range.end()),
    )
}

#[utoipa::path(
    post,
    path = "/v1/namespaces/{ns}/compression/dictionary",
    tag = "namespaces",
    params(("ns" = String, Path, description = "Namespace name"), TrainParams),
    responses(
        (status = 201, description = "Trained; new writes are compressed with it", body = TrainedDictionary),
        (status = 400, description = "bad_query", body = ErrorBody),
        (status = 404, description = "namespace_not_found", body = ErrorBody),
        (status = 409, description = "compression_off, too_few_values or too_many_dictionaries", body = ErrorBody),
        (status = 422, description = "training_failed", body = ErrorBody),
    )
)]
pub async fn train_dictionary(
    State(state): State<AppState>,
    ns: NsPath,
    Query(params): Query<TrainParams>,
) -> Result<(StatusCode, Json<TrainedDictionary>), ApiError> {
    let max_bytes = params.max_bytes.unwrap_or(DEFAULT_MAX_BYTES);
    if !(MIN_DICTIONARY_BYTES..=MAX_DICTIONARY_BYTES).contains(&max_bytes) {
        return Err(bad_param(
            "max_bytes",
            MIN_DICTIONARY_BYTES..=MAX_DICTIONARY_BYTES,
        ));
    }
    let max_samples = params.max_samples.unwrap_or(DEFAULT_MAX_SAMPLES);
    if !(16..=MAX_SAMPLES).contains(&max_samples) {
        return Err(bad_param("max_samples", 16..=MAX_SAMPLES));
    }
    let ns = ns.open(&state)?;
    if ns.config().compression.is_none() {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "compression_off",
            "the namespace does not compress values; set `compression` in its config first",
        ));
    }
    let trained =
        tokio::task::spawn_blocking(move || ns.store().train_dictionary(max_bytes, max_samples))
            .await
            .map_err(|e| {
                ApiError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal",
                    format!("training stopped: {e}"),
                )
            })?;
    let (dictionary, samples) = trained?;
    Ok((
        StatusCode::CREATED,
        Json(TrainedDictionary {
            dictionary: DictionaryInfo {
                id: dictionary.id(),
                bytes: dictionary.bytes().len() as u64,
                current: true,
            },
            samples: samples as u64,
        }),
    ))
}

#[utoipa::path(
    get,
    path = "/v1/namespaces/{ns}/compression/dictionary",
    tag = "namespaces",
    params(("ns" = String, Path, description = "Namespace name")),
    responses(
        (status = 200, description = "The namespace's dictionaries", body = DictionaryList),
        (status = 404, description = "namespace_not_found", body = ErrorBody),
    )
)]
pub async fn get_dictionaries(
    State(state): State<AppState>,
    ns: NsPath,
) -> Result<Json<DictionaryList>, ApiError> {
    let dictionaries = ns.open(&state)?.store().dictionaries();
    let current = dictionaries.current_id();
    Ok(Json(DictionaryList {
        current,
        dictionaries: dictionaries
            .retained()
            .iter()
            .map(|d| DictionaryInfo {
                id: d.id(),
                bytes: d.bytes().len() as u64,
                current: current == Some(d.id()),
            })
            .collect(),
    }))
}

#[utoipa::path(
    delete,
    path = "/v1/namespaces/{ns}/compression/dictionary",
    tag = "namespaces",
    params(("ns" = String, Path, description = "Namespace name")),
    responses(
        (status = 204, description = "New writes compress without a dictionary; stored values still read back"),
        (status = 404, description = "namespace_not_found", body = ErrorBody),
    )
)]
pub async fn stop_dictionary(
    State(state): State<AppState>,
    ns: NsPath,
) -> Result<StatusCode, ApiError> {
    ns.open(&state)?.store().clear_current_dictionary();
    Ok(StatusCode::NO_CONTENT)
}
