//! TLS for the RESP and HTTP ports (rustls with the ring provider only).
//!
//! | file | holds |
//! |---|---|
//! | `mod.rs` | [`TlsConfig`] (what the operator set), [`ServerTls`] (the live rustls config, reloadable) |
//! | `listener` | an accept loop that handshakes in per-connection tasks with a timeout, for axum |
//! | `certs` | `larder certs`: a local CA and server and client certificates (rcgen) |
//!
//! ## Reloading
//!
//! [`ServerTls::reload`] reads the certificate, key and client CA again and swaps them in whole;
//! a file that does not load leaves the old ones serving. Each handshake takes the config current
//! at its start, so new connections see the new certificate and open ones keep what they
//! negotiated. The binary reloads on SIGHUP; the admin API has `POST /v1/admin/tls/reload`.
//! Both reach the cluster bus too ([`BusTlsLive::reload`]): its accept loop and its peers take
//! the new certificate and CA for the connections they open from then on.
//!
//! ## Handshakes never stall the accept loop
//!
//! The accept loop only accepts; the handshake runs in the connection's own task, bounded by
//! [`HANDSHAKE_TIMEOUT`], so a client that opens a socket and says nothing costs one idle task
//! until the timeout, never another client's wait.

pub mod certs;
mod listener;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::RwLock;
use rustls::RootCertStore;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use serde::Serialize;
use thiserror::Error;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;

pub use listener::TlsListener;

/// The longest a client may take to complete its handshake.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Whether clients must show a certificate signed by the configured CA.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, serde::Deserialize, clap::ValueEnum,
)]
#[serde(rename_all = "lowercase")]
pub enum ClientAuth {
    /// No client certificates are asked for.
    #[default]
    None,
    /// A client may show one; if it does, it must be valid.
    Optional,
    /// Every client must show a valid one (mutual TLS).
    Required,
}

/// TLS as configured: where the files are and which ports use them.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TlsConfig {
    /// PEM: the server certificate chain, leaf first.
    pub cert_file: PathBuf,
    /// PEM: the server's private key (PKCS#8, PKCS#1 or SEC1).
    pub key_file: PathBuf,
    /// PEM: the CA(s) client certificates must chain to.
    pub client_ca_file: Option<PathBuf>,
    pub client_auth: ClientAuth,
    /// A Redis-protocol port with TLS, beside the plain one (Redis's `tls-port`).
    pub resp_addr: Option<std::net::SocketAddr>,
    /// Serve the Redis protocol on the TLS port only: no plain port is bound (Redis's
    /// `port 0` with a `tls-port`).
    pub resp_only: bool,
    /// Serve the HTTP port (REST, dashboard, metrics) with TLS.
    pub http: bool,
}

/// Mutual TLS on the cluster bus: the member's own certificate (used both to accept and to
/// connect, so it needs the server and the client usage) and the cluster's CA. That CA must sign
/// member certificates only — never the client certificates of the RESP and HTTP ports, or any
/// client would pass as a member.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BusTlsConfig {
    pub cert_file: PathBuf,
    pub key_file: PathBuf,
    pub ca_file: PathBuf,
}

#[derive(Debug, Error)]
pub enum TlsError {
    #[error("cannot read {}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: rustls::pki_types::pem::Error,
    },
    #[error("{} holds no certificate", path.display())]
    NoCertificate { path: PathBuf },
    #[error("client_auth = {0:?} needs a client CA file (tls_ca_file)")]
    NoClientCa(ClientAuth),
    #[error("the client CA file {}: {reason}", path.display())]
    BadClientCa { path: PathBuf, reason: String },
    #[error("the certificate and key do not form a usable server identity: {0}")]
    Rustls(#[from] rustls::Error),
}

/// The live TLS settings of a node, shared by its TLS ports.
pub struct ServerTls {
    config: TlsConfig,
    current: RwLock<Arc<rustls::ServerConfig>>,
}

impl std::fmt::Debug for ServerTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerTls")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl ServerTls {
    /// Load the files `config` names; fails with what is wrong with which file.
    pub fn load(config: &TlsConfig) -> Result<Arc<Self>, TlsError> {
        let built = build(config)?;
        Ok(Arc::new(Self {
            config: config.clone(),
            current: RwLock::new(built),
        }))
    }

    /// Whether the files load now, without serving them.
    pub fn check(&self) -> Result<(), TlsError> {
        build(&self.config).map(drop)
    }

    /// Read the files again; on success new handshakes use them, on failure nothing changes.
    pub fn reload(&self) -> Result<(), TlsError> {
        let built = build(&self.config)?;
        *self.current.write() = built;
        tracing::info!(cert = %self.config.cert_file.display(), "TLS certificate reloaded");
        Ok(())
    }

    pub fn config(&self) -> &TlsConfig {
        &self.config
    }

    /// An acceptor with the settings current now.
    pub fn acceptor(&self) -> TlsAcceptor {
        TlsAcceptor::from(Arc::clone(&self.current.read()))
    }

    /// Handshake on `stream` with the current settings, within [`HANDSHAKE_TIMEOUT`].
    pub async fn handshake<S>(&self, stream: S) -> std::io::Result<TlsStream<S>>
    where
        S: AsyncRead + AsyncWrite + Unpin,
    {
        match tokio::time::timeout(HANDSHAKE_TIMEOUT, self.acceptor().accept(stream)).await {
            Ok(done) => done,
            Err(_) => Err(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                "TLS handshake timed out",
            )),
        }
    }
}

