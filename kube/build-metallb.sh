#!/usr/bin/env bash
# Builds MetalLB's controller and speaker (go.universe.tf/metallb) from the Go module proxy, once, and copies its
# CRDs out of the module: $LBMODE_METALLB_CACHE/bin/{controller,speaker} and $LBMODE_METALLB_CACHE/crds/*.yaml
# (default ~/.cache/lbmode/metallb-<version>). A second run with the binaries present does nothing. Prints the cache
# directory as its last line (--print-dir: only that, no build).
#
# Why v0.15.2 and a wrapper module: the proxy serves MetalLB v0.11.0, v0.12.1, v0.13.5, v0.15.2 and v0.16.2. v0.16.2
# requires github.com/metallb/frr-k8s v0.0.27 and v0.15.2 requires v0.0.20, neither of which the proxy serves
# ("403 Forbidden: This module version is not available"; it serves v0.0.17, v0.0.18 and v0.0.21), so
# `go install go.universe.tf/metallb/speaker@vX` fails for both. v0.16.2 with frr-k8s v0.0.21 does not compile
# (internal/bgp/frrk8s uses frr-k8s' PrefixesWithAsPathPrepend, added after v0.0.21). v0.15.2 with v0.0.21 does: a
# main module requires MetalLB and replaces frr-k8s with v0.0.21. frr-k8s is only MetalLB's client for its FRR-K8s BGP
# backend, which lbmode's lab (layer 2 only) never enables.
set -euo pipefail

VERSION=${LBMODE_METALLB_VERSION:-v0.15.2}
FRR_K8S=${LBMODE_METALLB_FRR_K8S:-v0.0.21}
CACHE=${LBMODE_METALLB_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/lbmode/metallb-$VERSION}
BIN=$CACHE/bin
WORK=$CACHE/src

log() { echo "metallb build: $*" >&2; }

if [ "${1:-}" = "--print-dir" ]; then echo "$CACHE"; exit 0; fi
if [ -x "$BIN/controller" ] && [ -x "$BIN/speaker" ] && [ -s "$CACHE/crds/metallb.io_l2advertisements.yaml" ]; then
  echo "$CACHE"
  exit 0
fi

command -v go >/dev/null || { echo "metallb build: the go command is needed (Go 1.26 or newer for MetalLB $VERSION)" >&2; exit 2; }
export CGO_ENABLED=0 GOFLAGS=-buildvcs=false GOTOOLCHAIN=local
started=$(date +%s)
mkdir -p "$BIN" "$WORK" "$CACHE/crds"

gomod=$(go mod download -json "go.universe.tf/metallb@$VERSION" | sed -n 's/^\t"GoMod": "\(.*\)",$/\1/p')
[ -s "$gomod" ] || { echo "metallb build: could not download go.universe.tf/metallb@$VERSION" >&2; exit 1; }
{
  echo "module lbmode.local/metallbbuild"
  echo
  sed -n 's/^go \(.*\)$/go \1/p' "$gomod" | head -1
  echo
  echo "require go.universe.tf/metallb $VERSION"
  echo
  echo "replace github.com/metallb/frr-k8s => github.com/metallb/frr-k8s $FRR_K8S"
} >"$WORK/go.mod"
printf '//go:build tools\n\npackage tools\n\nimport (\n\t_ "go.universe.tf/metallb/controller"\n\t_ "go.universe.tf/metallb/speaker"\n)\n' \
  >"$WORK/tools.go"
(cd "$WORK" && go mod tidy -e >/dev/null 2>&1 || true)

ldflags="-s -w"
for cmd in speaker controller; do
  [ -x "$BIN/$cmd" ] && continue
  log "building $cmd $VERSION"
  (cd "$WORK" && go build -tags tools -trimpath -ldflags "$ldflags" -o "$BIN/$cmd.tmp" "go.universe.tf/metallb/$cmd")
  mv "$BIN/$cmd.tmp" "$BIN/$cmd"
done

# The CRDs exactly as the module ships them (config/crd/bases). Its kustomization adds a conversion webhook to
# bgppeers only; the lab uses no BGPPeer, so the bases are applied as they are.
dir=$(go mod download -json "go.universe.tf/metallb@$VERSION" | sed -n 's/^\t"Dir": "\(.*\)",$/\1/p')
cp "$dir"/config/crd/bases/*.yaml "$CACHE/crds/"
chmod 644 "$CACHE"/crds/*.yaml
log "done in $(( $(date +%s) - started )) s"
echo "$CACHE"
