//! `larder plugin push|list|attach`: upload a compiled policy plugin and attach it to a
//! namespace, through the admin REST API of a running node.
//!
//! ```text
//! larder plugin push target/wasm32-unknown-unknown/release/my_policy.wasm --name my-policy \
//!     --attach sessions --hook eviction
//! larder plugin list
//! larder plugin attach 3f2a9c01 --namespace sessions --hook admission
//! ```

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::{Args, Subcommand, ValueEnum};
use serde_json::Value;

#[derive(Debug, Args)]
pub struct PluginArgs {
    /// Base URL of the node's HTTP API.
    #[arg(
        long,
        env = "LARDER_URL",
        default_value = "http://127.0.0.1:8390",
        global = true
    )]
    pub server: String,
    /// The key to call the admin API with (an admin API key or the operator key), when the node
    /// has authentication on; LARDER_OPERATOR_KEY is used when this is not set.
    #[arg(long, env = "LARDER_API_KEY", hide_env_values = true, global = true)]
    pub api_key: Option<String>,
    /// A PEM CA certificate to trust for an https:// server (e.g. `larder certs`' ca.pem).
    #[arg(long, env = "LARDER_CACERT", value_name = "PATH", global = true)]
    pub cacert: Option<std::path::PathBuf>,
    #[command(subcommand)]
    pub command: PluginCommand,
}

/// The HTTP client: the bearer key on every request, and the extra CA if one was given.
fn http_client(args: &PluginArgs) -> anyhow::Result<reqwest::Client> {
    let mut builder = reqwest::Client::builder();
    let key = args
        .api_key
        .clone()
        .or_else(|| std::env::var("LARDER_OPERATOR_KEY").ok());
    if let Some(key) = key {
        let mut value = reqwest::header::HeaderValue::from_str(&format!("Bearer {}", key.trim()))
            .context("the API key is not valid in an HTTP header")?;
        value.set_sensitive(true);
        let mut headers = reqwest::header::HeaderMap::new();
        headers.insert(reqwest::header::AUTHORIZATION, value);
        builder = builder.default_headers(headers);
    }
    if let Some(path) = &args.cacert {
        let pem = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
        builder = builder.add_root_certificate(
            reqwest::Certificate::from_pem(&pem)
                .with_context(|| format!("{} is not a PEM certificate", path.display()))?,
        );
    }
    builder.build().context("cannot build the HTTP client")
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum HookArg {
    Eviction,
    Admission,
    Prefetch,
    Routing,
}

impl HookArg {
    fn field(self) -> &'static str {
        match self {
            Self::Eviction => "eviction",
            Self::Admission => "admission",
            Self::Prefetch => "prefetch",
            Self::Routing => "routing",
        }
    }
}

#[derive(Debug, Subcommand)]
pub enum PluginCommand {
    /// Upload a compiled module (.wasm); prints its version id.
    Push {
        file: PathBuf,
        #[arg(long)]
        name: Option<String>,
        #[arg(long)]
        description: Option<String>,
        /// Also attach it to this namespace.
        #[arg(long, value_name = "NAMESPACE")]
        attach: Option<String>,
        /// The hook to attach it to.
        #[arg(long, value_enum, default_value = "eviction")]
        hook: HookArg,
    },
    /// List uploaded versions and where they are used.
    List,
    /// Make a namespace use a version for a hook (a live hot swap).
    Attach {
        /// Version id or a unique prefix (at least 8 hex digits).
        id: String,
        #[arg(long)]
        namespace: String,
        #[arg(long, value_enum, default_value = "eviction")]
        hook: HookArg,
    },
}

