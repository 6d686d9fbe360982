//! Certificates made for a test with the `openssl` command: a CA of the test's own, and
//! relay certificates it signs — for `localhost` and 127.0.0.1, expired, or for another
//! name — with the rustls server configuration of each.

use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

use super::tool;

/// A CA made for one test, in its own folder.
pub struct Pki {
    dir: tempfile::TempDir,
}

/// Which relay certificate the CA signs.
#[derive(Debug, Clone, Copy)]
pub enum Leaf {
    /// For `localhost` and 127.0.0.1, valid now.
    Good,
    /// For `localhost` and 127.0.0.1, valid for a month in 2020.
    Expired,
    /// For `relay.other.example` only.
    WrongName,
}

impl Pki {
    pub fn new() -> Pki {
        let pki = Pki {
            dir: tempfile::tempdir().expect("temp dir"),
        };
        pki.openssl(&words(
            "req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ca.key -out ca.pem -days 30 -subj /CN=reporter-test-ca -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign",
        ));
        pki
    }

    /// The CA's certificate (PEM), for `mail.smtp.ca_file`.
    pub fn ca_file(&self) -> PathBuf {
        self.dir.path().join("ca.pem")
    }

    /// Makes `leaf`, signed by this CA; its certificate and key files (PEM).
    pub fn issue(&self, leaf: Leaf) -> (PathBuf, PathBuf) {
        let (name, names) = match leaf {
            Leaf::Good => ("good", "DNS:localhost,IP:127.0.0.1"),
            Leaf::Expired => ("expired", "DNS:localhost,IP:127.0.0.1"),
            Leaf::WrongName => ("wrong", "DNS:relay.other.example"),
        };
        std::fs::write(
            self.dir.path().join(format!("{name}.ext")),
            format!(
                "subjectAltName={names}\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n"
            ),
        )
        .unwrap();
        self.openssl(&words(&format!(
            "req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout {name}.key -out {name}.csr -subj /CN=relay"
        )));
        let sign = words(&format!(
            "x509 -req -in {name}.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 30 -out {name}.pem -extfile {name}.ext"
        ));
        match leaf {
            // Signed as if it were 2020: valid for 30 days then.
            Leaf::Expired => self.run(
                Command::new(tool("faketime", "faketime"))
                    .arg("2020-01-01 00:00:00")
                    .arg(tool("openssl", "openssl"))
                    .args(&sign),
            ),
            _ => self.openssl(&sign),
        }
        (
            self.dir.path().join(format!("{name}.pem")),
            self.dir.path().join(format!("{name}.key")),
        )
    }

    /// A rustls server configuration presenting `leaf`, signed by this CA.
    pub fn server(&self, leaf: Leaf) -> Arc<rustls::ServerConfig> {
        let (pem, key) = self.issue(leaf);
        let chain = CertificateDer::pem_file_iter(&pem)
            .unwrap()
            .collect::<Result<Vec<_>, _>>()
            .unwrap();
        let key = PrivateKeyDer::from_pem_file(&key).unwrap();
        Arc::new(
            rustls::ServerConfig::builder()
                .with_no_client_auth()
                .with_single_cert(chain, key)
                .expect("a server certificate and its key"),
        )
    }

    fn openssl(&self, args: &[String]) {
        self.run(Command::new(tool("openssl", "openssl")).args(args));
    }

    fn run(&self, command: &mut Command) {
        let output = command
            .current_dir(self.dir.path())
            .output()
            .expect("run openssl");
        assert!(
            output.status.success(),
            "{command:?} failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
}

/// A command line's words, split at spaces.
fn words(line: &str) -> Vec<String> {
    line.split_whitespace().map(str::to_owned).collect()
}
