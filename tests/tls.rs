//! TLS to the relay, against a relay on loopback with certificates from a CA made for the
//! test: STARTTLS and implicit TLS, `mail.smtp.ca_file`, and the one readable line a
//! refused certificate or a relay without STARTTLS leaves (docs/failure-handling.md).

use std::os::unix::fs::PermissionsExt;

use crate::support::smtp::{Command, SmtpServer, Tls};
use crate::support::tls::{Leaf, Pki};
use crate::support::{Behaviour, Env, require_root};

/// The lines of `mail.smtp` for `tls`, with a password file and, if given, `ca_file`.
fn relay_config(env: &Env, tls: &str, ca_file: Option<&Pki>) {
    let password = env.write("smtp.pass", "s3cret\n");
    std::fs::set_permissions(&password, std::fs::Permissions::from_mode(0o600)).unwrap();
    let ca = ca_file.map_or(String::new(), |pki| {
        format!(", ca_file: {}", pki.ca_file().display())
    });
    env.write(
        "reporter.yaml",
        &format!(
            "state_dir: state\nmail:\n  from: reporter@test.example\n  to: [admin@test.example]\n  smtp: {{host: 127.0.0.1, port: {}, timeout: 5s, tls: {tls}, username: bob, password_file: {}{ca}}}\n",
            env.smtp.port,
            password.display()
        ),
    );
}

/// An installation whose relay takes AUTH and speaks TLS as `tls` says.
fn env_with(tls: Tls) -> Env {
    let env = Env::with_server(SmtpServer::start_with(Behaviour::AcceptAuth, tls), "");
    env.job("secure", "commands: [echo hi]\n");
    env
}

/// The command lines the relay saw in clear, without their arguments.
fn in_clear(commands: &[Command]) -> Vec<String> {
    commands
        .iter()
        .filter(|c| !c.tls)
        .map(|c| c.line.split(' ').next().unwrap().to_ascii_uppercase())
        .collect()
}

#[test]
fn starttls_with_a_ca_file_authenticates_and_sends_over_tls_only() {
    let pki = Pki::new();
    let env = env_with(Tls::Starttls(pki.server(Leaf::Good)));
    relay_config(&env, "starttls", Some(&pki));
    env.run(&["check"]).code(0).stderr_empty();
    env.run(&["run", "secure"]).code(0).stderr_empty();
    assert_eq!(env.smtp.received().len(), 1);
    assert!(env.spooled("state/spool").is_empty());
    let commands = env.smtp.commands();
    assert_eq!(in_clear(&commands), ["EHLO", "STARTTLS"], "{commands:?}");
    let auth: Vec<&Command> = commands
        .iter()
        .filter(|c| c.line.starts_with("AUTH"))
        .collect();
    assert!(
        !auth.is_empty() && auth.iter().all(|c| c.tls),
        "{commands:?}"
    );
}

#[test]
fn implicit_tls_with_a_ca_file_delivers() {
    let pki = Pki::new();
    let env = env_with(Tls::Implicit(pki.server(Leaf::Good)));
    relay_config(&env, "tls", Some(&pki));
    env.run(&["run", "secure"]).code(0).stderr_empty();
    assert_eq!(env.smtp.received().len(), 1);
    let commands = env.smtp.commands();
    assert!(in_clear(&commands).is_empty(), "{commands:?}");
    assert!(commands.iter().any(|c| c.line.starts_with("AUTH")));
}

/// Runs the job against a relay whose certificate reporter refuses: the report is spooled,
/// exit 75, and stderr says why in one line, by `run` and again by `flush`.
fn refused(leaf: Leaf, implicit: bool, ca_file: bool, reason: &str) {
    let pki = Pki::new();
    let server = pki.server(leaf);
    let (tls, mode) = if implicit {
        (Tls::Implicit(server), "tls")
    } else {
        (Tls::Starttls(server), "starttls")
    };
    let env = env_with(tls);
    relay_config(&env, mode, ca_file.then_some(&pki));
    let line = format!(
        "secure: report not delivered (relay 127.0.0.1:{}: {reason}); kept in",
        env.smtp.port
    );
    for args in [&["run", "secure"][..], &["flush"]] {
        let run = env.run(args).code(75).stderr_contains(&line);
        assert_eq!(run.stderr.lines().count(), 1, "{args:?}:\n{}", run.stderr);
        for debug in [
            "Error",
            "Other(",
            "Certificate(",
            "InvalidCertificate",
            "Connection error",
        ] {
            assert!(!run.stderr.contains(debug), "{args:?}:\n{}", run.stderr);
        }
    }
    assert_eq!(env.spooled("state/spool").len(), 1);
    assert!(env.smtp.received().is_empty());
    let commands = env.smtp.commands();
    assert!(
        commands.iter().all(|c| !c.line.starts_with("AUTH")),
        "{commands:?}"
    );
}

