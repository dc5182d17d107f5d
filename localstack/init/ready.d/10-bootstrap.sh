#!/bin/bash
# Runs inside LocalStack once it is ready: create every resource exactly as `pipeline bootstrap` does.
# The package is mounted read-only at /opt/imgpipe; bootstrapping needs only boto3, which LocalStack's Python has.
set -euo pipefail
export PYTHONPATH=/opt/imgpipe
export AWS_ENDPOINT_URL=http://localhost:4566 AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test
export AWS_REGION=${AWS_DEFAULT_REGION:-us-east-1}
if ! python3 -c "import boto3" 2>/dev/null; then
  echo "imgpipe: this LocalStack image's python3 has no boto3; cannot bootstrap" >&2
  exit 1
fi
python3 -m pipeline.local.bootstrap
echo "imgpipe: bootstrap done"
