#!/bin/sh
# Writes the manual pages and shell completions that the .deb installs, from the binary
# itself (`reporter man`, `reporter completions`): never edit them by hand. The test
# `packaged_pages_and_completions_are_what_the_binary_prints` fails until this is run
# after a change to the command line, to src/app/man/*.roff, to the template context
# (src/render/schema.rs) or to the helpers (src/render/helpers/table.rs).
#   packaging/generate.sh [BINARY]      (default: a fresh debug build)
set -eu
cd "$(dirname "$0")/.."
bin=${1:-}
if [ -z "$bin" ]; then
  cargo build --quiet
  bin="${CARGO_TARGET_DIR:-target}/debug/reporter"
fi
mkdir -p packaging/man packaging/completions
# No config is needed for these; keep a stray ./reporter.yaml from mattering.
export REPORTER_CONFIG=/dev/null
"$bin" man >packaging/man/reporter.1
"$bin" man reporter.yaml >packaging/man/reporter.yaml.5
"$bin" man reporter-templates >packaging/man/reporter-templates.7
"$bin" completions bash >packaging/completions/reporter.bash
"$bin" completions zsh >packaging/completions/_reporter
"$bin" completions fish >packaging/completions/reporter.fish
