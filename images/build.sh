#!/usr/bin/env bash
# Builds the two lbmode container images with Docker: the operator (images/operator.Dockerfile) and the datapath
# agent (images/datapath.Dockerfile). Not run in CI here (no Docker engine there).
#
#   images/build.sh [--registry REG] [--tag TAG] [--push] [--skip-maven]
#
# Images: $REG/lbmode-operator:$TAG and $REG/lbmode-datapath:$TAG (defaults ghcr.io/lbmode and 0.1.0: the names
# the Helm chart uses by default). The jars are built first unless --skip-maven (JDK 25 needed, see ./lbmode).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
REGISTRY=ghcr.io/lbmode
TAG=0.1.0
PUSH=false
MAVEN=true

usage() { sed -n '2,8p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; }
while [ $# -gt 0 ]; do
  case "$1" in
    --registry) REGISTRY=${2:?--registry needs a value}; shift 2 ;;
    --registry=*) REGISTRY=${1#*=}; shift ;;
    --tag) TAG=${2:?--tag needs a value}; shift 2 ;;
    --tag=*) TAG=${1#*=}; shift ;;
    --push) PUSH=true; shift ;;
    --skip-maven) MAVEN=false; shift ;;
    -h|--help) usage; exit 0 ;;
    *) echo "build.sh: unknown argument '$1'" >&2; usage >&2; exit 2 ;;
  esac
done

if ! command -v docker >/dev/null 2>&1 || ! docker info >/dev/null 2>&1; then
  echo "build.sh: needs a running Docker engine ('docker info' failed). Install Docker or run this where it exists." >&2
  exit 2
fi

if $MAVEN; then
  if [ -z "${JAVA_HOME:-}" ] || ! "$JAVA_HOME/bin/java" -version 2>&1 | grep -q '"25'; then
    for jdk in /usr/lib/jvm/*25*; do [ -x "$jdk/bin/javac" ] && export JAVA_HOME=$jdk && break; done
  fi
  echo "build.sh: building the operator and datapath jars (tests skipped)" >&2
  (cd "$ROOT" && ./mvnw -B -q package -pl operator,datapath -am -DskipTests)
fi
for f in operator/target/quarkus-app/quarkus-run.jar datapath/target/lbmode-datapath.jar; do
  if [ ! -e "$ROOT/$f" ]; then
    echo "build.sh: $f is missing: run without --skip-maven or './mvnw -B package -pl operator,datapath -am -DskipTests'" >&2
    exit 2
  fi
done

export DOCKER_BUILDKIT=1
for image in operator datapath; do
  name="$REGISTRY/lbmode-$image:$TAG"
  echo "build.sh: docker build $name" >&2
  docker build --file "$ROOT/images/$image.Dockerfile" --tag "$name" "$ROOT"
  if $PUSH; then
    docker push "$name"
  fi
done
echo "build.sh: built $REGISTRY/lbmode-operator:$TAG and $REGISTRY/lbmode-datapath:$TAG" >&2
