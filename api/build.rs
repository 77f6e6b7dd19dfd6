//! Builds the dashboard (web-ui/) so the binary can embed it, when that is possible.
//!
//! With npm on the PATH and `web-ui/dist` missing or older than the sources, this runs
//! `npm install` (when `node_modules` is missing or older than the lock file) and `npm run build`. Without
//! npm, or when the build fails, it only makes sure `web-ui/dist` exists (possibly empty) and says
//! so in a warning: the binary then serves a "dashboard not built" page at `/`, and `cargo run` on
//! a fresh clone still works. Set `LARDER_SKIP_UI_BUILD=1` to never run npm.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::SystemTime;

fn main() {
    let web = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../web-ui");
    let dist = web.join("dist");
    for input in [
        "src",
        "index.html",
        "package.json",
        "package-lock.json",
        "vite.config.ts",
        "dist",
    ] {
        println!("cargo:rerun-if-changed={}", web.join(input).display());
    }
    println!("cargo:rerun-if-env-changed=LARDER_SKIP_UI_BUILD");

    let skip = std::env::var_os("LARDER_SKIP_UI_BUILD").is_some_and(|v| v != "0");
    if web.join("package.json").exists()
        && !skip
        && is_stale(&web, &dist)
        && let Err(reason) = build_ui(&web)
    {
        println!("cargo:warning=dashboard not built ({reason}); `/` will say how to build it");
    }
    if let Err(e) = std::fs::create_dir_all(&dist) {
        println!("cargo:warning=cannot create {}: {e}", dist.display());
    }
}

fn build_ui(web: &Path) -> Result<(), String> {
    let npm = if cfg!(windows) { "npm.cmd" } else { "npm" };
    let found = Command::new(npm)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        return Err("npm not found".into());
    }
    let lock_marker = web.join("node_modules/.package-lock.json");
    if newest(&web.join("package-lock.json")) > newest(&lock_marker) {
        // `npm install`, not `npm ci`: npm 11's `ci` rejects this lock file for lacking the
        // optional per-platform rollup packages, which only `install` resolves.
        run(Command::new(npm)
            .arg("install")
            .arg("--no-audit")
            .arg("--no-fund")
            .current_dir(web))?;
    }
    run(Command::new(npm).args(["run", "build"]).current_dir(web))
}

fn run(command: &mut Command) -> Result<(), String> {
    let status = command.status().map_err(|e| format!("{command:?}: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("{command:?} exited with {status}"))
    }
}

/// `dist` is stale when its index.html is older than any source of the UI.
fn is_stale(web: &Path, dist: &Path) -> bool {
    let built = newest_file(&dist.join("index.html"));
    let Some(built) = built else { return true };
    [
        "src",
        "index.html",
        "package.json",
        "package-lock.json",
        "vite.config.ts",
    ]
    .iter()
    .any(|input| newest(&web.join(input)).is_some_and(|m| m > built))
}

fn newest_file(path: &Path) -> Option<SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

/// The newest modification time under `path` (itself if it is a file).
fn newest(path: &Path) -> Option<SystemTime> {
    let meta = std::fs::metadata(path).ok()?;
    let mut best = meta.modified().ok();
    if meta.is_dir() {
        for entry in std::fs::read_dir(path).ok()?.flatten() {
            best = best.max(newest(&entry.path()));
        }
    }
    best
}
