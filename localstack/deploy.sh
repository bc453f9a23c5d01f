#!/usr/bin/env bash
# Deploys the fleetcron stack to LocalStack with cdklocal (pinned in
# package.json) and writes its outputs to localstack/outputs.json.
set -euo pipefail
cd "$(dirname "$0")/.."

export AWS_ENDPOINT_URL=${AWS_ENDPOINT_URL:-http://localhost.localstack.cloud:4566}
export AWS_ACCESS_KEY_ID=${AWS_ACCESS_KEY_ID:-test}
export AWS_SECRET_ACCESS_KEY=${AWS_SECRET_ACCESS_KEY:-test}
export AWS_REGION=${AWS_REGION:-us-east-1}
export CDK_DEFAULT_ACCOUNT=000000000000 CDK_DEFAULT_REGION=$AWS_REGION
export JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION=1

cdklocal=node_modules/.bin/cdklocal
"$cdklocal" bootstrap --no-notices "aws://$CDK_DEFAULT_ACCOUNT/$CDK_DEFAULT_REGION"
"$cdklocal" deploy Fleetcron --no-notices --require-approval never --outputs-file localstack/outputs.json
echo "deployed; outputs in localstack/outputs.json"
