//! Delivery to Debian's own MTA (exim) on loopback, over STARTTLS with AUTH, into a
//! mailbox (docs/failure-handling.md).

use std::os::unix::fs::PermissionsExt;

use crate::support::exim::Exim;
use crate::support::tls::Pki;
use crate::support::{Env, require_root, wait_until};

#[test]
#[cfg_attr(not(reporter_tests_as_root), ignore = "needs root")]
fn a_report_reaches_a_mailbox_through_exim_over_starttls_with_auth() {
    require_root();
    let pki = Pki::new();
    let exim = Exim::start(&pki, "s3cret");
    let env = Env::new("");
    let password = env.write("smtp.pass", "s3cret\n");
    std::fs::set_permissions(&password, std::fs::Permissions::from_mode(0o600)).unwrap();
    env.write(
        "reporter.yaml",
        &format!(
            "state_dir: state\nmail:\n  from: reporter@test.example\n  to: [admin@test.example]\n  smtp: {{host: 127.0.0.1, port: {}, timeout: 10s, tls: starttls, username: bob, password_file: {}, ca_file: {}}}\n",
            exim.port,
            password.display(),
            pki.ca_file().display()
        ),
    );
    env.job("handed", "commands: [echo handed over]\n");
    env.run(&["run", "handed"]).code(0).stderr_empty();
    assert!(env.spooled("state/spool").is_empty());
    assert!(
        wait_until(|| exim.mailbox().contains("X-Reporter-Job: handed")),
        "the mailbox:\n{}\nexim's log:\n{}",
        exim.mailbox(),
        exim.log()
    );
    let mailbox = exim.mailbox();
    // esmtpsa: ESMTP, over TLS (s), authenticated (a).
    assert!(mailbox.contains("with esmtpsa"), "{mailbox}");
    assert!(mailbox.contains("for admin@test.example"), "{mailbox}");
}
