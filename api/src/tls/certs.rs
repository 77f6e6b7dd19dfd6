//! `larder certs`: a local CA, a server certificate and a client certificate, so TLS and mutual
//! TLS can be tried in a minute. For a real deployment use certificates from your own CA; these
//! are for laptops, tests and CI.
//!
//! ```text
//! larder certs --out certs              # certs/{ca,server,client}.pem and their -key.pem
//! larder --tls-cert-file certs/server.pem --tls-key-file certs/server-key.pem --tls-resp-addr 127.0.0.1:6391
//! redis-cli --tls --cacert certs/ca.pem -p 6391 ping
//! ```
//!
//! `cluster-ca.pem` and `node.pem` are for the cluster bus (`--bus-tls-*`): a CA of their own,
//! so a client certificate never passes as a cluster member.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose,
};

/// `larder certs`
#[derive(Debug, clap::Args)]
pub struct CertsArgs {
    /// Directory to write the files into (created if missing).
    #[arg(long, default_value = "larder-certs")]
    pub out: PathBuf,
    /// Names and addresses the server certificate is valid for.
    #[arg(long = "host", default_values = ["localhost", "127.0.0.1", "::1"])]
    pub hosts: Vec<String>,
    /// Replace files that already exist.
    #[arg(long)]
    pub force: bool,
}

/// The files `larder certs` writes, by name.
pub const FILES: [&str; 10] = [
    "ca.pem",
    "ca-key.pem",
    "server.pem",
    "server-key.pem",
    "client.pem",
    "client-key.pem",
    "cluster-ca.pem",
    "cluster-ca-key.pem",
    "node.pem",
    "node-key.pem",
];

pub fn run(args: CertsArgs) -> ExitCode {
    match write_all(&args.out, &args.hosts, args.force) {
        Ok(()) => {
            println!(
                "wrote {} to {}\n\
                 serve:   larder --tls-cert-file {d}/server.pem --tls-key-file {d}/server-key.pem --tls-resp-addr 127.0.0.1:6391\n\
                 connect: redis-cli --tls --cacert {d}/ca.pem -p 6391 ping",
                FILES.join(", "),
                args.out.display(),
                d = args.out.display(),
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("larder certs: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Make the CA and both certificates and write them into `dir`.
pub fn write_all(dir: &Path, hosts: &[String], force: bool) -> anyhow::Result<()> {
    use anyhow::Context;
    if !force && let Some(existing) = FILES.iter().map(|f| dir.join(f)).find(|p| p.exists()) {
        anyhow::bail!(
            "{} already exists; pass --force to replace the files",
            existing.display()
        );
    }
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let set = generate(hosts)?;
    for (name, text, secret) in [
        ("ca.pem", &set.ca, false),
        ("ca-key.pem", &set.ca_key, true),
        ("server.pem", &set.server, false),
        ("server-key.pem", &set.server_key, true),
        ("client.pem", &set.client, false),
        ("client-key.pem", &set.client_key, true),
        ("cluster-ca.pem", &set.cluster_ca, false),
        ("cluster-ca-key.pem", &set.cluster_ca_key, true),
        ("node.pem", &set.node, false),
        ("node-key.pem", &set.node_key, true),
    ] {
        let path = dir.join(name);
        write_file(&path, text, secret)
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(())
}

/// A CA and what it signed, as PEM text.
#[derive(Debug, Clone)]
pub struct CertSet {
    pub ca: String,
    pub ca_key: String,
    pub server: String,
    pub server_key: String,
    pub client: String,
    pub client_key: String,
    /// A second CA, for the cluster bus only, and a member certificate it signed (server and
    /// client usage, for `hosts`). Separate so that no client certificate passes as a member.
    pub cluster_ca: String,
    pub cluster_ca_key: String,
    pub node: String,
    pub node_key: String,
}

fn new_ca(name: &str) -> Result<(CertifiedIssuer<'static, KeyPair>, String), rcgen::Error> {
    let mut params = CertificateParams::new(Vec::<String>::new())?;
    params.distinguished_name.push(DnType::CommonName, name);
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let key = KeyPair::generate()?;
    let key_pem = key.serialize_pem();
    Ok((CertifiedIssuer::self_signed(params, key)?, key_pem))
}

/// A new CA with a server certificate for `hosts` and a client certificate
/// (`CN=larder-client`), and a second CA for the cluster bus with a member certificate.
pub fn generate(hosts: &[String]) -> Result<CertSet, rcgen::Error> {
    let (ca, ca_key_pem) = new_ca("Larder local CA")?;
    let (cluster_ca, cluster_ca_key_pem) = new_ca("Larder cluster CA")?;

    let mut server_params = CertificateParams::new(hosts.to_vec())?;
    server_params
        .distinguished_name
        .push(DnType::CommonName, "larder");
    server_params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let server_key = KeyPair::generate()?;
    let server = server_params.signed_by(&server_key, &ca)?;

    let mut client_params = CertificateParams::new(Vec::<String>::new())?;
    client_params
        .distinguished_name
        .push(DnType::CommonName, "larder-client");
    client_params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    let client_key = KeyPair::generate()?;
    let client = client_params.signed_by(&client_key, &ca)?;

    let mut node_params = CertificateParams::new(hosts.to_vec())?;
    node_params
        .distinguished_name
        .push(DnType::CommonName, "larder-member");
    node_params.extended_key_usages = vec![
        ExtendedKeyUsagePurpose::ServerAuth,
        ExtendedKeyUsagePurpose::ClientAuth,
    ];
    let node_key = KeyPair::generate()?;
    let node = node_params.signed_by(&node_key, &cluster_ca)?;

    Ok(CertSet {
        cluster_ca: cluster_ca.pem(),
        cluster_ca_key: cluster_ca_key_pem,
        node: node.pem(),
        node_key: node_key.serialize_pem(),
        ca: ca.pem(),
        ca_key: ca_key_pem,
        server: server.pem(),
        server_key: server_key.serialize_pem(),
        client: client.pem(),
        client_key: client_key.serialize_pem(),
    })
}

fn write_file(path: &Path, text: &str, secret: bool) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    if secret {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    #[cfg(not(unix))]
    let _ = secret;
    let mut file = options.open(path)?;
    file.write_all(text.as_bytes())?;
    file.sync_all()
}
