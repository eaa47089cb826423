#!/usr/bin/env bash
# Builds the real Kubernetes pieces lbmode's kube tier and `./lbmode kube up` run, from the Go module proxy, once:
# kube-apiserver, kube-controller-manager and kubectl (k8s.io/kubernetes), etcd (go.etcd.io/etcd/server/v3) and
# helm (helm.sh/helm/v3). Binaries land in $LBMODE_KUBE_CACHE/bin (default ~/.cache/lbmode/kube/<versions>/bin);
# a second run with the binaries present does nothing. Prints the bin directory as its last line.
#
# Why a wrapper module: k8s.io/kubernetes and etcd's server have `replace` directives in their go.mod, so
# `go install pkg@version` refuses them (golang/go#44840). A small main module that requires them and pins each
# replaced staging module (k8s.io/api v0.0.0 => ./staging/...) to its published v0.Y.Z builds the same code.
set -euo pipefail

KUBE_VERSION=${LBMODE_KUBE_VERSION:-v1.34.4}
ETCD_VERSION=${LBMODE_ETCD_VERSION:-v3.6.16}
HELM_VERSION=${LBMODE_HELM_VERSION:-v3.22.0}
CACHE=${LBMODE_KUBE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/lbmode/kube/k8s-$KUBE_VERSION-etcd-$ETCD_VERSION-helm-$HELM_VERSION}
BIN=$CACHE/bin
WORK=$CACHE/src

log() { echo "kube build: $*" >&2; }

command -v go >/dev/null || { echo "kube build: the go command is needed (Go 1.24 or newer)" >&2; exit 2; }
export CGO_ENABLED=0 GOFLAGS=-buildvcs=false GOTOOLCHAIN=local
mkdir -p "$BIN" "$WORK"

# The staging modules k8s.io/kubernetes replaces with ./staging/src/k8s.io/NAME, pinned to v0.MINOR.PATCH instead.
kube_wrapper() {
  local dir=$WORK/kubernetes gomod minor patch
  mkdir -p "$dir"
  gomod=$(go mod download -json "k8s.io/kubernetes@$KUBE_VERSION" | sed -n 's/^\t"GoMod": "\(.*\)",$/\1/p')
  [ -s "$gomod" ] || { echo "kube build: could not download k8s.io/kubernetes@$KUBE_VERSION" >&2; exit 1; }
  minor=$(echo "$KUBE_VERSION" | cut -d. -f2) patch=$(echo "$KUBE_VERSION" | cut -d. -f3)
  {
    echo "module lbmode.local/kubebuild"
    echo
    sed -n 's/^go \(.*\)$/go \1/p' "$gomod" | head -1
    sed -n 's/^godebug /godebug /p' "$gomod"
    echo
    echo "require k8s.io/kubernetes $KUBE_VERSION"
    echo
    # "k8s.io/api => ./staging/src/k8s.io/api" becomes "k8s.io/api => k8s.io/api v0.34.4".
    sed -n 's#^[[:space:]]*\(k8s.io/[a-z0-9-]*\) => ./staging/src/k8s.io/[a-z0-9-]*$#replace \1 => \1 v0.'"$minor.$patch"'#p' "$gomod"
  } >"$dir/go.mod"
  cat >"$dir/tools.go" <<'GO'
//go:build tools

package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
	_ "k8s.io/kubernetes/cmd/kube-proxy"
	_ "k8s.io/kubernetes/cmd/kubectl"
)
GO
  (cd "$dir" && go mod tidy -e >/dev/null 2>&1 || true; cd "$dir" && go mod download)
  echo "$dir"
}

build_kube() {
  local dir ldflags minor
  minor=$(echo "$KUBE_VERSION" | cut -d. -f2)
  ldflags="-s -w -X k8s.io/component-base/version.gitVersion=$KUBE_VERSION -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=$minor -X k8s.io/component-base/version.gitTreeState=clean -X k8s.io/client-go/pkg/version.gitVersion=$KUBE_VERSION -X k8s.io/client-go/pkg/version.gitMajor=1 -X k8s.io/client-go/pkg/version.gitMinor=$minor"
  dir=$(kube_wrapper)
  for cmd in kube-apiserver kube-controller-manager kube-proxy kubectl; do
    [ -x "$BIN/$cmd" ] && continue
    log "building $cmd $KUBE_VERSION"
    (cd "$dir" && go build -tags tools -trimpath -ldflags "$ldflags" -o "$BIN/$cmd.tmp" "k8s.io/kubernetes/cmd/$cmd")
    mv "$BIN/$cmd.tmp" "$BIN/$cmd"
  done
}

