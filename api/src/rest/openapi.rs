//! The OpenAPI document, generated from the route annotations, and the routes that publish it.
//!
//! `openapi/openapi.json` in the repository is this document, checked in; regenerate it with
//! `cargo run -- openapi > openapi/openapi.json` (or `UPDATE_OPENAPI=1 cargo test -p larder --test
//! openapi_drift`). The `openapi_drift` test fails when the two differ.

use std::sync::OnceLock;

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use utoipa::openapi::content::ContentBuilder;
use utoipa::openapi::link::LinkBuilder;
use utoipa::openapi::{Ref, RefOr, ResponseBuilder};
use utoipa::{Modify, OpenApi};

use super::{
    alerts, api_keys, batch, cluster, dictionaries, error, experiments, keys, namespaces,
    observability, openapi_constraints, plugins, session, tenants, users,
};
use crate::state::AppState;
use openapi_constraints::Constraints;

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
        users::list_users,
        users::get_user,
        users::put_user,
        users::delete_user,
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
        cluster::get_cluster,
        cluster::rebalance,
        cluster::drain_member,
        observability::metrics,
        openapi_json,
    ),
    components(schemas(error::ErrorBody, error::ErrorDetail)),
    modifiers(&NotDurable, &BearerAuth, &Constraints, &Links),
    tags(
        (name = "keys", description = "Data: values by key, TTLs, counters, batches"),
        (name = "namespaces", description = "Admin: namespace configuration and live statistics"),
        (name = "alerts", description = "Admin: alert rules, firing and recent alerts, notifier status (a tenant: its own rules and their webhooks)"),
        (name = "plugins", description = "Admin: WebAssembly policy plugins (upload, list, describe)"),
        (name = "experiments", description = "Admin: A/B experiments and shadow evaluation"),
        (name = "security", description = "Admin: API keys, users with passwords and TLS certificate reload"),
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
                let not_durable = "`not_durable`: the change is live, but this node could not \
                                   write it to its data directory (disk full, permissions); it \
                                   may be lost on restart";
                // A route with a 503 of its own (a cluster commit) keeps it beside this one.
                let mut description = match operation.responses.responses.get("503") {
                    Some(RefOr::T(own)) => format!("{}; or {not_durable}", own.description),
                    _ => not_durable.to_string(),
                };
                if crate::cluster_records::changes_records(path)
                    && !description.contains("cluster_unavailable")
                {
                    description = format!(
                        "`cluster_unavailable`: a cluster member could not get the change \
                         committed by a quorum in time; it is undone on this member; or \
                         {description}"
                    );
                }
                let response = ResponseBuilder::new()
                    .description(description)
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

/// The operations on a namespace that exists: each takes its `ns` path parameter. (Reading or
/// stopping an experiment or a shadow evaluation needs one started: see [`Links`].)
const NAMESPACE_OPERATIONS: &[&str] = &[
    "get_namespace",
    "put_namespace",
    "delete_namespace",
    "flush_namespace",
    "batch_get",
    "batch_set",
    "batch_delete",
    "train_dictionary",
    "get_dictionaries",
    "stop_dictionary",
    "start_experiment",
    "start_shadow",
];

/// The operations on one key: each takes `ns` and `key`.
const KEY_OPERATIONS: &[&str] = &[
    "get_key",
    "put_key",
    "delete_key",
    "expire_key",
    "persist_key",
    "touch_key",
    "incr_key",
    "evict_key",
];

/// OpenAPI links: from the answer that creates a resource to the operations that use it, with
/// where each of their parameters comes from, so a client (or a stateful test) can follow them.
///
/// | from | to | parameters |
/// |---|---|---|
/// | `POST /v1/namespaces` 201, `PUT /v1/namespaces/{ns}` 200/201 | every namespace operation, and `PUT` of a key in it | `ns` = the answer's `name` |
/// | `PUT …/keys/{key}` 204, `POST …/incr` 200 | every operation on that key | `ns`, `key` = the request's |
/// | `PUT …/experiment` 200 | `GET`, `DELETE …/experiment`, `POST …/experiment/promote` | `ns` = the request's |
/// | `PUT …/shadow` 200 | `GET`, `DELETE …/shadow` | `ns` = the request's |
/// | `POST /v1/alerts/rules` 201 | `DELETE /v1/alerts/rules/{name}` | `name` = the answer's |
/// | `POST /v1/api-keys` 201 | `GET`/`DELETE /v1/api-keys/{id}` | `id` = the answer's |
/// | `POST /v1/tenants` 201 | `GET`/`PUT`/`DELETE /v1/tenants/{name}` | `name` = the answer's |
/// | `POST /v1/plugins` 200/201 | `GET /v1/plugins/{id}` | `id` = the answer's |
struct Links;

impl Modify for Links {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let from_name = |targets: &[&str]| -> Vec<(String, serde_json::Value)> {
            targets
                .iter()
                .map(|t| {
                    (
                        t.to_string(),
                        serde_json::json!({"ns": "$response.body#/name"}),
                    )
                })
                .collect()
        };
        let namespace_links = from_name(NAMESPACE_OPERATIONS);
        let key_links: Vec<(String, serde_json::Value)> = KEY_OPERATIONS
            .iter()
            .map(|t| {
                (
                    t.to_string(),
                    serde_json::json!({"ns": "$request.path.ns", "key": "$request.path.key"}),
                )
            })
            .collect();
        let same_namespace = |targets: &[&str]| -> Vec<(String, serde_json::Value)> {
            targets
                .iter()
                .map(|t| (t.to_string(), serde_json::json!({"ns": "$request.path.ns"})))
                .collect()
        };
        let one = |target: &str, parameter: &str, field: &str| {
            (
                target.to_string(),
                serde_json::json!({ parameter: format!("$response.body#/{field}") }),
            )
        };
        // (path, method, statuses, links to add to those responses)
        type Links = Vec<(String, serde_json::Value)>;
        let plan: Vec<(&str, &str, &[&str], Links)> = vec![
            ("/v1/namespaces", "post", &["201"], namespace_links.clone()),
            (
                "/v1/namespaces/{ns}",
                "put",
                &["200", "201"],
                namespace_links,
            ),
            (
                "/v1/namespaces/{ns}/keys/{key}",
                "put",
                &["204"],
                key_links.clone(),
            ),
            (
                "/v1/namespaces/{ns}/keys/{key}/incr",
                "post",
                &["200"],
                key_links,
            ),
            (
                "/v1/namespaces/{ns}/experiment",
                "put",
                &["200"],
                same_namespace(&["get_experiment", "promote_experiment", "stop_experiment"]),
            ),
            (
                "/v1/namespaces/{ns}/shadow",
                "put",
                &["200"],
                same_namespace(&["get_shadow", "stop_shadow"]),
            ),
            (
                "/v1/alerts/rules",
                "post",
                &["201"],
                vec![one("delete_rule", "name", "name")],
            ),
            (
                "/v1/api-keys",
                "post",
                &["201"],
                vec![
                    one("get_api_key", "id", "id"),
                    one("revoke_api_key", "id", "id"),
                ],
            ),
            (
                "/v1/tenants",
                "post",
                &["201"],
                vec![
                    one("get_tenant", "name", "name"),
                    one("put_tenant", "name", "name"),
                    one("delete_tenant", "name", "name"),
                ],
            ),
            (
                "/v1/plugins",
                "post",
                &["200", "201"],
                vec![one("get_plugin", "id", "id")],
            ),
        ];
        for (path, method, statuses, links) in plan {
            let item = openapi
                .paths
                .paths
                .get_mut(path)
                .unwrap_or_else(|| panic!("no path {path} to link from"));
            let operation = match method {
                "post" => item.post.as_mut(),
                "put" => item.put.as_mut(),
                _ => None,
            }
            .unwrap_or_else(|| panic!("no {method} {path} to link from"));
            for status in statuses {
                let Some(RefOr::T(response)) = operation.responses.responses.get_mut(*status)
                else {
                    panic!("{method} {path} has no {status} answer to link from");
                };
                for (target, parameters) in &links {
                    let mut link = LinkBuilder::new().operation_id(target.as_str());
                    for (name, value) in parameters.as_object().into_iter().flatten() {
                        link = link.parameter(name.as_str(), value.clone());
                    }
                    response
                        .links
                        .insert(target.clone(), RefOr::T(link.build()));
                }
            }
        }
    }
}

