#!/usr/bin/env bash
# Runs every test of Mostrador, after installing what is missing (scripts/setup.sh --test). CI runs this.
#
#   0. lint                              cargo fmt --check (rustfmt.toml); clippy -D warnings on the
#                                        server (all targets) and on the wasm half (hydrate)
#   1. cargo test --workspace            unit and API tests (--exclude frontend --locked); the API tests
#                                        run on SQLite and on throwaway PostgreSQL clusters they start
#                                        with initdb/pg_ctl
#   2. cargo leptos build --release      the server binary and the wasm site, as users get them
#   3. API fuzzing (scripts/fuzz-api.sh) schemathesis on /api/openapi.json against a server of its own
#                                        (fresh SQLite data dir, then a throwaway PostgreSQL cluster),
#                                        as admin and as cashier, fixed seed
#   4. start target/release/mostrador    on a free port, fresh temp data dir, known admin password
#   5. browser tests (end2end/)          npm ci; npm test with BASE_URL and ADMIN_PASSWORD, Debian Chromium
#   6. stop the server with SIGTERM      it must shut down gracefully (exit 0) within 20 s
#
# Stops at the first failing step and says which; prints the time of each step at the end.
set -euo pipefail

_MOSTRADOR_TAG="test"
# shellcheck source=scripts/env.sh
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
# shellcheck source=scripts/lib.sh
source "$MOSTRADOR_ROOT/scripts/lib.sh"
cd "$MOSTRADOR_ROOT"

HEALTH_TIMEOUT=${MOSTRADOR_HEALTH_TIMEOUT:-60}
STOP_TIMEOUT=20

started=$SECONDS
current_step=""
step_start=0
timings=()
work_dir=""
server_pid=""
server_log=""
browser_tap=""

print_timings() {
  [ "${#timings[@]}" -gt 0 ] || return 0
  echo
  echo "Timings:"
  printf '  %s\n' "${timings[@]}"
  printf '  %-44s %5ss\n' "total" "$((SECONDS - started))"
}

print_server_log() {
  if [ -n "$server_log" ] && [ -s "$server_log" ]; then
    echo "----- server log (last 200 lines of $server_log) -----"
    tail -n 200 "$server_log"
    echo "----- end of server log -----"
  fi
}

