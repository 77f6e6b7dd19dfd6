//! The OpenAPI document, generated from the route annotations, and the routes that publish it.
//!
//! `openapi/openapi.json` in the repository is this document, checked in; regenerate it with
//! `cargo run -- openapi > openapi/openapi.json` (or `UPDATE_OPENAPI=1 cargo test -p larder --test
//! openapi_drift`). The `openapi_drift` test fails when the two differ.

use std::sync::OnceLock;

use axum::http::header;
use axum::response::IntoResponse;
use utoipa::openapi::content::ContentBuilder;
use utoipa::openapi::{Ref, RefOr, ResponseBuilder};
use utoipa::{Modify, OpenApi};

use super::{
    alerts, api_keys, batch, dictionaries, error, experiments, keys, namespaces, observability,
    plugins, session, tenants,
};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Larder",
        description = "A programmable cache: REST data and admin API. Values are opaque bytes; \
                       errors are `{\"error\": {\"code\", \"message\"}}` with stable codes.",
        license(name = "Apache-2.0"),
    ),
    paths(
        keys::get_key,
        keys::put_key,
        keys::delete_key,
        keys::expire_key,
        keys::persist_key,
        keys::touch_key,
        keys::incr_key,
        keys::evict_key,
        batch::batch_get,
        batch::batch_set,
        batch::batch_delete,
        namespaces::list_namespaces,
        namespaces::create_namespace,
        namespaces::get_namespace,
        namespaces::put_namespace,
        namespaces::delete_namespace,
        namespaces::flush_namespace,
        dictionaries::train_dictionary,
        dictionaries::get_dictionaries,
        dictionaries::stop_dictionary,
        alerts::list_alerts,
        alerts::list_rules,
        alerts::create_rule,
        alerts::delete_rule,
        plugins::upload_plugin,
        plugins::list_plugins,
        plugins::get_plugin,
        experiments::start_experiment,
        experiments::get_experiment,
        experiments::promote_experiment,
        experiments::stop_experiment,
        experiments::start_shadow,
        experiments::get_shadow,
        experiments::stop_shadow,
        api_keys::create_api_key,
        api_keys::list_api_keys,
        api_keys::get_api_key,
        api_keys::revoke_api_key,
        api_keys::reload_tls,
        session::login,
        session::current_session,
        session::logout,
        tenants::create_tenant,
        tenants::list_tenants,
        tenants::get_tenant,
        tenants::put_tenant,
        tenants::delete_tenant,
        observability::healthz,
        observability::node,
        observability::metrics,
        openapi_json,
    ),
    components(schemas(error::ErrorBody, error::ErrorDetail)),
    modifiers(&NotDurable, &BearerAuth),
    tags(
        (name = "keys", description = "Data: values by key, TTLs, counters, batches"),
        (name = "namespaces", description = "Admin: namespace configuration and live statistics"),
        (name = "alerts", description = "Admin: alert rules, firing and recent alerts, notifier status"),
        (name = "plugins", description = "Admin: WebAssembly policy plugins (upload, list, describe)"),
        (name = "experiments", description = "Admin: A/B experiments and shadow evaluation"),
        (name = "security", description = "Admin: API keys and TLS certificate reload"),
        (name = "tenants", description = "Operator: tenants, their quotas and usage"),
        (name = "operations", description = "Health, metrics and this document"),
    )
)]
pub struct ApiDoc;

/// Lists the `503 not_durable` answer on every admin write route (the rule is
/// [`crate::persistence::is_admin_path`], the one the catalog middleware applies): the change is
/// live but the node could not write its catalog.
struct NotDurable;

impl Modify for NotDurable {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        for (path, item) in openapi.paths.paths.iter_mut() {
            if !crate::persistence::is_admin_path(path) {
                continue;
            }
            let writes = [
                &mut item.post,
                &mut item.put,
                &mut item.patch,
                &mut item.delete,
            ];
            for operation in writes.into_iter().flatten() {
                let response = ResponseBuilder::new()
                    .description(
                        "`not_durable`: the change is live, but this node could not write it to \
                         its data directory (disk full, permissions); it may be lost on restart",
                    )
                    .content(
                        "application/json",
                        ContentBuilder::new()
                            .schema(Some(Ref::from_schema_name("ErrorBody")))
                            .build(),
                    )
                    .build();
                operation
                    .responses
                    .responses
                    .insert("503".to_string(), RefOr::T(response));
            }
        }
    }
}

/// Declares the bearer scheme (the operator key or an API key) and, on every operation that
/// needs a credential when authentication is on ([`super::auth::required_scope`], the rule the
/// middleware applies), the requirement and its `401` / `403` answers. A node without an
/// operator key serves openly and never gives them.
struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{
            HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme,
        };
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "The operator key, an API key (`lk_<id>_<secret>`) or, with `[oidc]`, a \
                         JWT of the configured identity provider, when the node has an operator \
                         key; a node without one serves openly, on loopback only",
                    ))
                    .build(),
            ),
        );
        let error = |description: &str| {
            RefOr::T(
                ResponseBuilder::new()
                    .description(description)
                    .content(
                        "application/json",
                        ContentBuilder::new()
                            .schema(Some(Ref::from_schema_name("ErrorBody")))
                            .build(),
                    )
                    .build(),
            )
        };
        for (path, item) in openapi.paths.paths.iter_mut() {
            let methods = [
                (axum::http::Method::GET, &mut item.get),
                (axum::http::Method::POST, &mut item.post),
                (axum::http::Method::PUT, &mut item.put),
                (axum::http::Method::PATCH, &mut item.patch),
                (axum::http::Method::DELETE, &mut item.delete),
            ];
            for (method, operation) in methods {
                let Some(operation) = operation else { continue };
                let Some(scope) = super::auth::required_scope(&method, path) else {
                    // Public: say so explicitly, so no client sends a key it does not need.
                    operation.security = Some(vec![SecurityRequirement::default()]);
                    continue;
                };
                operation.security =
                    Some(vec![SecurityRequirement::new::<_, _, &str>("bearer", [])]);
                operation.responses.responses.insert(
                    "401".to_string(),
                    error(
                        "`credentials_required` or `invalid_credentials` (authentication on): \
                         no bearer token, or not a valid key",
                    ),
                );
                operation.responses.responses.insert(
                    "429".to_string(),
                    error(
                        "`rate_limited` (authentication on): the key is over its rate limit; \
                         `Retry-After` says when to try again",
                    ),
                );
                operation.responses.responses.insert(
                    "403".to_string(),
                    error(&format!(
                        "`insufficient_scope` (authentication on): this operation needs the \
                         `{}` scope",
                        scope.as_str()
                    )),
                );
            }
        }
    }
}

/// The document as pretty JSON with a trailing newline: exactly the checked-in file's bytes.
pub fn document_json() -> String {
    let mut json = ApiDoc::openapi()
        .to_pretty_json()
        .unwrap_or_else(|e| unreachable!("a generated OpenAPI document serialises: {e}"));
    json.push('\n');
    json
}

fn cached_document() -> &'static str {
    static DOCUMENT: OnceLock<String> = OnceLock::new();
    DOCUMENT.get_or_init(document_json)
}

#[utoipa::path(
    get,
    path = "/openapi.json",
    tag = "operations",
    responses((status = 200, description = "This OpenAPI document", content_type = "application/json", body = Object))
)]
pub async fn openapi_json() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "application/json")],
        cached_document(),
    )
}
