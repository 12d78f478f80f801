#!/usr/bin/env bash
# Installs what building (and, with --test, testing) Mostrador needs and is missing. Idempotent: when
# everything is there it only checks, in a few seconds. Nothing here downloads a prebuilt binary or a
# browser: Rust tools are built from crates.io, wasm-opt comes from npm, Chromium and PostgreSQL from Debian.
#
#   scripts/setup.sh           build tools: wasm32 target, cargo-leptos, wasm-bindgen-cli, wasm-opt
#   scripts/setup.sh --test    also Chromium, ChromeDriver, PostgreSQL 15, curl and pebble (apt-get),
#                              moto and schemathesis (PyPI, each in a venv under the cache)
#
# Afterwards `source scripts/env.sh` gives the PATH the build and the tests need.
set -euo pipefail

_MOSTRADOR_TAG="setup"
# shellcheck source=scripts/env.sh
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
# shellcheck source=scripts/lib.sh
source "$MOSTRADOR_ROOT/scripts/lib.sh"

CARGO_LEPTOS_VERSION=0.3.8 # newer ones need a newer rustc than this machine's 1.95
BINARYEN_MAJOR=132
# About how many crates each tool compiles (`cargo tree` of the crate; only for the progress line).
CARGO_LEPTOS_CRATES=547
WASM_BINDGEN_CLI_CRATES=250

want_test=""
for arg in "$@"; do
  case "$arg" in
    --test) want_test=1 ;;
    -h | --help)
      sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'
      exit 0
      ;;
    *) die "unknown option: $arg (use --test or --help)" ;;
  esac
done

started=$SECONDS
cd "$MOSTRADOR_ROOT"

# The tools are built with a light release profile: each runs for seconds per build, so the crates' own
# profiles (LTO, one codegen unit, opt-level 3) would cost minutes of a first run for nothing. Settings
# from the environment override a crate's manifest profile. Measured on the 2-core machine, cold:
# cargo-leptos builds in 531 s at opt-level 0 and 1,080 s at opt-level 1, and a release build of the app
# with the opt-level 0 binary takes the time it takes with the one installed before (128.8 s vs 127.5 s).
TOOL_PROFILE=(
  CARGO_PROFILE_RELEASE_OPT_LEVEL=0
  CARGO_PROFILE_RELEASE_LTO=false
  CARGO_PROFILE_RELEASE_CODEGEN_UNITS=16
  CARGO_PROFILE_RELEASE_DEBUG=false
  CARGO_PROFILE_RELEASE_STRIP=true
  CARGO_PROFILE_RELEASE_INCREMENTAL=false
)

# with_progress NAME CRATES CMD...: runs CMD with its output in a log, and every 30 s says how many of
# about CRATES crates it has compiled and how long is left at that pace (cargo's own progress bar shows
# only on a terminal, and says nothing of time). On failure the end of the log is printed.
with_progress() {
  local name=$1 total=$2 log pid rc=0 start=$SECONDS next=$((SECONDS + 30)) n elapsed left
  shift 2
  log="$(mktemp)"
  "$@" >"$log" 2>&1 &
  pid=$!
  while kill -0 "$pid" 2>/dev/null; do
    sleep 2
    if [ "$SECONDS" -ge "$next" ]; then
      next=$((SECONDS + 30))
      n="$(grep -c '^ *Compiling ' "$log" || true)"
      elapsed=$((SECONDS - start))
      if [ "$n" -gt 0 ] && [ "$n" -lt "$total" ]; then
        left=$((elapsed * (total - n) / n))
        say "$name: $n of about $total crates compiled in $((elapsed / 60))m$((elapsed % 60))s; about $((left / 60 + 1)) min left"
      else
        say "$name: $n crates compiled in $((elapsed / 60))m$((elapsed % 60))s; finishing"
      fi
    fi
  done
  wait "$pid" || rc=$?
  if [ "$rc" -ne 0 ]; then
    tail -n 60 "$log" >&2
  else
    say "$name: built in $((SECONDS - start))s"
  fi
  rm -f "$log"
  return "$rc"
}

