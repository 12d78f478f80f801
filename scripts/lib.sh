# shellcheck shell=bash
# Helpers shared by setup.sh, run.sh and test.sh. Sourced; not a command.

_MOSTRADOR_TAG="${_MOSTRADOR_TAG:-$(basename "$0" .sh)}"

say() { printf '[%s] %s\n' "$_MOSTRADOR_TAG" "$*"; }
warn() { printf '[%s] WARNING: %s\n' "$_MOSTRADOR_TAG" "$*" >&2; }
die() {
  printf '\n[%s] ERROR: %s\n' "$_MOSTRADOR_TAG" "$*" >&2
  exit 1
}

# Runs a command as root: directly when we are root, else through sudo.
as_root() {
  if [ "$(id -u)" -eq 0 ]; then
    "$@"
  elif command -v sudo >/dev/null 2>&1; then
    sudo "$@"
  else
    die "need root to run: $* (not root and no sudo)"
  fi
}

_APT_UPDATED=""
apt_install() { # apt_install PKG... : installs Debian packages (apt-get update once per run)
  if [ -z "$_APT_UPDATED" ]; then
    say "apt-get update"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update -q || die "apt-get update failed"
    _APT_UPDATED=1
  fi
  say "apt-get install $*"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$@" || die "apt-get install $* failed"
}

# The wasm-bindgen version that Cargo.lock resolved (the CLI must match it exactly).
wasm_bindgen_lock_version() {
  awk '
    /^\[\[package\]\]/ { pkg = 0 }
    $0 == "name = \"wasm-bindgen\"" { pkg = 1; next }
    pkg && /^version = / { gsub(/"/, "", $3); print $3; exit }
  ' "$MOSTRADOR_ROOT/Cargo.lock"
}

# npm_ci_if_needed DIR: `npm ci` in DIR unless node_modules was installed from the same package-lock.json
# by the same Node major version (a stamp file in node_modules records both).
npm_ci_if_needed() {
  local dir=$1 stamp want
  [ -f "$dir/package.json" ] || die "$dir/package.json is missing"
  [ -f "$dir/package-lock.json" ] || die "$dir/package-lock.json is missing (commit it: \`npm install\` in $dir writes it)"
  stamp="$dir/node_modules/.mostrador-npm-ci"
  want="$(sha256sum "$dir/package-lock.json" | cut -d' ' -f1) node-$(node -p 'process.versions.node.split(".")[0]')"
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
    say "ok: $(basename "$dir")/node_modules matches package-lock.json"
    return 0
  fi
  say "npm ci in ${dir#"$MOSTRADOR_ROOT"/}"
  (cd "$dir" && npm ci --no-audit --no-fund) || die "npm ci failed in $dir"
  mkdir -p "$dir/node_modules"
  printf '%s\n' "$want" >"$stamp"
}

# A random password: 24 characters from [A-Za-z0-9_-] (144 bits).
random_password() {
  head -c 18 /dev/urandom | base64 | tr '+/' '-_'
}
