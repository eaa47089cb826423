#!/usr/bin/env bash
# Copies the CRDs the crds module generates and commits (crds/*.yml) into the chart (helm/lbmode/crds/).
# The e2e test ChartCrdsTest fails while the two differ.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
shopt -s nullglob
crds=("$ROOT"/crds/*.yml)
if [ ${#crds[@]} -eq 0 ]; then
  echo "sync-crds: no crds/*.yml: build the crds module first (./mvnw -B install -pl crds -DskipTests)" >&2
  exit 2
fi
rm -f "$ROOT"/helm/lbmode/crds/*.yml
cp "${crds[@]}" "$ROOT/helm/lbmode/crds/"
echo "sync-crds: copied ${#crds[@]} CRD(s) into helm/lbmode/crds/"
