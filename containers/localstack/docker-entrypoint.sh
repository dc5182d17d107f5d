#!/bin/bash
# The stand-in LocalStack image's entrypoint, doing what upstream's does: LOCALSTACK_* settings become plain ones
# (LOCALSTACK_HOST keeps its name), the venv is activated (so `python3` in an init hook is LocalStack's, which has
# boto3), BOOT hooks run, then localstack-supervisor starts and supervises LocalStack.
set -eo pipefail
shopt -s nullglob

while IFS='=' read -r name _; do
  case "$name" in
    LOCALSTACK_HOST | LOCALSTACK_SUPERVISOR_COMMAND) ;;
    LOCALSTACK_*) export "${name#LOCALSTACK_}=${!name}" ;;
  esac
done < <(env)

mkdir -p /var/lib/localstack/logs
# shellcheck disable=SC1091
source /opt/code/localstack/.venv/bin/activate

for hook in /etc/localstack/init/boot.d/*; do
  if [ -x "$hook" ]; then "$hook"; fi
done

exec localstack-supervisor
