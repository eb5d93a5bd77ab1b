#!/usr/bin/env bash
# Validates the Kubernetes manifests against the API's JSON schemas, offline: the
# kubernetes-validate package (PyPI) ships the schemas of each Kubernetes release. Installs it
# into a virtual environment beside this script on first use.
#   deploy/kubernetes/validate.sh [FILE.yaml …]   (default: every manifest here)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
venv="$here/.venv"
if [ ! -x "$venv/bin/kubernetes-validate" ]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q "kubernetes-validate==1.37.0"
fi
files=("$@")
[ ${#files[@]} -gt 0 ] || files=("$here"/*.yaml)
# 1.31: the first release where backoffLimitPerIndex and FailIndex are generally available.
"$venv/bin/kubernetes-validate" --strict -k 1.31.0 "${files[@]}"
