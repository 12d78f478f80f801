#!/usr/bin/env bash
# Fuzzes the whole HTTP API of a running server with schemathesis, from its own /api/openapi.json:
# once signed in as an admin, once as a cashier that this script creates. A fixed seed and a fixed
# number of examples per operation make a run repeatable. It fails on any 5xx, any answer whose status,
# content type or body the document does not describe, and any error without the JSON envelope.
#
#   BASE_URL=http://127.0.0.1:PORT ADMIN_PASSWORD=... scripts/fuzz-api.sh
#
# Optional: FUZZ_EXAMPLES (per operation, default 15), FUZZ_SEED (default 20261130), FUZZ_REPORT_DIR.
# Called by scripts/test.sh against a fresh server of its own; scripts/setup.sh --test installs schemathesis.
set -euo pipefail

_MOSTRADOR_TAG="fuzz"
# shellcheck source=scripts/env.sh
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
# shellcheck source=scripts/lib.sh
source "$MOSTRADOR_ROOT/scripts/lib.sh"

: "${BASE_URL:?BASE_URL is not set}"
: "${ADMIN_PASSWORD:?ADMIN_PASSWORD is not set}"
EXAMPLES=${FUZZ_EXAMPLES:-15}
SEED=${FUZZ_SEED:-20261130}
REPORT_DIR=${FUZZ_REPORT_DIR:-$(mktemp -d "${TMPDIR:-/tmp}/mostrador-fuzz.XXXXXX")}
ST="$MOSTRADOR_CACHE/schemathesis/bin/schemathesis"
[ -x "$ST" ] || die "schemathesis is not installed (scripts/setup.sh --test installs it into $MOSTRADOR_CACHE/schemathesis)"

# sign_in USER PASSWORD: prints the session cookie ("mostrador_session=...").
sign_in() {
  local jar
  jar="$(mktemp)"
  curl -sf -c "$jar" -H 'content-type: application/json' \
    -d "{\"username\":\"$1\",\"password\":\"$2\"}" "$BASE_URL/api/auth/login" >/dev/null ||
    die "could not sign in as $1 at $BASE_URL"
  awk '$6 == "mostrador_session" { print $6 "=" $7 }' "$jar"
  rm -f "$jar"
}

admin_cookie="$(sign_in admin "$ADMIN_PASSWORD")"
cashier_password="$(random_password)"
code="$(curl -s -o /dev/null -w '%{http_code}' -H "cookie: $admin_cookie" -H 'content-type: application/json' \
  -d "{\"username\":\"fuzz-cashier\",\"password\":\"$cashier_password\",\"role\":\"cashier\"}" "$BASE_URL/api/users")"
[ "$code" = 201 ] || die "creating the cashier answered $code"
cashier_cookie="$(sign_in fuzz-cashier "$cashier_password")"

# run_as NAME COOKIE: one schemathesis run with that session.
run_as() {
  local name=$1 cookie=$2
  say "schemathesis as $name: $EXAMPLES examples per operation, seed $SEED (report in $REPORT_DIR/$name)"
  # Logout would end the session the rest of the run uses; the HA peer routes authenticate with the
  # peer secret, not a session, and are fuzzed like any other route (they must refuse cleanly).
  "$ST" run "$BASE_URL/api/openapi.json" \
    --url "$BASE_URL" \
    --header "cookie: $cookie" \
    --exclude-path /api/auth/logout \
    --checks not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance \
    --max-examples "$EXAMPLES" \
    --seed "$SEED" \
    --phases examples,coverage,fuzzing \
    --generation-database none \
    --request-timeout 30 \
    --workers 1 \
    --no-color \
    --report junit --report-dir "$REPORT_DIR/$name"
}

status=0
run_as admin "$admin_cookie" || status=1
run_as cashier "$cashier_cookie" || status=1
[ "$status" -eq 0 ] || die "schemathesis found failures (above; reports in $REPORT_DIR)"
say "no failures"