# Builds a crate with `cargo install`, keeping its build dir in the cache so a machine that keeps
# $HOME/.cache rebuilds it fast. CRATES: about how many crates it compiles (for the progress line).
cargo_install() {
  local crate=$1 version=$2 crates=$3 locked
  say "building $crate $version from crates.io (cargo install --locked, light profile; a cold build takes minutes)"
  # The crate's own Cargo.lock can name a dependency version that this registry does not have (seen:
  # wasm-bindgen-cli 0.2.130 locks webpki-roots 1.0.11, absent here). Then resolve its dependencies anew.
  for locked in --locked ""; do
    if with_progress "$crate" "$crates" env "${TOOL_PROFILE[@]}" CARGO_TARGET_DIR="$MOSTRADOR_CACHE/tools-target" \
      cargo install "$crate" --version "$version" ${locked:+"$locked"} --force; then
      return 0
    fi
    [ -z "$locked" ] || warn "cargo install --locked $crate $version failed; retrying without --locked (newest compatible dependencies)"
  done
  die "cargo install $crate $version failed"
}

# If another `cargo install CRATE` is running (another terminal, a previous setup), wait for it rather
# than start a second build of the same thing.
wait_for_other_install() {
  local crate=$1 waited=0
  while pgrep -a -x cargo 2>/dev/null | grep -Eq "install( .*)? ${crate}([@ ]|\$)"; do
    if [ $((waited % 60)) -eq 0 ]; then
      say "another 'cargo install $crate' is running; waiting for it to finish (${waited}s so far)"
    fi
    sleep 5
    waited=$((waited + 5))
  done
}

# --- Rust ------------------------------------------------------------------------------------------
command -v cargo >/dev/null 2>&1 || die "cargo not found: install Rust with rustup (stable)"
command -v rustup >/dev/null 2>&1 || die "rustup not found: it is needed to add the wasm32 target"

if rustup target list --installed | grep -qx wasm32-unknown-unknown; then
  say "ok: rust target wasm32-unknown-unknown"
else
  say "adding rust target wasm32-unknown-unknown"
  rustup target add wasm32-unknown-unknown || die "rustup target add wasm32-unknown-unknown failed"
fi
# The test command checks formatting and lints (scripts/test.sh, step "lint").
for component in rustfmt clippy; do
  if rustup component list --installed | grep -q "^$component"; then
    say "ok: rust component $component"
  else
    say "adding rust component $component"
    rustup component add "$component" || die "rustup component add $component failed"
  fi
done

cargo_leptos_version() { cargo leptos --version 2>/dev/null | awk '{print $2}' || true; }
have="$(cargo_leptos_version)"
if [ "$have" != "$CARGO_LEPTOS_VERSION" ]; then
  wait_for_other_install cargo-leptos
  have="$(cargo_leptos_version)"
fi
if [ "$have" = "$CARGO_LEPTOS_VERSION" ]; then
  say "ok: cargo-leptos $have"
else
  say "cargo-leptos is ${have:-not installed}; need $CARGO_LEPTOS_VERSION"
  cargo_install cargo-leptos "$CARGO_LEPTOS_VERSION" "$CARGO_LEPTOS_CRATES"
  have="$(cargo_leptos_version)"
  [ "$have" = "$CARGO_LEPTOS_VERSION" ] || die "cargo-leptos reports '${have}' after install, expected $CARGO_LEPTOS_VERSION"
fi

wb_want="$(wasm_bindgen_lock_version)"
[ -n "$wb_want" ] || die "no wasm-bindgen package in Cargo.lock"
wasm_bindgen_version() { wasm-bindgen --version 2>/dev/null | awk '{print $2}' || true; }
have="$(wasm_bindgen_version)"
if [ "$have" != "$wb_want" ]; then
  wait_for_other_install wasm-bindgen-cli
  have="$(wasm_bindgen_version)"
fi
if [ "$have" = "$wb_want" ]; then
  say "ok: wasm-bindgen $have (= Cargo.lock)"
else
  say "wasm-bindgen is ${have:-not installed}; Cargo.lock has $wb_want"
  cargo_install wasm-bindgen-cli "$wb_want" "$WASM_BINDGEN_CLI_CRATES"
  have="$(wasm_bindgen_version)"
  [ "$have" = "$wb_want" ] || die "wasm-bindgen reports '${have}' after install, expected $wb_want (is another wasm-bindgen earlier on PATH? $(command -v wasm-bindgen))"
fi

# --- wasm-opt from npm binaryen ----------------------------------------------------------------------
if ! command -v npm >/dev/null 2>&1 || ! command -v node >/dev/null 2>&1; then
  apt_install nodejs npm
fi
npm_ci_if_needed "$MOSTRADOR_ROOT/tools"
wasm_opt="$(command -v wasm-opt || true)"
[ "$wasm_opt" = "$MOSTRADOR_ROOT/tools/node_modules/.bin/wasm-opt" ] ||
  die "wasm-opt on PATH is '${wasm_opt}', expected tools/node_modules/.bin/wasm-opt (source scripts/env.sh)"
