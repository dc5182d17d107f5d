#!/bin/bash
# Runs inside LocalStack once it is ready: create every resource exactly as `pipeline bootstrap` does.
# In docker-compose the package is mounted read-only at /opt/imgpipe and LocalStack's own python3 (which has
# boto3) runs it; embedded (`pipeline emulator start --backend localstack`), the project's Python, package and
# endpoint are passed in as IMGPIPE_PYTHON, IMGPIPE_ROOT and IMGPIPE_ENDPOINT.
set -euo pipefail
export PYTHONPATH=${IMGPIPE_ROOT:-/opt/imgpipe}
export AWS_ENDPOINT_URL=${IMGPIPE_ENDPOINT:-http://localhost:4566} AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test
export AWS_REGION=${AWS_DEFAULT_REGION:-us-east-1}
python=${IMGPIPE_PYTHON:-python3}
if ! "$python" -c "import boto3" 2>/dev/null; then
  echo "imgpipe: $python has no boto3; cannot bootstrap" >&2
  exit 1
fi
"$python" -m pipeline.local.bootstrap
echo "imgpipe: bootstrap done"
