//! The limits the server enforces, stated in the OpenAPI document.
//!
//! Many request types are defined in the runtime crate, whose derived schemas carry the shape but
//! not the rules its validators apply (name patterns, integer ranges, TTL bounds, list sizes). This
//! modifier adds those rules to the document, next to the path parameters every namespace and key
//! route shares, so a client (or a generator of test requests) knows exactly which requests are
//! accepted. The tests below check each stated boundary against the validator that enforces it.
//!
//! Rules between fields that JSON Schema cannot state (a namespace's capacity must hold one
//! max-size item per shard, an experiment's weights must divide its shards, `ttl` excludes
//! `ttl_ms`, references must name a plugin, namespace or tenant that exists) are in the field
//! descriptions instead.

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use utoipa::Modify;
use utoipa::openapi::path::Operation;
use utoipa::openapi::schema::Schema;
use utoipa::openapi::{OpenApi, RefOr};

use larder_runtime::BuiltinPolicy;
use larder_runtime::plugin::context::{MAX_TAG_NAME, MAX_TAG_VALUE, MAX_TAGS};
use larder_runtime::store::MAX_KEY_LEN;
use larder_runtime::tenant::{MAX_TENANT_NAME_LEN, TenantQuotas};

/// Namespace names: `runtime::namespace::check_name` (tested below).
const NAME_LEN: usize = 64;
/// The largest TTL in seconds: its milliseconds must fit 64 bits.
pub const MAX_TTL_SECS: u64 = u64::MAX / 1000;
/// A week, the longest alert window and cool-down (`runtime::alert::rule`).
const MAX_ALERT_WINDOW_SECS: u64 = 7 * 24 * 3600;

/// `[A-Za-z0-9_.-]`, 1 to `max` characters: names of namespaces, rules, arms, candidates.
fn simple_name(max: usize) -> String {
    format!("^[A-Za-z0-9_.-]{{1,{max}}}$")
}

/// A namespace name as the operator writes it: optionally `<tenant>/` before the name.
pub fn namespace_pattern() -> String {
    format!("^([a-z0-9_-]{{1,{MAX_TENANT_NAME_LEN}}}/)?[A-Za-z0-9_.-]{{1,{NAME_LEN}}}$")
}

/// `plugin:` then a version id in hex (spaces around the id are ignored).
const PLUGIN_REF: &str = "^plugin:\\s*[0-9A-Fa-f]+\\s*$";

/// An eviction policy reference: a built-in's name in any case, or a plugin version.
fn eviction_pattern() -> String {
    let builtins: Vec<String> = BuiltinPolicy::ALL
        .iter()
        .map(|p| {
            p.as_str()
                .chars()
                .map(|c| {
                    if c.is_ascii_alphabetic() {
                        format!("[{}{}]", c.to_ascii_lowercase(), c.to_ascii_uppercase())
                    } else {
                        c.to_string()
                    }
                })
                .collect()
        })
        .collect();
    format!("^({})$|{PLUGIN_REF}", builtins.join("|"))
}

/// A built-in policy, exactly as named (the fallback fields take no other spelling).
fn builtin_names(nullable: bool) -> Value {
    let mut names: Vec<Value> = BuiltinPolicy::ALL
        .iter()
        .map(|p| json!(p.as_str()))
        .collect();
    if nullable {
        names.push(Value::Null);
    }
    Value::Array(names)
}

/// `X-Larder-Tags`: `name=value` pairs split by `,` or `;`, empty parts ignored.
fn tags_pattern() -> String {
    let pair = format!(
        "[A-Za-z0-9_.-]{{1,{MAX_TAG_NAME}}}[ \\t]*=[ \\t]*[\\x20-\\x2b\\x2d-\\x3a\\x3c-\\x7e]{{0,{MAX_TAG_VALUE}}}"
    );
    format!(
        "^[,; \\t]*({pair}([ \\t]*[,;][,; \\t]*{pair}){{0,{}}})?[,; \\t]*$",
        MAX_TAGS - 1
    )
}

