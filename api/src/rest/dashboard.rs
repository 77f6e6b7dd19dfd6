//! The dashboard: the web UI built from `web-ui/` and embedded into the binary (rust-embed), served
//! at `/` with its assets under `/assets/`. Nothing is fetched from elsewhere.
//!
//! When the binary was built without the UI (no npm at build time; see `api/build.rs`), `/` serves
//! a plain page that says how to build it instead.

use axum::Router;
use axum::extract::Path;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use rust_embed::Embed;

use super::error::ApiError;

#[derive(Embed)]
#[folder = "../web-ui/dist"]
#[allow_missing = true]
struct Assets;

const NOT_BUILT: &str = r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Larder</title><link rel="icon" href="data:,"></head>
<body style="font-family: sans-serif; max-width: 40em; margin: 3em auto">
<h1>Larder</h1>
<p><strong>Dashboard not built</strong> — run <code>npm install &amp;&amp; npm run build</code> in
<code>web-ui</code>, then rebuild the binary (<code>cargo build</code>).</p>
<p>The API is up: see <a href="/docs">/docs</a>, <a href="/openapi.json">/openapi.json</a>,
<a href="/metrics">/metrics</a> and <a href="/healthz">/healthz</a>.</p>
</body></html>
"#;

/// `/` and `/assets/*`, ready to merge into the application router.
pub fn router<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new()
        .route("/", get(index))
        .route("/assets/{*path}", get(asset))
}

/// Whether the binary carries a built dashboard.
pub fn is_built() -> bool {
    Assets::get("index.html").is_some()
}

async fn index() -> Response {
    match Assets::get("index.html") {
        Some(file) => {
            let mut response = Html(file.data.into_owned()).into_response();
            // The page names hashed assets; it must be re-read after an upgrade.
            response
                .headers_mut()
                .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
            response
        }
        None => Html(NOT_BUILT).into_response(),
    }
}

async fn asset(Path(path): Path<String>) -> Response {
    let Some(file) = Assets::get(&format!("assets/{path}")) else {
        return ApiError::new(
            StatusCode::NOT_FOUND,
            "asset_not_found",
            "no such dashboard asset",
        )
        .into_response();
    };
    let mime = file.metadata.mimetype().to_string();
    let content_type = HeaderValue::from_str(&mime)
        .unwrap_or(HeaderValue::from_static("application/octet-stream"));
    (
        [
            (header::CONTENT_TYPE, content_type),
            // Vite puts a content hash in every asset name, so an asset never changes.
            (
                header::CACHE_CONTROL,
                HeaderValue::from_static("public, max-age=31536000, immutable"),
            ),
        ],
        file.data.into_owned(),
    )
        .into_response()
}