wasm_opt_version="$(wasm-opt --version)"
case "$wasm_opt_version" in
  *"version ${BINARYEN_MAJOR}"*) say "ok: $wasm_opt_version (tools/node_modules/.bin)" ;;
  *) die "wasm-opt reports '$wasm_opt_version', expected binaryen version $BINARYEN_MAJOR" ;;
esac

# --- target/ -> build cache ---------------------------------------------------------------------------
# A fresh clone links target/ to a cache outside the clone, so CI reuses earlier builds, while
# `cargo leptos build --release` still yields target/release/mostrador and target/site.
if [ -L target ]; then
  dest="$(readlink target)"
  [ -d "$dest" ] || { say "creating missing $dest (target/ points there)"; mkdir -p "$dest"; }
  say "ok: target -> $dest"
elif [ -e target ]; then
  say "ok: target/ is a plain directory (left as it is)"
else
  mkdir -p "$MOSTRADOR_CACHE/target"
  ln -s "$MOSTRADOR_CACHE/target" target
  say "linked target -> $MOSTRADOR_CACHE/target"
fi

# --- test tools ----------------------------------------------------------------------------------------
if [ -n "$want_test" ]; then
  missing=()
  [ -x /usr/bin/chromium ] || missing+=(chromium)
  [ -x /usr/bin/chromedriver ] || missing+=(chromium-driver)
  [ -x "$MOSTRADOR_PG_BIN/initdb" ] && [ -x "$MOSTRADOR_PG_BIN/pg_ctl" ] && [ -x "$MOSTRADOR_PG_BIN/postgres" ] ||
    missing+=(postgresql)
  command -v curl >/dev/null 2>&1 || missing+=(curl)
  # Let's Encrypt's test ACME server, for the ACME tests.
  [ -x /usr/bin/pebble ] || missing+=(pebble)
  if [ "${#missing[@]}" -gt 0 ]; then
    apt_install "${missing[@]}"
  fi
  [ -x "$MOSTRADOR_PG_BIN/initdb" ] || die "$MOSTRADOR_PG_BIN/initdb still missing after installing postgresql"
  say "ok: $(/usr/bin/chromium --version 2>/dev/null || echo chromium), $(/usr/bin/chromedriver --version 2>/dev/null | cut -d' ' -f1-2), $("$MOSTRADOR_PG_BIN/postgres" --version)"
  if [ "$(id -u)" -eq 0 ] && ! id postgres >/dev/null 2>&1; then
    warn "no 'postgres' user: as root the PostgreSQL tests run the cluster as that user"
  fi
  # The backup tests' S3-compatible server: moto's server mode from PyPI, in a venv under the cache
  # (env.sh appends its bin/ to PATH; a moto_server already on PATH is used as it is).
  if command -v moto_server >/dev/null 2>&1 || [ -x "$MOSTRADOR_CACHE/moto/bin/moto_server" ]; then
    say "ok: moto_server ($(command -v moto_server || echo "$MOSTRADOR_CACHE/moto/bin/moto_server"))"
  else
    python3 -c 'import venv, ensurepip' 2>/dev/null || apt_install python3-venv
    say "installing moto[server] from PyPI into $MOSTRADOR_CACHE/moto"
    python3 -m venv "$MOSTRADOR_CACHE/moto"
    "$MOSTRADOR_CACHE/moto/bin/pip" install --quiet 'moto[server]>=5,<6' || die "pip install moto[server] failed"
  fi
  # The API fuzzer (scripts/fuzz-api.sh): schemathesis from PyPI, in its own venv under the cache.
  SCHEMATHESIS_SPEC='schemathesis>=4.32,<5'
  if [ -x "$MOSTRADOR_CACHE/schemathesis/bin/schemathesis" ]; then
    say "ok: $("$MOSTRADOR_CACHE/schemathesis/bin/schemathesis" --version 2>/dev/null | head -1)"
  else
    python3 -c 'import venv, ensurepip' 2>/dev/null || apt_install python3-venv
    say "installing $SCHEMATHESIS_SPEC from PyPI into $MOSTRADOR_CACHE/schemathesis"
    python3 -m venv "$MOSTRADOR_CACHE/schemathesis"
    "$MOSTRADOR_CACHE/schemathesis/bin/pip" install --quiet "$SCHEMATHESIS_SPEC" || die "pip install schemathesis failed"
  fi
fi

say "done in $((SECONDS - started))s"