/// Per schema, per property: the keywords to add.
fn property_rules() -> Vec<(&'static str, &'static str, Value)> {
    let eviction = eviction_pattern();
    let rate = TenantQuotas::MAX_RATE;
    vec![
        // Namespaces (runtime::namespace::NamespaceConfig::validate and its origin, compression).
        (
            "CreateNamespace",
            "name",
            json!({"pattern": namespace_pattern()}),
        ),
        ("NamespaceConfig", "capacity_bytes", json!({"minimum": 1})),
        ("NamespaceConfig", "max_item_size", json!({"minimum": 1})),
        (
            "NamespaceConfig",
            "default_ttl_secs",
            json!({"maximum": MAX_TTL_SECS}),
        ),
        (
            "NamespaceConfig",
            "shards",
            json!({"enum": [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, null]}),
        ),
        ("NamespaceConfig", "eviction", json!({"pattern": eviction})),
        (
            "NamespaceConfig",
            "eviction_fallback",
            json!({"enum": builtin_names(true)}),
        ),
        (
            "NamespaceConfig",
            "admission",
            json!({"pattern": PLUGIN_REF}),
        ),
        (
            "NamespaceConfig",
            "prefetch",
            json!({"pattern": PLUGIN_REF}),
        ),
        ("NamespaceConfig", "routing", json!({"pattern": PLUGIN_REF})),
        (
            "OriginConfig",
            "url",
            json!({"pattern": "^[Hh][Tt][Tt][Pp][Ss]?://[A-Za-z0-9._~-]+(:[0-9]{1,5})?(/[A-Za-z0-9._~%!$&'()*+,;=:@/?-]*)?\\{key\\}[A-Za-z0-9._~%!$&'()*+,;=:@/?{}-]*$"}),
        ),
        (
            "OriginConfig",
            "timeout_ms",
            json!({"minimum": 1, "maximum": 60_000}),
        ),
        (
            "OriginConfig",
            "concurrency",
            json!({"minimum": 1, "maximum": 1024}),
        ),
        (
            "OriginConfig",
            "ttl_secs",
            json!({"minimum": 1, "maximum": MAX_TTL_SECS}),
        ),
        (
            "OriginConfig",
            "prefetch_queue",
            json!({"minimum": 1, "maximum": 1 << 20}),
        ),
        (
            "CompressionConfig",
            "level",
            json!({"minimum": 1, "maximum": 19}),
        ),
        (
            "CompressionConfig",
            "min_bytes",
            json!({"maximum": u32::MAX}),
        ),
        (
            "CompressionConfig",
            "min_savings",
            // Below 1: the largest decimal the JSON reader takes for less than 1.
            json!({"minimum": 0, "maximum": 0.9999999999999998}),
        ),
        // Alerts (runtime::alert::rule::AlertRule::validate).
        ("AlertRule", "name", json!({"pattern": simple_name(64)})),
        ("AlertRule", "namespace", json!({"minLength": 1})),
        (
            "AlertRule",
            "window_secs",
            json!({"minimum": 1, "maximum": MAX_ALERT_WINDOW_SECS}),
        ),
        (
            "AlertRule",
            "cooldown_secs",
            json!({"maximum": MAX_ALERT_WINDOW_SECS}),
        ),
        // Experiments and shadows (runtime::experiment).
        (
            "ExperimentSpec",
            "arms",
            json!({"minItems": 2, "maxItems": 16}),
        ),
        ("ArmSpec", "name", json!({"pattern": simple_name(64)})),
        (
            "ArmSpec",
            "eviction",
            json!({"pattern": eviction_pattern()}),
        ),
        (
            "ArmSpec",
            "eviction_fallback",
            json!({"enum": builtin_names(true)}),
        ),
        (
            "ArmSpec",
            "admission",
            json!({"pattern": PLUGIN_REF, "example": "plugin:3f2a9c01"}),
        ),
        (
            "ArmSpec",
            "weight",
            json!({"minimum": 1, "maximum": u32::MAX}),
        ),
        (
            "ShadowSpec",
            "candidates",
            json!({"minItems": 1, "maxItems": 8}),
        ),
        (
            "ShadowSpec",
            "sample_rate",
            json!({"exclusiveMinimum": 0, "maximum": 1}),
        ),
        ("CandidateSpec", "name", json!({"pattern": simple_name(64)})),
        (
            "CandidateSpec",
            "eviction",
            json!({"pattern": eviction_pattern()}),
        ),
        (
            "CandidateSpec",
            "eviction_fallback",
            json!({"enum": builtin_names(true)}),
        ),
        // Tenants (runtime::tenant::TenantQuotas::validate).
        ("TenantQuotas", "max_namespaces", json!({"minimum": 1})),
        ("TenantQuotas", "max_capacity_bytes", json!({"minimum": 1})),
        ("TenantQuotas", "max_connections", json!({"minimum": 1})),
        ("TenantQuotas", "max_api_keys", json!({"minimum": 0})),
        ("TenantQuotas", "max_users", json!({"minimum": 0})),
        (
            "TenantQuotas",
            "ops_per_second",
            json!({"minimum": 1, "maximum": rate}),
        ),
        (
            "TenantQuotas",
            "ops_burst",
            json!({"minimum": 1, "maximum": rate}),
        ),
        // Batches (rest::batch).
        (
            "BatchKeys",
            "keys",
            json!({"maxItems": super::batch::MAX_BATCH_ITEMS}),
        ),
        (
            "BatchSetRequest",
            "items",
            json!({"maxItems": super::batch::MAX_BATCH_ITEMS}),
        ),
        (
            "BatchSetItem",
            "ttl",
            json!({"minimum": 1, "maximum": MAX_TTL_SECS}),
        ),
        (
            "BatchSetItem",
            "ttl_ms",
            json!({"minimum": 1, "maximum": u64::MAX}),
        ),
    ]
}