/// Mutual TLS for the cluster bus: members must present a certificate of the cluster's CA, and
/// this node presents its own both when accepting and when connecting.
pub fn bus_tls(config: &BusTlsConfig) -> Result<larder_cluster::BusTls, TlsError> {
    let (acceptor, connector) = bus_configs(config)?;
    Ok(larder_cluster::BusTls::new(acceptor, connector))
}

/// The bus's live TLS and the files it came from, so it can be read again.
#[derive(Clone)]
pub struct BusTlsLive {
    pub live: larder_cluster::BusTls,
    pub config: BusTlsConfig,
}

impl BusTlsLive {
    /// Whether the files load now, without serving them.
    pub fn check(&self) -> Result<(), TlsError> {
        bus_configs(&self.config).map(drop)
    }

    /// Read the bus's certificate, key and CA again and serve new bus connections with them
    /// (accepted and opened alike); on an error nothing changes.
    pub fn reload(&self) -> Result<(), TlsError> {
        let (acceptor, connector) = bus_configs(&self.config)?;
        self.live.replace(acceptor, connector);
        tracing::info!(cert = %self.config.cert_file.display(), "cluster bus TLS certificate reloaded");
        Ok(())
    }
}

fn bus_configs(
    config: &BusTlsConfig,
) -> Result<(TlsAcceptor, tokio_rustls::TlsConnector), TlsError> {
    let server = build(&TlsConfig {
        cert_file: config.cert_file.clone(),
        key_file: config.key_file.clone(),
        client_ca_file: Some(config.ca_file.clone()),
        client_auth: ClientAuth::Required,
        resp_addr: None,
        resp_only: false,
        http: false,
    })?;
    let client = rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()?
        .with_root_certificates(read_roots(&config.ca_file)?)
        .with_client_auth_cert(read_certs(&config.cert_file)?, read_key(&config.key_file)?)?;
    Ok((
        TlsAcceptor::from(server),
        tokio_rustls::TlsConnector::from(Arc::new(client)),
    ))
}

/// The one crypto provider: ring (no aws-lc build).
pub fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn build(config: &TlsConfig) -> Result<Arc<rustls::ServerConfig>, TlsError> {
    let chain = read_certs(&config.cert_file)?;
    let key = read_key(&config.key_file)?;
    let builder = rustls::ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()?;
    let builder = match (config.client_auth, &config.client_ca_file) {
        (ClientAuth::None, _) => builder.with_no_client_auth(),
        (mode, None) => return Err(TlsError::NoClientCa(mode)),
        (mode, Some(ca)) => {
            let verifier =
                WebPkiClientVerifier::builder_with_provider(Arc::new(read_roots(ca)?), provider());
            let verifier = if mode == ClientAuth::Optional {
                verifier.allow_unauthenticated()
            } else {
                verifier
            };
            let verifier = verifier.build().map_err(|e| TlsError::BadClientCa {
                path: ca.clone(),
                reason: e.to_string(),
            })?;
            builder.with_client_cert_verifier(verifier)
        }
    };
    Ok(Arc::new(builder.with_single_cert(chain, key)?))
}

fn read_key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    PrivateKeyDer::from_pem_file(path).map_err(|source| TlsError::Read {
        path: path.to_path_buf(),
        source,
    })
}

/// The CA certificates in `path`, as trust roots.
fn read_roots(path: &Path) -> Result<RootCertStore, TlsError> {
    let mut roots = RootCertStore::empty();
    for cert in read_certs(path)? {
        roots.add(cert).map_err(|e| TlsError::BadClientCa {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })?;
    }
    Ok(roots)
}

fn read_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let certs = CertificateDer::pem_file_iter(path)
        .and_then(|iter| iter.collect::<Result<Vec<_>, _>>())
        .map_err(|source| TlsError::Read {
            path: path.to_path_buf(),
            source,
        })?;
    if certs.is_empty() {
        return Err(TlsError::NoCertificate {
            path: path.to_path_buf(),
        });
    }
    Ok(certs)
}