/// The document a node without authentication serves: it asks no credential anywhere, so no
/// operation lists the bearer requirement or the answers only authentication gives.
fn open_node(openapi: &mut utoipa::openapi::OpenApi) {
    use utoipa::openapi::security::SecurityRequirement;
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
            if super::auth::required_scope(&method, path).is_none() {
                continue;
            }
            operation.security = Some(vec![SecurityRequirement::default()]);
            for status in ["401", "403", "429"] {
                operation.responses.responses.remove(status);
            }
        }
    }
}

/// The document as pretty JSON with a trailing newline: exactly the checked-in file's bytes.
pub fn document_json() -> String {
    pretty(&ApiDoc::openapi())
}

/// The document as a node without authentication serves it at `/openapi.json`: no credential is
/// asked for (see [`open_node`]). The checked-in file is [`document_json`], the authenticated
/// node's.
pub fn open_document_json() -> String {
    let mut openapi = ApiDoc::openapi();
    open_node(&mut openapi);
    pretty(&openapi)
}

fn pretty(openapi: &utoipa::openapi::OpenApi) -> String {
    let json = openapi
        .to_pretty_json()
        .unwrap_or_else(|e| unreachable!("a generated OpenAPI document serialises: {e}"));
    // utoipa 5 writes a Link object's fields in snake case; the specification's names are
    // camelCase. No other object of the document has a field of that name.
    let mut json = json.replace("\"operation_id\": ", "\"operationId\": ");
    json.push('\n');
    json
}

fn cached_document(authentication: bool) -> &'static str {
    static DOCUMENT: OnceLock<String> = OnceLock::new();
    static OPEN: OnceLock<String> = OnceLock::new();
    if authentication {
        DOCUMENT.get_or_init(document_json)
    } else {
        OPEN.get_or_init(open_document_json)
    }
}

#[utoipa::path(
    get,
    path = "/openapi.json",
    tag = "operations",
    responses((status = 200, description = "This OpenAPI document: on a node without authentication, without the bearer requirement", content_type = "application/json", body = Object))
)]
pub async fn openapi_json(State(state): State<AppState>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "application/json")],
        cached_document(state.auth.is_some()),
    )
}
