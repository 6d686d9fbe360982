//! Inputs built to crash or exhaust reporter: partial cycles, huge subjects, deep or huge YAML, templated addresses that render invalid (docs/failure-handling.md, docs/security.md).

use crate::support::Env;

#[test]
fn partials_that_include_each_other_are_a_render_error_not_a_crash() {
    let env = Env::new("");
    env.template("partials/ping.hbs", "ping {{> pong}}");
    env.template("partials/pong.hbs", "pong {{> ping}}");
    env.template("loop.txt.hbs", "start {{> ping}}\n");
    env.job(
        "a-loop",
        "commands: [echo looped]\nmail: {template: loop}\n",
    );
    env.job("b-after", "commands: [echo after]\n");
    env.run(&["run", "--all"])
        .code(2)
        .stderr_contains("partials include each other: ping → pong → ping");
    let mut received = env.smtp.received();
    received.sort_by_key(|m| m.header("X-Reporter-Job"));
    assert_eq!(received.len(), 2);
    let body = received[0].body();
    assert!(
        body.starts_with("The template of this job failed, so the built-in one was used:\n"),
        "{body}"
    );
    assert!(body.contains("looped"), "{body}");
    let history = env.history_json(&[]);
    assert_eq!(history.len(), 2, "{history:?}");

    env.run(&["check"]).code(2).stderr_contains(&format!(
        "{}:1:6: partials include each other: ping → pong → ping",
        env.path("templates/partials/ping.hbs").display()
    ));
}

#[test]
fn partials_nested_deeper_than_32_levels_are_a_render_error() {
    let env = Env::new("");
    for level in 0..40 {
        env.template(
            &format!("partials/p{level}.hbs"),
            &format!("{level} {{{{> p{}}}}}", level + 1),
        );
    }
    env.template("partials/p40.hbs", "bottom");
    env.template("deep.txt.hbs", "{{> p0}}\n");
    env.template("shallow.txt.hbs", "{{> p10}}\n");
    env.job("deep", "mail: {template: deep}\n");
    env.job("shallow", "mail: {template: shallow}\n");
    env.run(&["run", "deep"])
        .code(2)
        .stderr_contains("partials nest deeper than 32 levels: p0 → p1 → p2");
    env.run(&["run", "shallow"]).code(0).stderr_empty();
    let received = env.smtp.received();
    assert!(
        received[1].body().starts_with("10 11 12"),
        "{}",
        received[1].body()
    );
    env.run(&["check"])
        .code(2)
        .stderr_contains("deep.txt.hbs:1:1: partials nest deeper than 32 levels");
}

#[test]
fn a_subject_longer_than_a_line_is_folded_and_cut() {
    let env = Env::new("");
    env.job(
        "long",
        "commands: [\"head -c 20000 /dev/zero | tr '\\\\0' x; printf ' and '; yes y | head -n 1500 | tr '\\\\n' ' '\"]\nmail: {subject: \"{{results.0.stdout}}\"}\n",
    );
    env.run(&["run", "long"]).code(0).stderr_empty();
    let message = &env.smtp.received()[0];
    let longest = message
        .data
        .split(|&b| b == b'\n')
        .map(<[u8]>::len)
        .max()
        .unwrap();
    assert!(longest <= 1000, "a line of {longest} octets");
    let subject = message.parsed().subject().unwrap().to_owned();
    assert!(subject.starts_with("xxxx"), "{subject}");
    assert!(subject.contains("x… and y y y"), "{subject}");
}

#[test]
fn a_templated_address_that_renders_invalid_goes_to_the_admin() {
    let env = Env::new("");
    env.job(
        "owners",
        "commands: [echo 'ops team']\nmail: {to: [\"{{results.0.stdout}}\"]}\n",
    );
    env.run(&["run", "owners"])
        .code(2)
        .stderr_contains("mail.to: invalid mail address \"ops team\"");
    let received = env.smtp.received();
    assert_eq!(received.len(), 1);
    assert_eq!(received[0].rcpt_to, ["admin@test.example"]);
    let body = received[0].body();
    assert!(
        body.starts_with(
            "This report could not go to its recipients, so it came to the config's mail.to:\n"
        ),
        "{body}"
    );
    assert!(body.contains("ops team"), "{body}");
}