build_etcd() {
  [ -x "$BIN/etcd" ] && return 0
  local dir=$WORK/etcd gomod
  mkdir -p "$dir"
  gomod=$(go mod download -json "go.etcd.io/etcd/server/v3@$ETCD_VERSION" | sed -n 's/^\t"GoMod": "\(.*\)",$/\1/p')
  {
    echo "module lbmode.local/etcdbuild"
    echo
    sed -n 's/^go \(.*\)$/go \1/p' "$gomod" | head -1
    echo
    echo "require go.etcd.io/etcd/server/v3 $ETCD_VERSION"
    echo
    # etcd's server replaces its sibling modules with ../NAME: pin them to the same release.
    sed -n 's#^[[:space:]]*\(go.etcd.io/etcd/[a-z0-9/-]*\) => \.\./.*$#replace \1 => \1 '"$ETCD_VERSION"'#p' "$gomod"
  } >"$dir/go.mod"
  printf '//go:build tools\n\npackage tools\n\nimport _ "go.etcd.io/etcd/server/v3"\n' >"$dir/tools.go"
  (cd "$dir" && go mod tidy -e >/dev/null 2>&1 || true)
  log "building etcd $ETCD_VERSION"
  (cd "$dir" && go build -tags tools -trimpath -ldflags "-s -w" -o "$BIN/etcd.tmp" go.etcd.io/etcd/server/v3)
  mv "$BIN/etcd.tmp" "$BIN/etcd"
}

build_helm() {
  local dir=$WORK/helm gomod minor ldflags
  gomod=$(go mod download -json "helm.sh/helm/v3@$HELM_VERSION" | sed -n 's/^\t"GoMod": "\(.*\)",$/\1/p')
  # The Kubernetes version helm assumes when it has no cluster to ask (`helm template`, .Capabilities.KubeVersion):
  # helm's Makefile derives it from the client-go it builds with; without it helm says 1.20.
  minor=$(sed -n 's/^[[:space:]]*k8s.io\/client-go v0\.\([0-9]*\)\..*$/\1/p' "$gomod" | head -1)
  ldflags="-s -w -X helm.sh/helm/v3/internal/version.version=$HELM_VERSION"
  ldflags+=" -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMajor=1 -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMinor=$minor"
  ldflags+=" -X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMajor=1 -X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMinor=$minor"
  # The flags are part of what is cached: a helm built with other ones is built again.
  [ -x "$BIN/helm" ] && [ "$(cat "$BIN/.helm-ldflags" 2>/dev/null)" = "$ldflags" ] && return 0
  mkdir -p "$dir"
  printf 'module lbmode.local/helmbuild\n\ngo 1.24\n\nrequire helm.sh/helm/v3 %s\n' "$HELM_VERSION" >"$dir/go.mod"
  printf '//go:build tools\n\npackage tools\n\nimport _ "helm.sh/helm/v3/cmd/helm"\n' >"$dir/tools.go"
  (cd "$dir" && go mod tidy -e >/dev/null 2>&1 || true)
  log "building helm $HELM_VERSION"
  (cd "$dir" && go build -tags tools -trimpath -ldflags "$ldflags" -o "$BIN/helm.tmp" helm.sh/helm/v3/cmd/helm)
  mv "$BIN/helm.tmp" "$BIN/helm"
  echo "$ldflags" >"$BIN/.helm-ldflags"
}

started=$(date +%s)
if [ "${1:-}" = "--print-bin" ]; then echo "$BIN"; exit 0; fi
build_etcd
build_helm
build_kube
log "done in $(( $(date +%s) - started )) s: $(ls "$BIN" | tr '\n' ' ')"
echo "$BIN"