#[test]
fn a_certificate_from_an_unknown_ca_is_not_trusted() {
    refused(Leaf::Good, false, false, "certificate not trusted");
    refused(Leaf::Good, true, false, "certificate not trusted");
}

#[test]
fn an_expired_certificate_is_refused() {
    refused(Leaf::Expired, false, true, "certificate expired");
}

#[test]
fn a_certificate_for_another_name_is_refused() {
    refused(Leaf::WrongName, true, true, "name mismatch");
}

#[test]
fn a_relay_without_starttls_gets_neither_the_password_nor_the_mail() {
    let env = Env::with_smtp(Behaviour::AcceptAuth, "");
    env.job("secure", "commands: [echo hi]\n");
    relay_config(&env, "starttls", None);
    let line = format!(
        "secure: report not delivered (relay 127.0.0.1:{}: STARTTLS not offered (`tls: starttls` requires it)); kept in",
        env.smtp.port
    );
    env.run(&["run", "secure"]).code(75).stderr_contains(&line);
    assert_eq!(env.spooled("state/spool").len(), 1);
    assert!(env.smtp.received().is_empty());
    let commands = env.smtp.commands();
    let clear = in_clear(&commands);
    assert!(
        clear.iter().all(|c| c == "EHLO" || c == "QUIT"),
        "only EHLO and QUIT in clear: {commands:?}"
    );
}

#[test]
fn a_ca_file_that_is_missing_or_holds_no_certificate_is_a_configuration_error() {
    let pki = Pki::new();
    let env = env_with(Tls::Starttls(pki.server(Leaf::Good)));
    relay_config(&env, "starttls", Some(&pki));
    std::fs::remove_file(pki.ca_file()).unwrap();
    let ca = pki.ca_file().display().to_string();
    env.run(&["check"])
        .code(2)
        .stderr_contains(&format!("mail.smtp.ca_file: cannot read `{ca}`"));
    std::fs::write(pki.ca_file(), "not a certificate\n").unwrap();
    env.run(&["check"]).code(2).stderr_contains(&format!(
        "mail.smtp.ca_file: `{ca}` holds no PEM certificate"
    ));
    std::fs::write(
        pki.ca_file(),
        "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
    )
    .unwrap();
    env.run(&["check"]).code(2).stderr_contains(&format!(
        "mail.smtp.ca_file: `{ca}`: certificate 1 cannot be parsed"
    ));
}

#[test]
#[cfg_attr(not(reporter_tests_as_root), ignore = "needs root")]
fn a_ca_file_others_can_write_is_refused_as_root() {
    require_root();
    let pki = Pki::new();
    let env = env_with(Tls::Starttls(pki.server(Leaf::Good)));
    relay_config(&env, "starttls", Some(&pki));
    std::fs::set_permissions(pki.ca_file(), std::fs::Permissions::from_mode(0o664)).unwrap();
    let ca = pki.ca_file().display().to_string();
    env.run(&["check"]).code(2).stderr_contains(&format!(
        "mail.smtp.ca_file: `{ca}` is writable by group or others (mode 0664)"
    ));
    // A run refuses to trust it too: the report and the problems report wait in the spool.
    env.run(&["run", "secure"])
        .code(2)
        .stderr_contains("secure: report not delivered (mail.smtp.ca_file: ");
    assert_eq!(env.spooled("state/spool").len(), 2);
    assert!(env.smtp.received().is_empty());
}

#[test]
fn a_ca_file_with_tls_none_is_a_configuration_error() {
    let env = Env::new("");
    env.write(
        "reporter.yaml",
        &format!(
            "state_dir: state\nmail:\n  from: reporter@test.example\n  to: [admin@test.example]\n  smtp:\n    host: 127.0.0.1\n    port: {}\n    ca_file: /etc/ssl/certs/ca-certificates.crt\n",
            env.smtp.port
        ),
    );
    env.run(&["check"]).code(2).stderr_contains(
        "reporter.yaml:8:14: mail.smtp.ca_file: `ca_file` is for `tls: starttls` or `tls: tls`",
    );
}
