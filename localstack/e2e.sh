#!/usr/bin/env bash
# The end-to-end run on LocalStack: jobs through the deployed API, fires
# through Lambda Invoke of the deployed fire function (LocalStack stores
# schedules but does not fire them), an agent process against LocalStack.
set -euo pipefail
cd "$(dirname "$0")/.."

export AWS_ENDPOINT_URL=${AWS_ENDPOINT_URL:-http://localhost.localstack.cloud:4566}
export AWS_ACCESS_KEY_ID=${AWS_ACCESS_KEY_ID:-test}
export AWS_SECRET_ACCESS_KEY=${AWS_SECRET_ACCESS_KEY:-test}
export AWS_REGION=${AWS_REGION:-us-east-1}

if [ ! -f localstack/outputs.json ]; then
  echo "localstack/outputs.json is missing: run make localstack-deploy first" >&2
  exit 1
fi
go run ./localstack/e2e -outputs localstack/outputs.json
