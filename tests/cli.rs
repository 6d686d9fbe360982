//! Command-line manners: output into a closed pipe, completions, unknown names.

use crate::support::Env;

#[test]
fn output_into_a_closed_pipe_ends_quietly_with_status_0() {
    let env = Env::new("");
    env.job("hello", "schedule: daily\ncommands: [echo hello]\n");
    env.run(&["run", "hello"]).code(0).stderr_empty();
    for args in [
        &["history"][..],
        &["history", "--json"],
        &["list"],
        &["list", "--json"],
        &["check"],
        &["man"],
        &["completions", "bash"],
        &["completions", "zsh"],
        &["completions", "fish"],
    ] {
        env.run_into_closed_pipe(args).code(0).stderr_empty();
    }
}
