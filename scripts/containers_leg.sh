#!/usr/bin/env bash
# The containers leg of `make test` (also `make test-containers`): the compose stack and the testcontainers
# fixtures, for real. Uses the Docker engine that answers, or installs and starts one where we are root with apt
# (and stops it afterwards); skips in one line where neither is possible. Per compose profile: make up (compose),
# make e2e, make compose-tests, make down, and nothing of ours left on the engine; the same with LAMBDA=1 on
# MiniStack; then the integration suite through the testcontainers fixtures on LocalStack and MiniStack.
set -uo pipefail
cd "$(dirname "$0")/.."

PY=${PY:-.venv/bin/python}
RUN_DIR=${CONTAINERS_RUN_DIR:-.run/containers-leg}
PROFILES=${CONTAINERS_PROFILES:-localstack ministack moto}
FIXTURE_BACKENDS=${CONTAINERS_FIXTURE_BACKENDS:-localstack ministack}
# Every step is bounded: a hung step fails the leg instead of the CI job's own limit.
STEP_S=${CONTAINERS_STEP_S:-900}
mkdir -p "$RUN_DIR"
started=$(date +%s)
say() { echo "containers leg: $*"; }

"$PY" -m pipeline.local.containers engine-start --pidfile "$RUN_DIR/dockerd.pid" --log "$RUN_DIR/dockerd.log"
rc=$?
if [ "$rc" = 3 ]; then
  say "skipped (no engine answers and none can be started here; see the line above)"
  exit 0
elif [ "$rc" != 0 ]; then
  exit "$rc"
fi

failed=""
passed=""
cleanup() {
  for p in $PROFILES; do
    timeout 120 make --no-print-directory down MODE=compose EMULATOR="$p" RUN_DIR="$RUN_DIR/$p" >/dev/null 2>&1
  done
  "$PY" -m pipeline.local.containers prune
  # Said after the prune, so the disk it reports is what the next run starts from.
  if [ -n "$passed" ]; then
    say "passed in $(($(date +%s) - started)) s; $("$PY" -m pipeline.local.containers disk)"
  fi
  "$PY" -m pipeline.local.containers engine-stop --pidfile "$RUN_DIR/dockerd.pid"
}
trap cleanup EXIT

step() {
  local name=$1
  shift
  local t0=$(date +%s)
  if timeout "$STEP_S" "$@"; then
    say "$name: ok in $(($(date +%s) - t0)) s"
  else
    say "$name: FAILED (exit $?) after $(($(date +%s) - t0)) s"
    failed="$failed $name"
    return 1
  fi
}

step "free disk for the engine" "$PY" -m pipeline.local.containers disk-check || exit 1
step "images (upstream where pullable, else stand-ins)" "$PY" -m pipeline.local.containers ensure || exit 1

for p in $PROFILES; do
  args=(MODE=compose EMULATOR="$p" RUN_DIR="$RUN_DIR/$p")
  if step "$p: make up" make --no-print-directory up "${args[@]}"; then
    step "$p: make e2e" make --no-print-directory e2e "${args[@]}"
    step "$p: make compose-tests" make --no-print-directory compose-tests "${args[@]}"
  fi
  if [ -n "$failed" ]; then
    docker compose -p imgpipe --profile "$p" logs --no-color --tail 40 >"$RUN_DIR/$p-logs.txt" 2>&1
    say "$p: the last compose logs are in $RUN_DIR/$p-logs.txt"
  fi
  step "$p: make down" make --no-print-directory down "${args[@]}"
  step "$p: nothing of ours left on the engine" "$PY" -m pipeline.local.containers leftovers
done

# LAMBDA=1: the real zip, deployed by terraform/ through tflocal, run by MiniStack's Lambda in its container and fed
# by the event source mapping (no worker). LocalStack's own Lambda cannot run offline (docs/containers.md).
if [[ " $PROFILES " == *" ministack "* ]]; then
  args=(MODE=compose EMULATOR=ministack LAMBDA=1 RUN_DIR="$RUN_DIR/lambda")
  if step "ministack LAMBDA=1: make up" make --no-print-directory up "${args[@]}"; then
    step "ministack LAMBDA=1: make e2e" make --no-print-directory e2e "${args[@]}"
  fi
  step "ministack LAMBDA=1: make down" make --no-print-directory down "${args[@]}"
  step "ministack LAMBDA=1: nothing of ours left on the engine" "$PY" -m pipeline.local.containers leftovers
fi

for b in $FIXTURE_BACKENDS; do
  step "testcontainers ($b): tests/integration" env TEST_CONTAINERS=1 EMULATOR="$b" "$PY" -m pytest tests/integration -q -p no:cacheprovider
  step "testcontainers ($b): nothing left" "$PY" -m pipeline.local.containers leftovers
done

if [ -n "$failed" ]; then
  say "FAILED:$failed ($(($(date +%s) - started)) s)"
  exit 1
fi
passed=1
