#!/usr/bin/env bash
# Lints openapi/openapi.yaml with @redocly/cli (recommended-strict, openapi/redocly.yaml):
# exits non-zero on any problem. The CLI is installed by scripts/install-deps.sh --test.
#   lint.sh <source dir>          (SH_REDOCLY overrides the path of the CLI)
set -euo pipefail
src=${1:?usage: lint.sh <source dir>}
redocly=${SH_REDOCLY:-/opt/streamhouse-tools/node_modules/.bin/redocly}
if [[ ! -x "$redocly" ]]; then
  echo "FAIL: $redocly not found; run scripts/install-deps.sh --test" >&2
  exit 1
fi
# No telemetry, no update check: the test only reads the document.
export REDOCLY_TELEMETRY=off REDOCLY_SUPPRESS_UPDATE_NOTICE=true DO_NOT_TRACK=1
cd "$src"
"$redocly" lint --config openapi/redocly.yaml --format=stylish openapi/openapi.yaml