/// Keywords inside a schema that are not one of its properties: `(schema, JSON pointer, rule)`.
fn nested_rules() -> Vec<(&'static str, &'static str, Value)> {
    let ratio = json!({"minimum": 0, "maximum": 1});
    vec![
        // hit_ratio_below's threshold and memory_above's share are ratios (AlertRule::validate).
        (
            "AlertCondition",
            "/oneOf/0/properties/threshold",
            ratio.clone(),
        ),
        ("AlertCondition", "/oneOf/1/properties/share", ratio),
        // The variants take no other fields (`deny_unknown_fields` on the enum).
        (
            "AlertCondition",
            "/oneOf/0",
            json!({"additionalProperties": false}),
        ),
        (
            "AlertCondition",
            "/oneOf/1",
            json!({"additionalProperties": false}),
        ),
        (
            "AlertCondition",
            "/oneOf/2",
            json!({"additionalProperties": false}),
        ),
        (
            "AlertCondition",
            "/oneOf/3",
            json!({"additionalProperties": false}),
        ),
        // A key is never empty (in base64 too: the text must decode to at least one byte).
        (
            "BatchKeys",
            "/properties/keys/items",
            json!({"minLength": 1}),
        ),
        ("BatchSetItem", "/properties/key", json!({"minLength": 1})),
        // Passwords (rest::users): characters, which always fit the byte limit.
        (
            "PutUser",
            "/properties/passwords/items",
            json!({"minLength": 1, "maxLength": crate::auth::users::MAX_PASSWORD_CHARS}),
        ),
        (
            "PutUser",
            "/properties/add_passwords/items",
            json!({"minLength": 1, "maxLength": crate::auth::users::MAX_PASSWORD_CHARS}),
        ),
    ]
}

/// Path and header parameters shared by many routes, by name.
fn parameter_rule(name: &str) -> Option<Value> {
    Some(match name {
        "ns" => json!({"pattern": namespace_pattern()}),
        "key" => json!({"minLength": 1, "maxLength": MAX_KEY_LEN}),
        // An absent header is how a request has no tags: the value itself is never null.
        "x-larder-tags" => json!({"type": "string", "pattern": tags_pattern()}),
        _ => return None,
    })
}

/// Adds the server's limits to the document (see the module docs).
pub struct Constraints;