pub fn run(args: PluginArgs) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("larder: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(execute(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("larder: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// The body of a response, or an error carrying the API's message.
async fn checked(response: reqwest::Response) -> anyhow::Result<Value> {
    let status = response.status();
    let body: Value = response
        .json()
        .await
        .context("the server's answer is not JSON")?;
    if !status.is_success() {
        let message = body["error"]["message"].as_str().unwrap_or("no message");
        let code = body["error"]["code"].as_str().unwrap_or("unknown");
        bail!("{status}: {code}: {message}");
    }
    Ok(body)
}

async fn attach(
    client: &reqwest::Client,
    base: &str,
    id: &str,
    namespace: &str,
    hook: HookArg,
) -> anyhow::Result<()> {
    let url = format!("{base}/v1/namespaces/{namespace}");
    let info = checked(
        client
            .get(&url)
            .send()
            .await
            .with_context(|| format!("GET {url}"))?,
    )
    .await?;
    let mut config = info["config"].clone();
    let Some(fields) = config.as_object_mut() else {
        bail!("unexpected namespace answer: {info}")
    };
    fields.insert(hook.field().into(), Value::String(format!("plugin:{id}")));
    let updated = checked(
        client
            .put(&url)
            .json(&config)
            .send()
            .await
            .with_context(|| format!("PUT {url}"))?,
    )
    .await?;
    println!(
        "namespace {namespace}: {} = {}",
        hook.field(),
        updated["config"][hook.field()]
    );
    Ok(())
}

async fn execute(args: PluginArgs) -> anyhow::Result<()> {
    let client = http_client(&args)?;
    let base = args.server.trim_end_matches('/');
    match args.command {
        PluginCommand::Push {
            file,
            name,
            description,
            attach: namespace,
            hook,
        } => {
            let bytes =
                std::fs::read(&file).with_context(|| format!("reading {}", file.display()))?;
            let mut query = Vec::new();
            if let Some(n) = &name {
                query.push(("name", n.as_str()));
            }
            if let Some(d) = &description {
                query.push(("description", d.as_str()));
            }
            let url = format!("{base}/v1/plugins");
            let response = client
                .post(&url)
                .query(&query)
                .header("content-type", "application/wasm")
                .body(bytes)
                .send()
                .await
                .with_context(|| format!("POST {url}"))?;
            let uploaded = checked(response).await?;
            let id = uploaded["id"]
                .as_str()
                .context("the answer has no id")?
                .to_string();
            let new = if uploaded["created"].as_bool() == Some(true) {
                "uploaded"
            } else {
                "already present"
            };
            println!("{id} ({new}; hooks: {})", uploaded["hooks"]);
            if let Some(namespace) = namespace {
                attach(&client, base, &id, &namespace, hook).await?;
            }
        }
        PluginCommand::List => {
            let url = format!("{base}/v1/plugins");
            let list = checked(
                client
                    .get(&url)
                    .send()
                    .await
                    .with_context(|| format!("GET {url}"))?,
            )
            .await?;
            for p in list["plugins"].as_array().into_iter().flatten() {
                let used: Vec<String> = p["used_by"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|u| {
                        format!(
                            "{}:{}",
                            u["namespace"].as_str().unwrap_or("?"),
                            u["hook"].as_str().unwrap_or("?")
                        )
                    })
                    .collect();
                println!(
                    "{}  {:<24} {:>8} B  hooks {}  used by [{}]",
                    p["id"].as_str().unwrap_or("?"),
                    p["name"].as_str().unwrap_or("?"),
                    p["size_bytes"],
                    p["hooks"],
                    used.join(", ")
                );
            }
        }
        PluginCommand::Attach {
            id,
            namespace,
            hook,
        } => {
            // Resolve a prefix to the full id first, so the config names the version exactly.
            let url = format!("{base}/v1/plugins/{id}");
            let found = checked(
                client
                    .get(&url)
                    .send()
                    .await
                    .with_context(|| format!("GET {url}"))?,
            )
            .await?;
            let full = found["id"].as_str().context("the answer has no id")?;
            attach(&client, base, full, &namespace, hook).await?;
        }
    }
    Ok(())
}
