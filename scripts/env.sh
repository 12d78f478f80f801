# shellcheck shell=bash
# Environment for building and testing Mostrador. Source it (it sets no shell options):
#
#     source scripts/env.sh
#
# after scripts/setup.sh has installed the tools. It puts, in this order, first on PATH:
#   tools/node_modules/.bin        wasm-opt from npm binaryen 132 (Debian's binaryen 108 breaks hydration)
#   $CARGO_HOME/bin                cargo-leptos, wasm-bindgen
#   /usr/lib/postgresql/15/bin     initdb, pg_ctl, postgres for the tests' throwaway clusters

MOSTRADOR_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# Caches that outlive a clone (CI keeps $HOME/.cache): the cargo target dir and the tools' build dir.
MOSTRADOR_CACHE="${MOSTRADOR_CACHE:-$HOME/.cache/mostrador}"
MOSTRADOR_PG_BIN="${MOSTRADOR_PG_BIN:-/usr/lib/postgresql/15/bin}"
export MOSTRADOR_ROOT MOSTRADOR_CACHE MOSTRADOR_PG_BIN

# Nothing may download a browser: the tests use Debian's /usr/bin/chromium.
export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1
export PUPPETEER_SKIP_DOWNLOAD=1

_mostrador_path_first() { # move (or add) a directory to the front of PATH
  local dir=$1 rest=":${PATH}:"
  while [[ $rest == *":${dir}:"* ]]; do rest=${rest//":${dir}:"/:}; done
  rest=${rest#:}
  rest=${rest%:}
  PATH="${dir}${rest:+:${rest}}"
}
_mostrador_path_first "$MOSTRADOR_PG_BIN"
_mostrador_path_first "${CARGO_HOME:-$HOME/.cargo}/bin"
_mostrador_path_first "$MOSTRADOR_ROOT/tools/node_modules/.bin"
unset -f _mostrador_path_first
# moto_server for the backup tests (scripts/setup.sh --test), last so it shadows nothing.
if [ -d "$MOSTRADOR_CACHE/moto/bin" ] && [[ ":$PATH:" != *":$MOSTRADOR_CACHE/moto/bin:"* ]]; then
  PATH="$PATH:$MOSTRADOR_CACHE/moto/bin"
fi
export PATH