impl Modify for Constraints {
    fn modify(&self, openapi: &mut OpenApi) {
        let components = openapi
            .components
            .as_mut()
            .expect("the document has components");
        for schema in components.schemas.values_mut() {
            *schema = unsigned_bounds(schema);
        }
        for (schema, property, rule) in property_rules() {
            let Some(RefOr::T(Schema::Object(object))) = components.schemas.get_mut(schema) else {
                panic!("no object schema {schema} to constrain");
            };
            let Some(target) = object.properties.get_mut(property) else {
                panic!("{schema} has no property {property}");
            };
            *target = with_rule(target, &rule, &format!("{schema}.{property}"));
        }
        for (schema, pointer, rule) in nested_rules() {
            let Some(target) = components.schemas.get_mut(schema) else {
                panic!("no schema {schema} to constrain");
            };
            let mut json = serde_json::to_value(&*target).expect("a schema serialises");
            let Some(Value::Object(at)) = json.pointer_mut(pointer) else {
                panic!("{schema} has nothing at {pointer}");
            };
            for (k, v) in rule.as_object().into_iter().flatten() {
                at.insert(k.clone(), v.clone());
            }
            *target = with_rule(target, &json, schema);
        }
        for item in openapi.paths.paths.values_mut() {
            let operations = [
                &mut item.get,
                &mut item.put,
                &mut item.post,
                &mut item.delete,
                &mut item.patch,
            ];
            for operation in operations.into_iter().flatten() {
                constrain_parameters(operation);
            }
        }
    }
}

fn constrain_parameters(operation: &mut Operation) {
    for parameter in operation.parameters.iter_mut().flatten() {
        let Some(schema) = parameter.schema.as_mut() else {
            continue;
        };
        *schema = unsigned_bounds(schema);
        if let Some(rule) = parameter_rule(&parameter.name) {
            *schema = with_rule(schema, &rule, &parameter.name);
        }
        // The namespace every node has: an example any tool can use as it is.
        if parameter.name == "ns" {
            *parameter = with_rule(parameter, &json!({"example": "default"}), "ns");
        }
    }
}

/// Unsigned integers as what they are: the derived schemas write a `u64` as `int64` with
/// `minimum: 0`, whose format bounds it at 2^63 - 1, but the server takes every `u64` (and every
/// `u32` for `int32`). Explicit maximums set later by a rule take precedence.
fn unsigned_bounds<T: Serialize + DeserializeOwned>(schema: &T) -> T {
    fn walk(value: &mut Value) {
        match value {
            Value::Object(map) => {
                let unsigned = map
                    .get("minimum")
                    .and_then(Value::as_f64)
                    .is_some_and(|m| m >= 0.0);
                let format = map.get("format").and_then(Value::as_str);
                let widened = match format {
                    Some("int64") if unsigned => Some(("uint64", json!(u64::MAX))),
                    Some("int32") if unsigned => Some(("uint32", json!(u32::MAX))),
                    _ => None,
                };
                if let Some((format, max)) = widened {
                    map.insert("format".into(), json!(format));
                    map.entry("maximum").or_insert(max);
                }
                map.values_mut().for_each(walk);
            }
            Value::Array(items) => items.iter_mut().for_each(walk),
            _ => {}
        }
    }
    let mut json = serde_json::to_value(schema).expect("a schema serialises");
    walk(&mut json);
    let out: T = serde_json::from_value(json.clone()).expect("widened schemas still fit the model");
    assert_eq!(
        serde_json::to_value(&out).expect("a schema serialises"),
        json,
        "the document model dropped part of a widened schema"
    );
    out
}

