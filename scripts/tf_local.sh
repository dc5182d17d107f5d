#!/usr/bin/env bash
# `make tf-local`: apply terraform/ unchanged with tflocal to the running local emulator, then run the e2e
# scenario against the resources terraform made (their names come from `terraform output`; TF_LOCAL_E2E=0 stops
# after writing them to $TF_LOCAL_DIR/env).
# Where the emulator runs Lambda functions (MiniStack), the deployed zip itself consumes the queue through the
# event source mapping; elsewhere (moto, and LocalStack without Docker, which cannot run functions) the local
# worker stands in for the Lambda service, and the mapping is applied disabled so that it takes no messages.
# A short function timeout (TF_LOCAL_TIMEOUT_S, 5 s) keeps the DLQ path quick: the visibility timeout follows it
# (6 x timeout), as the configuration's precondition demands of every deployment.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
endpoint=${AWS_ENDPOINT_URL:?set AWS_ENDPOINT_URL (make tf-local does)}
mode=${TF_LOCAL_MODE:-lambda}
zip=${LAMBDA_ZIP:?set LAMBDA_ZIP}
work=${TF_LOCAL_DIR:-$root/.run/tf-local}
prefix=${TF_LOCAL_PREFIX:-imgpipe-tf}
py=$root/.venv/bin/python

if ! curl -s -o /dev/null "$endpoint"; then
  echo "tf-local: no emulator answers at $endpoint: run 'make up' first" >&2
  exit 1
fi
# Always the discovered config: a TF_CLI_CONFIG_FILE already in the environment may name a file that is not there.
TF_CLI_CONFIG_FILE=$("$root/scripts/tf-cli-config.sh" "$root/.tfcli/terraformrc")
export TF_CLI_CONFIG_FILE
export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_DEFAULT_REGION=us-east-1 AWS_REGION=us-east-1
export DISABLE_DEPRECATION_NOTICE=1
export S3_HOSTNAME=${S3_HOSTNAME:-127.0.0.1}  # path-style S3: no wildcard DNS needed
# The same configuration, copied so that tflocal's provider override and the local state stay out of terraform/.
mkdir -p "$work"
# tflocal writes its provider override afresh (and refuses to start if one is there); the state stays, since the
# emulator keeps what was applied until `make down` (`make up` removes this folder with a fresh emulator).
rm -f "$work"/localstack_providers_override.tf
cp "$root"/terraform/*.tf "$root/terraform/.terraform.lock.hcl" "$work/"
rm -rf "$work/modules" && cp -r "$root/terraform/modules" "$work/modules"
rm -rf "$work/cdn" && cp -r "$root/terraform/cdn" "$work/cdn"
cd "$work"
"$root/.venv/bin/tflocal" init -input=false -no-color > init.log || { cat init.log >&2; exit 1; }
if ! "$root/.venv/bin/tflocal" apply -auto-approve -input=false -no-color \
  -var "name_prefix=$prefix" -var "lambda_zip_path=$zip" -var "lambda_architecture=${LAMBDA_ARCH:-x86_64}" \
  -var "lambda_timeout_s=${TF_LOCAL_TIMEOUT_S:-5}" -var "force_destroy=true" -var "deletion_protection=false" -var "max_concurrency=2" \
  -var "event_source_mapping_enabled=$([ "$mode" = lambda ] && echo true || echo false)" \
  -var "http_api_enabled=${TF_LOCAL_HTTP_API:-true}" -var "cors_allow_origin=${CORS_ALLOW_ORIGIN:-http://127.0.0.1:8080}" -var "check_account_quotas=false" \
  > apply.log 2>&1; then
  grep -A 12 '^Error' apply.log >&2 || tail -n 40 apply.log >&2
  echo "tf-local: terraform apply failed; the whole output is in $work/apply.log" >&2
  exit 1
fi
tail -n 3 apply.log
terraform output -json handler_environment > handler_env.json
cd "$root"
# The handler's own environment, exactly as terraform gave it to the Lambda, plus the endpoint: written to a file
# that `make e2e` reads too.
"$py" -c 'import json, shlex, sys
print(f"export AWS_ENDPOINT_URL={shlex.quote(sys.argv[2])}")
for k, v in json.load(open(sys.argv[1])).items(): print(f"export {k}={shlex.quote(v)}")' \
  "$work/handler_env.json" "$endpoint" > "$work/env"
. "$work/env"
if [ "${TF_LOCAL_E2E:-1}" != 1 ]; then
  echo "tf-local: applied; environment in $work/env"
  exit 0
fi
echo "tf-local: applied; e2e against terraform's resources (mode: $mode)"
worker_pid=""
if [ "$mode" = worker ]; then
  WORKER_WAIT_S=2 "$py" -m pipeline worker > "$work/worker.log" 2>&1 &
  worker_pid=$!
fi
status=0
"$py" -m pipeline e2e --samples samples --timeout "${E2E_TIMEOUT:-180}" || status=$?
if [ -n "$worker_pid" ]; then kill -TERM "$worker_pid"; wait "$worker_pid" || true; fi
exit $status