cleanup() {
  local rc=$?
  trap - EXIT
  if [ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null; then
    kill -TERM "$server_pid" 2>/dev/null || true
    for _ in $(seq 1 50); do
      kill -0 "$server_pid" 2>/dev/null || break
      sleep 0.2
    done
    kill -KILL "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
  if [ "$rc" -ne 0 ]; then
    [ -z "$current_step" ] || timings+=("$(printf '%-44s %5ss  FAILED' "$current_step" "$((SECONDS - step_start))")")
    print_server_log
    print_browser_failures
  fi
  [ -z "$work_dir" ] || rm -rf "$work_dir"
  print_timings
  if [ "$rc" -ne 0 ]; then
    printf '\n[test] FAILED%s (exit %s)\n' "${current_step:+ at step: $current_step}" "$rc" >&2
  else
    printf '\n[test] all steps passed\n'
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# run_step NAME COMMAND...: a failing command exits the script (set -e) and cleanup names the step.
run_step() {
  current_step=$1
  shift
  step_start=$SECONDS
  printf '\n[test] ==> %s\n' "$current_step"
  "$@"
  timings+=("$(printf '%-44s %5ss' "$current_step" "$((SECONDS - step_start))")")
  current_step=""
}

setup() { "$MOSTRADOR_ROOT/scripts/setup.sh" --test; }

# Formatting (rustfmt.toml) and clippy with warnings as errors, on both halves: the server (ssr, with
# tests and benches) and the browser's wasm (hydrate).
lint() {
  cargo fmt --all --check || die "formatting differs from rustfmt.toml: run \`cargo fmt --all\`"
  cargo clippy --workspace --exclude frontend --all-targets --locked -- -D warnings
  cargo clippy -p frontend --target wasm32-unknown-unknown --locked -- -D warnings
}

cargo_tests() {
  command -v initdb >/dev/null || die "initdb is not on PATH (expected in $MOSTRADOR_PG_BIN)"
  # `frontend` is only the wasm hydrate entry, built by the release step. Testing it with the rest would
  # unify its `hydrate` feature into `app` next to the server's `ssr`: a build that never ships, and one
  # whose view types overflow rustc's recursion limit.
  cargo test --workspace --exclude frontend --locked
}

release_build() {
  cargo leptos build --release
  [ -x target/release/mostrador ] || die "target/release/mostrador missing after the release build"
  [ -d target/site/pkg ] || die "target/site/pkg missing after the release build"
}

free_port() {
  node -e 'const s = require("net").createServer();
           s.listen(0, "127.0.0.1", () => { console.log(s.address().port); s.close(); });'
}

start_server() {
  work_dir="$(mktemp -d "${TMPDIR:-/tmp}/mostrador-test.XXXXXX")"
  server_log="$work_dir/server.log"
  PORT="$(free_port)"
  BASE_URL="http://127.0.0.1:$PORT"
  ADMIN_PASSWORD="$(random_password)"
  say "server on $BASE_URL, data dir $work_dir/data, log $server_log"
  env -u DATABASE_URL MOSTRADOR_ADMIN_PASSWORD="$ADMIN_PASSWORD" \
    target/release/mostrador serve --addr "127.0.0.1:$PORT" --data-dir "$work_dir/data" \
    >"$server_log" 2>&1 </dev/null &
  server_pid=$!

  local deadline=$((SECONDS + HEALTH_TIMEOUT)) code="" rc=0
  while :; do
    if ! kill -0 "$server_pid" 2>/dev/null; then
      wait "$server_pid" && rc=0 || rc=$?
      server_pid=""
      die "the server exited (status $rc) before /health answered 200"
    fi
    code="$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "$BASE_URL/health" || true)"
    [ "$code" = 200 ] && break
    [ "$SECONDS" -lt "$deadline" ] || die "GET $BASE_URL/health did not answer 200 within ${HEALTH_TIMEOUT}s (last: ${code:-no answer})"
    sleep 0.5
  done
  say "GET /health: 200 $(curl -s --max-time 5 "$BASE_URL/health" || true)"
}

# as_pg_owner CMD...: PostgreSQL refuses to run as root; the tests' clusters belong to `postgres` then.
as_pg_owner() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

# The fuzzer writes thousands of odd records: it gets a server and a data dir of its own, on SQLite
# (`fuzz_on sqlite`) or on a throwaway PostgreSQL cluster (`fuzz_on postgres`).
fuzz_on() {
  local engine=$1 dir port password pid rc=0 db_url="" pg_port
  dir="$(mktemp -d "${TMPDIR:-/tmp}/mostrador-fuzz.XXXXXX")"
  if [ "$engine" = postgres ]; then
    [ "$(id -u)" != 0 ] || chown postgres: "$dir"
    pg_port="$(free_port)"
    as_pg_owner "$MOSTRADOR_PG_BIN/initdb" -D "$dir/pg" -U postgres --auth=trust --no-sync -E UTF8 >"$dir/initdb.log" 2>&1 ||
      { cat "$dir/initdb.log"; die "initdb failed"; }
    as_pg_owner "$MOSTRADOR_PG_BIN/pg_ctl" -D "$dir/pg" -w -l "$dir/pg.log" \
      -o "-p $pg_port -k $dir -c listen_addresses=127.0.0.1 -c fsync=off" start >/dev/null ||
      { cat "$dir/pg.log"; die "PostgreSQL did not start"; }
    as_pg_owner "$MOSTRADOR_PG_BIN/createdb" -h 127.0.0.1 -p "$pg_port" -U postgres mostrador
    db_url="postgres://postgres@127.0.0.1:$pg_port/mostrador"
  fi
  mkdir -p "$dir/data"
  port="$(free_port)"
  password="$(random_password)"
  env -u DATABASE_URL ${db_url:+DATABASE_URL="$db_url"} MOSTRADOR_ADMIN_PASSWORD="$password" \
    MOSTRADOR_BACKUP_SCHEDULE=off MOSTRADOR_BACKUP_VERIFY_SCHEDULE=off \
    target/release/mostrador serve --addr "127.0.0.1:$port" --data-dir "$dir/data" >"$dir/server.log" 2>&1 </dev/null &
  pid=$!
  local deadline=$((SECONDS + HEALTH_TIMEOUT))
  until [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "http://127.0.0.1:$port/health" || true)" = 200 ]; do
    kill -0 "$pid" 2>/dev/null || { tail -n 50 "$dir/server.log"; rc=1; break; }
    [ "$SECONDS" -lt "$deadline" ] || { kill "$pid"; echo "no /health 200 within ${HEALTH_TIMEOUT}s"; rc=1; break; }
    sleep 0.5
  done
  if [ "$rc" -eq 0 ]; then
    BASE_URL="http://127.0.0.1:$port" ADMIN_PASSWORD="$password" FUZZ_REPORT_DIR="$dir/reports" \
      bash scripts/fuzz-api.sh || rc=$?
  fi
  kill -TERM "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  [ "$engine" != postgres ] || as_pg_owner "$MOSTRADOR_PG_BIN/pg_ctl" -D "$dir/pg" -m immediate -w stop >/dev/null || true
  if [ "$rc" -ne 0 ]; then
    echo "----- fuzzing server log on $engine (last 100 lines) -----"
    tail -n 100 "$dir/server.log"
    return "$rc"
  fi
  rm -rf "$dir"
}

browser_tests() {
  [ -f end2end/package.json ] || die "end2end/package.json is missing: no browser tests to run"
  npm_ci_if_needed "$MOSTRADOR_ROOT/end2end"
  browser_tap="$work_dir/browser.tap"
  (cd end2end && BASE_URL="$BASE_URL" ADMIN_USERNAME=admin ADMIN_PASSWORD="$ADMIN_PASSWORD" npm test) 2>&1 |
    tee "$browser_tap"
}

# A CI log keeps only its end: the browser tests that failed, and why, are printed last (stack frames of
# the minified wasm and assert's expected/actual dumps left out, each failure cut to 40 lines).
print_browser_failures() {
  [ -n "$browser_tap" ] && [ -s "$browser_tap" ] || return 0
  grep -q '^not ok' "$browser_tap" || return 0
  echo "----- failed browser tests -----"
  awk '
    /^not ok / { on = 1; n = 0; print; next }
    on && /^  \.\.\.$/ { on = 0; print "  ..."; next }
    on && /^(ok|# Subtest)/ { on = 0 }
    on && /^  (expected|actual|operator):/ { on = 2 }
    on == 2 && /^  stack:/ { on = 1 }
    on == 1 && !/wasm-function|^ *at |^ *\x27 *at |^ *\+ *\x27 *at / { if (n++ < 40) print }
  ' "$browser_tap"
  echo "----- end of failed browser tests -----"
}

stop_server() {
  local rc=0
  kill -TERM "$server_pid"
  for _ in $(seq 1 $((STOP_TIMEOUT * 5))); do
    kill -0 "$server_pid" 2>/dev/null || break
    sleep 0.2
  done
  if kill -0 "$server_pid" 2>/dev/null; then
    kill -KILL "$server_pid" 2>/dev/null || true
    die "the server did not stop within ${STOP_TIMEOUT}s of SIGTERM (killed it)"
  fi
  wait "$server_pid" || rc=$?
  server_pid=""
  [ "$rc" -eq 0 ] || die "the server exited with status $rc after SIGTERM (a graceful shutdown exits 0)"
  say "the server shut down gracefully"
}

run_step "setup (scripts/setup.sh --test)" setup
run_step "lint (cargo fmt --check, clippy -D warnings)" lint
run_step "cargo test (workspace but frontend)" cargo_tests
run_step "cargo leptos build --release" release_build
run_step "API fuzzing on SQLite (schemathesis)" fuzz_on sqlite
run_step "API fuzzing on PostgreSQL (schemathesis)" fuzz_on postgres
run_step "start server, wait for /health 200" start_server
run_step "browser tests (end2end: npm test)" browser_tests
run_step "stop server (SIGTERM)" stop_server
