#!/usr/bin/env bash
# Sets up what is missing, builds the release (server binary + wasm site) and runs the server.
#
#   scripts/run.sh [mostrador serve options, e.g. --addr 0.0.0.0:3000 --data-dir /var/lib/mostrador]
#
# Runs from the repository root, so relative paths (the default ./data) are relative to it.
# First start with SQLite (no DATABASE_URL) and no database yet: unless MOSTRADOR_ADMIN_PASSWORD is set, a
# random password for user `admin` is made, kept in DATA_DIR/first-admin-password.txt (mode 600) and
# printed; the server creates `admin` with it because no user exists yet.
set -euo pipefail

_MOSTRADOR_TAG="run"
# shellcheck source=scripts/env.sh
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
# shellcheck source=scripts/lib.sh
source "$MOSTRADOR_ROOT/scripts/lib.sh"
cd "$MOSTRADOR_ROOT"

"$MOSTRADOR_ROOT/scripts/setup.sh"

say "cargo leptos build --release"
cargo leptos build --release || die "the release build failed (cargo leptos build --release)"
[ -x target/release/mostrador ] || die "target/release/mostrador was not built"

# The options the server will see: from the arguments, else the environment, else the defaults.
data_dir="${MOSTRADOR_DATA_DIR:-./data}"
addr="${MOSTRADOR_ADDR:-127.0.0.1:3000}"
data_dir_in_args=""
args=("$@")
for ((i = 0; i < ${#args[@]}; i++)); do
  case "${args[i]}" in
    --data-dir) data_dir="${args[i + 1]:-}" data_dir_in_args=1 ;;
    --data-dir=*) data_dir="${args[i]#--data-dir=}" data_dir_in_args=1 ;;
    --addr) addr="${args[i + 1]:-}" ;;
    --addr=*) addr="${args[i]#--addr=}" ;;
  esac
done
[ -n "$data_dir" ] || die "--data-dir needs a value"

host="${addr%:*}" port="${addr##*:}"
case "$host" in
  0.0.0.0 | "" | "[::]") host=127.0.0.1 ;;
esac
url="http://${host}:${port}"

password_file="$data_dir/first-admin-password.txt"
if [ -n "${MOSTRADOR_ADMIN_PASSWORD:-}" ]; then
  say "MOSTRADOR_ADMIN_PASSWORD is set: the server creates user 'admin' with it if no user exists yet"
elif [ -f "$password_file" ]; then
  # The server uses it only while no user exists, so passing it again is harmless and lets a first start
  # that stopped early still create the admin.
  MOSTRADOR_ADMIN_PASSWORD="$(cat "$password_file")"
  export MOSTRADOR_ADMIN_PASSWORD
  say "the first admin password is in $password_file (user: admin); delete that file once you have changed it"
elif [ -z "${DATABASE_URL:-}" ] && [ ! -e "$data_dir/mostrador.db" ]; then
  mkdir -p "$data_dir"
  MOSTRADOR_ADMIN_PASSWORD="$(random_password)"
  export MOSTRADOR_ADMIN_PASSWORD
  (umask 077 && printf '%s\n' "$MOSTRADOR_ADMIN_PASSWORD" >"$password_file")
  chmod 600 "$password_file"
  echo
  echo "  First start: user 'admin' is created with a random password, kept in $password_file"
  echo
  echo "  URL: ${url}  usuario: admin  contraseña: ${MOSTRADOR_ADMIN_PASSWORD}"
  echo
else
  say "to add an admin: target/release/mostrador user create --username NAME --role admin --data-dir $data_dir"
  [ -z "${DATABASE_URL:-}" ] || say "  (with DATABASE_URL set, as now, the user goes to that PostgreSQL database)"
fi

serve_args=(serve)
[ -n "$data_dir_in_args" ] || serve_args+=(--data-dir "$data_dir")
say "starting: target/release/mostrador ${serve_args[*]}${*:+ $*}"
exec target/release/mostrador "${serve_args[@]}" "$@"
