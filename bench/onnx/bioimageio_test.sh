#!/usr/bin/env bash
# Runs `bioimageio test` (bioimageio.core's test-model: format validation, reproduction of the packaged
# test output with onnxruntime, inference at the parameterised sizes n=0,1,2 and batch sizes 1, 2) on a
# bioimage.io model package (.zip, a folder, or an rdf.yaml), in bench/onnx/.venv (see setup.sh).
# Prints the validation summary; exits non-zero unless the status is "passed".
# Usage: bench/onnx/bioimageio_test.sh PACKAGE.zip [extra `bioimageio test` options, e.g. --stop-early]
set -euo pipefail
[ $# -ge 1 ] || { echo "usage: $0 PACKAGE.zip [bioimageio test options]" >&2; exit 2; }
here=$(cd "$(dirname "$0")" && pwd)
[ -x "$here/.venv/bin/bioimageio" ] || { echo "$here/.venv missing: run $here/setup.sh first" >&2; exit 2; }
pkg=$1; shift
summary=$(mktemp --suffix=.json)
trap 'rm -f "$summary"' EXIT
rc=0
"$here/.venv/bin/bioimageio" test "$pkg" --summary display --summary "$summary" "$@" || rc=$?
status=$("$here/.venv/bin/python" -c 'import json,sys; s=json.load(open(sys.argv[1])); print(s["status"], "metadata_completeness=%s" % s.get("metadata_completeness"))' "$summary" 2>/dev/null || echo unknown)
echo "bioimageio test $pkg: status=$status (exit $rc)"
[ "$rc" -eq 0 ] && [ "${status%% *}" = passed ]
