//! `openapi/openapi.json` must be exactly what the code generates.
//!
//! When a route or schema changes, regenerate the file with either of:
//!
//! ```text
//! cargo run -- openapi > openapi/openapi.json
//! UPDATE_OPENAPI=1 cargo test -p larder --test openapi_drift
//! ```

use std::path::PathBuf;

#[test]
fn checked_in_openapi_matches_the_code() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../openapi/openapi.json");
    let generated = larder::rest::openapi::document_json();
    if std::env::var_os("UPDATE_OPENAPI").is_some() {
        std::fs::write(&path, &generated).expect("write openapi/openapi.json");
        return;
    }
    let checked_in = std::fs::read_to_string(&path).unwrap_or_default();
    if checked_in != generated {
        let line = checked_in
            .lines()
            .zip(generated.lines())
            .position(|(a, b)| a != b)
            .unwrap_or_else(|| checked_in.lines().count().min(generated.lines().count()))
            + 1;
        panic!(
            "openapi/openapi.json differs from the document the code generates (first difference \
             at line {line}).\nRegenerate it with `cargo run -- openapi > openapi/openapi.json` or \
             `UPDATE_OPENAPI=1 cargo test -p larder --test openapi_drift`, and commit the result."
        );
    }
}

#[test]
fn the_binary_prints_the_same_document() {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_larder"))
        .arg("openapi")
        .output()
        .expect("run larder openapi");
    assert!(output.status.success());
    assert_eq!(
        String::from_utf8(output.stdout).unwrap(),
        larder::rest::openapi::document_json()
    );
}

/// The document lists `503 not_durable` on exactly the admin writes the catalog records (a
/// key route's `503` is the cluster's: `cluster_down`, `slot_moved`, `not_replicated`).
#[test]
fn not_durable_is_documented_on_admin_writes_only() {
    let doc: serde_json::Value =
        serde_json::from_str(&larder::rest::openapi::document_json()).unwrap();
    let mut documented = 0;
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            let write = ["post", "put", "patch", "delete"].contains(&method.as_str());
            let expected = write && larder::persistence::is_admin_path(path);
            let has = operation["responses"]
                .get("503")
                .and_then(|r| r["description"].as_str())
                .is_some_and(|d| d.contains("not_durable"));
            assert_eq!(has, expected, "{method} {path}");
            documented += usize::from(has);
        }
    }
    assert!(documented >= 10, "{documented}");
}