/// `value` with `rule`'s keywords merged in. Panics if the document model drops one, so a rule
/// can never silently fail to appear.
fn with_rule<T: Serialize + DeserializeOwned>(value: &T, rule: &Value, what: &str) -> T {
    let mut json = serde_json::to_value(value).expect("a schema serialises");
    let (Value::Object(target), Value::Object(rule)) = (&mut json, rule) else {
        panic!("{what}: not an object schema");
    };
    for (k, v) in rule {
        target.insert(k.clone(), v.clone());
    }
    let out: T = serde_json::from_value(json.clone())
        .unwrap_or_else(|e| panic!("{what}: the rule does not fit the schema model: {e}"));
    let back = serde_json::to_value(&out).expect("a schema serialises");
    for (k, v) in rule {
        assert_eq!(
            back.get(k),
            Some(v),
            "{what}: the document model dropped {k}"
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use larder_runtime::NamespaceConfig;
    use larder_runtime::namespace::check_name;
    use larder_runtime::origin::OriginConfig;
    use larder_runtime::store::compression::CompressionConfig;

    #[test]
    fn namespace_names_match_check_name() {
        let long = "n".repeat(NAME_LEN);
        let too_long = "n".repeat(NAME_LEN + 1);
        let tenant = format!("{}/x", "t".repeat(MAX_TENANT_NAME_LEN));
        for name in [
            "a",
            "A.b-c_9",
            ".",
            long.as_str(),
            "acme/carts",
            tenant.as_str(),
        ] {
            assert!(check_name(name).is_ok(), "{name}");
        }
        let long_tenant = format!("{}/x", "t".repeat(MAX_TENANT_NAME_LEN + 1));
        for name in [
            "",
            "a b",
            "a/b/c",
            "Acme/x",
            "/x",
            "é",
            too_long.as_str(),
            long_tenant.as_str(),
        ] {
            assert!(check_name(name).is_err(), "{name}");
        }
    }

    #[test]
    fn eviction_references_match_the_parser() {
        for text in [
            "lru",
            "LRU",
            "S3Fifo",
            "adaptive",
            "plugin:ab12",
            "plugin: AB12 ",
        ] {
            assert!(text.parse::<larder_runtime::PolicyRef>().is_ok(), "{text}");
        }
        for text in ["", "mru", "plugin:", "plugin:xyz", "PLUGIN:ab", "lru "] {
            assert!(text.parse::<larder_runtime::PolicyRef>().is_err(), "{text}");
        }
    }

    #[test]
    fn tags_match_the_header_parser() {
        use larder_runtime::plugin::RequestTags;
        let many: Vec<String> = (0..MAX_TAGS).map(|i| format!("t{i}=v")).collect();
        let too_many: Vec<String> = (0..=MAX_TAGS).map(|i| format!("t{i}=v")).collect();
        let long_value = format!("a={}", "v".repeat(MAX_TAG_VALUE));
        for text in [
            "",
            ",",
            "device=mobile, region=eu",
            "a=;b=c",
            " a = b ",
            long_value.as_str(),
            &many.join(","),
        ] {
            assert!(RequestTags::parse(text).is_ok(), "{text}");
        }
        let too_long = format!("a={}", "v".repeat(MAX_TAG_VALUE + 1));
        for text in [
            "null",
            "a",
            "=b",
            "a b=c",
            too_long.as_str(),
            &too_many.join(","),
        ] {
            assert!(RequestTags::parse(text).is_err(), "{text}");
        }
    }

    #[test]
    fn namespace_config_bounds_match_validate() {
        let ok = |c: NamespaceConfig| c.validate().is_ok();
        let base = NamespaceConfig::default();
        assert!(!ok(NamespaceConfig {
            capacity_bytes: 0,
            max_item_size: Some(1),
            shards: Some(1),
            ..base.clone()
        }));
        for n in [1, 2, 1024] {
            assert!(ok(NamespaceConfig {
                shards: Some(n),
                max_item_size: Some(1),
                ..base.clone()
            }));
        }
        for n in [0, 3, 2048] {
            assert!(!ok(NamespaceConfig {
                shards: Some(n),
                max_item_size: Some(1),
                ..base.clone()
            }));
        }
        assert!(!ok(NamespaceConfig {
            max_item_size: Some(0),
            ..base.clone()
        }));
        assert!(ok(NamespaceConfig {
            default_ttl_secs: MAX_TTL_SECS,
            ..base.clone()
        }));
        assert!(!ok(NamespaceConfig {
            default_ttl_secs: MAX_TTL_SECS + 1,
            ..base.clone()
        }));
        let compression = |level, min_savings| NamespaceConfig {
            compression: Some(CompressionConfig {
                level,
                min_savings,
                ..Default::default()
            }),
            ..base.clone()
        };
        assert!(ok(compression(1, 0.0)) && ok(compression(19, 0.99)));
        assert!(!ok(compression(0, 0.1)) && !ok(compression(20, 0.1)));
        assert!(!ok(compression(3, 1.0)) && !ok(compression(3, -0.01)));
        let origin = |f: fn(&mut OriginConfig)| {
            let mut o = OriginConfig::new("http://127.0.0.1:9/items/{key}");
            f(&mut o);
            ok(NamespaceConfig {
                origin: Some(o),
                ..base.clone()
            })
        };
        assert!(origin(|_| {}));
        assert!(origin(|o| o.timeout_ms = 60_000) && !origin(|o| o.timeout_ms = 60_001));
        assert!(!origin(|o| o.timeout_ms = 0));
        assert!(origin(|o| o.concurrency = 1024) && !origin(|o| o.concurrency = 1025));
        assert!(!origin(|o| o.concurrency = 0));
        assert!(origin(|o| o.prefetch_queue = 1 << 20) && !origin(|o| o.prefetch_queue = 0));
        assert!(!origin(|o| o.prefetch_queue = (1 << 20) + 1));
        assert!(origin(|o| o.ttl_secs = Some(MAX_TTL_SECS)));
        assert!(
            !origin(|o| o.ttl_secs = Some(0)) && !origin(|o| o.ttl_secs = Some(MAX_TTL_SECS + 1))
        );
        assert!(!origin(|o| o.url = "ftp://h/{key}".into()));
        assert!(!origin(|o| o.url = "http://h/".into()));
    }

    #[test]
    fn origin_urls_like_the_pattern_are_valid() {
        for url in [
            "http://127.0.0.1:9000/items/{key}",
            "https://example.com/{key}",
            "HTTP://h/{key}?x=1",
            "http://h{key}",
        ] {
            let config = NamespaceConfig {
                origin: Some(OriginConfig::new(url)),
                ..Default::default()
            };
            assert!(config.validate().is_ok(), "{url}");
        }
    }

    #[test]
    fn alert_rule_bounds_match_validate() {
        use larder_runtime::alert::{AlertCondition, AlertRule, Severity};
        let rule = |name: &str, window_secs, cooldown_secs, share| AlertRule {
            name: name.into(),
            namespace: None,
            condition: AlertCondition::MemoryAbove { share },
            severity: Severity::Info,
            window_secs,
            cooldown_secs,
            webhook: None,
        };
        let week = MAX_ALERT_WINDOW_SECS;
        assert!(rule("a.b-c_d", 1, 0, 0.0).validate().is_ok());
        assert!(rule(&"n".repeat(64), week, week, 1.0).validate().is_ok());
        assert!(rule(&"n".repeat(65), 1, 0, 0.5).validate().is_err());
        assert!(rule("a b", 1, 0, 0.5).validate().is_err());
        assert!(rule("a", 0, 0, 0.5).validate().is_err());
        assert!(rule("a", week + 1, 0, 0.5).validate().is_err());
        assert!(rule("a", 1, week + 1, 0.5).validate().is_err());
        assert!(rule("a", 1, 0, 1.01).validate().is_err());
    }

    #[test]
    fn tenant_quota_bounds_match_validate() {
        let q = |f: fn(&mut TenantQuotas)| {
            let mut quotas = TenantQuotas::default();
            f(&mut quotas);
            quotas.validate().is_ok()
        };
        assert!(q(|q| q.max_api_keys = 0) && q(|q| q.max_users = 0));
        assert!(!q(|q| q.max_namespaces = 0) && !q(|q| q.max_connections = 0));
        assert!(!q(|q| q.max_capacity_bytes = 0));
        assert!(q(|q| q.ops_per_second = Some(TenantQuotas::MAX_RATE)));
        assert!(!q(|q| q.ops_per_second = Some(TenantQuotas::MAX_RATE + 1)));
        assert!(!q(|q| q.ops_per_second = Some(0)));
    }

    #[test]
    fn every_rule_lands_in_the_document() {
        let doc: Value = serde_json::from_str(&super::super::openapi::document_json()).unwrap();
        for (schema, property, rule) in property_rules() {
            let target = &doc["components"]["schemas"][schema]["properties"][property];
            for (k, v) in rule.as_object().unwrap() {
                assert_eq!(&target[k], v, "{schema}.{property}.{k}");
            }
        }
        for (schema, pointer, rule) in nested_rules() {
            let target = doc["components"]["schemas"][schema]
                .pointer(pointer)
                .unwrap();
            for (k, v) in rule.as_object().unwrap() {
                assert_eq!(&target[k], v, "{schema}{pointer}.{k}");
            }
        }
    }
}
