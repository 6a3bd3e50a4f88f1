#!/usr/bin/env bash
# Regenerate the typed API client from the server's own OpenAPI document.
# src/lib/api/openapi.json and schema.d.ts are committed; tests/e2e/test_web_api_types.py
# regenerates them and fails when they differ, so a changed endpoint breaks the build.
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-$(pwd)/../.venv/bin/python}"
(cd .. && "$PY" -m scrobbler.openapi web/src/lib/api/openapi.json)
# Route order is not stable between runs: sort keys so the committed file only changes with the API.
"$PY" -c 'import json,sys; p=sys.argv[1]; d=json.load(open(p)); open(p,"w").write(json.dumps(d, indent=2, sort_keys=True)+"\n")' src/lib/api/openapi.json
npx --no-install openapi-typescript src/lib/api/openapi.json -o src/lib/api/schema.d.ts --alphabetize >/dev/null
echo "generated src/lib/api/schema.d.ts"
