#!/usr/bin/env bash
# lbmode on a real API server: a benchmark script (not a timed test). One run measures:
#
#  1. 1,000 Clusters created until all are Valid. Each Cluster is examples/cluster-snat.yaml with `spec.type: user`
#     (only one self-managed Cluster may exist per API server) and its own name `bench-NNNN` in its own namespace
#     `cluster-bench-NNNN`. The namespaces are created first (one `kubectl create -f` of a multi-document YAML, timed
#     on its own), then the Clusters with ONE `kubectl apply -f` of a 1,000-document YAML (BENCH_APPLY_BATCHES=N splits
#     it into N files applied concurrently). Reported: seconds from the start of the apply to its exit (creates/s),
#     and from the start of the apply to the moment a watch has seen every Cluster with condition Valid=True written
#     by the operator (observedGeneration current); the operator JVM's RSS before and after (and its peak, VmHWM).
#  2. The latency the admission webhook adds to a Cluster update: updates of one Cluster with the chart's
#     ValidatingWebhookConfiguration in place vs. deleted (saved first, restored with `kubectl create -f` minus
#     resourceVersion/uid/creationTimestamp/managedFields/generation), interleaved in BENCH_ROUNDS rounds of
#     BENCH_PER_ROUND updates per mode, the order of the two modes alternating per round, 2 untimed warm-up updates
#     per phase. Each update is measured three ways: a whole `kubectl label --overwrite` process; a whole curl
#     process doing a PATCH (application/merge-patch+json, admin client certificate: a new TLS connection each);
#     and inside that curl, request sent to response received (time_total - time_pretransfer: the server alone).
#     After each delete/restore the script waits until the API server acts on it (a server-side dry-run create of
#     a Cluster only the webhook refuses: allowed = no webhook, refused by the webhook = webhook in place).
#
# It starts its own control plane with `./lbmode kube up` (state LBMODE_KUBE_STATE, default /tmp/lbmode-kube-bench;
# address LBMODE_KUBE_ADDRESS, default 198.18.0.3, so it does not collide with a `./lbmode kube up` on the defaults)
# and always runs `./lbmode kube down` on exit. It refuses to start when the state directory exists.
#
# Run (root, like kube up):   kube/bench.sh
# Settings (environment):     BENCH_CLUSTERS (1000), BENCH_APPLY_BATCHES (1), BENCH_ROUNDS (5), BENCH_PER_ROUND (40),
#                             BENCH_OUT (raw samples and results.md; default a new /tmp/lbmode-kube-bench-out.XXXXXX)
# Needs: the kube up prerequisites, kubectl/helm from kube up, curl, python3 (standard library), awk.
# Takes: about 2.5 minutes with the binaries cached (measured 2m17s-2m26s on 2 cores busy with other builds, load
#        4-9): kube up ~20 s, 1,000 namespaces + Clusters ~30 s, the latency rounds ~90 s, kube down ~10 s. The first
#        kube up on a machine builds the binaries first (see kube/build.sh). Prints a Markdown table, also written to
#        $BENCH_OUT/results.md; raw samples and the control plane's logs stay in $BENCH_OUT.
set -euo pipefail
export LC_ALL=C

ROOT=$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.." && pwd)
export LBMODE_KUBE_STATE=${LBMODE_KUBE_STATE:-/tmp/lbmode-kube-bench}
export LBMODE_KUBE_ADDRESS=${LBMODE_KUBE_ADDRESS:-198.18.0.3}
CLUSTERS=${BENCH_CLUSTERS:-1000}
BATCHES=${BENCH_APPLY_BATCHES:-1}
ROUNDS=${BENCH_ROUNDS:-5}
PER_ROUND=${BENCH_PER_ROUND:-40}
STATE=$LBMODE_KUBE_STATE
PKI=$STATE/pki
GROUP_PATH=/apis/baremetal.cluster.gke.io/v1

log() { echo "bench: $(date -u +%H:%M:%S) $*" >&2; }
die() { echo "bench: $*" >&2; exit 1; }

[ "$(id -u)" -eq 0 ] || die "needs root (./lbmode kube up adds an address to a local interface)"
[ -e "$STATE" ] && die "$STATE exists: another control plane uses it (or a stale one: LBMODE_KUBE_STATE=$STATE ./lbmode kube down)"
for tool in curl python3 awk; do command -v "$tool" >/dev/null || die "$tool is needed"; done
OUT=${BENCH_OUT:-$(mktemp -d /tmp/lbmode-kube-bench-out.XXXXXX)}
mkdir -p "$OUT"

WATCHER_PID=
cleanup() {
  local rc=$?
  [ -n "$WATCHER_PID" ] && kill "$WATCHER_PID" 2>/dev/null
  # kube down removes the state: keep the control plane's and the operator's logs with the results.
  [ -d "$STATE/logs" ] && cp -r "$STATE/logs" "$OUT/kube-logs" 2>/dev/null
  log "kube down"
  "$ROOT/lbmode" kube down >>"$OUT/kube-down.log" 2>&1 || echo "bench: kube down failed (see $OUT/kube-down.log)" >&2
  log "raw data in $OUT"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

load() { cut -d' ' -f1-3 /proc/loadavg; }
LOAD_START=$(load)
STARTED=$(date -u +%Y-%m-%dT%H:%M:%SZ)

# ---- control plane ----
log "kube up (state $STATE, address $LBMODE_KUBE_ADDRESS)"
up_started=$EPOCHREALTIME
"$ROOT/lbmode" kube up >"$OUT/kube-up.out" 2>"$OUT/kube-up.log" || { tail -20 "$OUT/kube-up.log" >&2; die "kube up failed"; }
up_seconds=$(awk -v a="$up_started" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.0f", b - a }')
eval "$(grep '^export ' "$OUT/kube-up.out")"
command -v kubectl >/dev/null || die "no kubectl after kube up"
SERVER=$(kubectl config view --minify -o jsonpath='{.clusters[0].cluster.server}')
SERVER_VERSION=$(kubectl version -o json | python3 -c 'import json,sys; print(json.load(sys.stdin)["serverVersion"]["gitVersion"])')
KUBECTL_VERSION=$(kubectl version --client -o json | python3 -c 'import json,sys; print(json.load(sys.stdin)["clientVersion"]["gitVersion"])')
api() { curl -sS --cacert "$PKI/ca.crt" --cert "$PKI/admin.crt" --key "$PKI/admin.key" "$@"; }

# The operator's JVM: operator.pid is the process kube up started; `./lbmode operator` execs java, so it is that
# pid or one of its descendants.
operator_jvm() {
  local pid queue=() next
  queue=("$(cat "$STATE/operator.pid")")
  while [ ${#queue[@]} -gt 0 ]; do
    pid=${queue[0]}
    queue=("${queue[@]:1}")
    if [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = java ]; then
      echo "$pid"
      return 0
    fi
    # shellcheck disable=SC2013 # the children files hold space-separated pids
    for next in $(cat "/proc/$pid/task/"*/children 2>/dev/null); do queue+=("$next"); done
  done
  die "no java process under the operator pid $(cat "$STATE/operator.pid")"
}
kib() { awk -v k="$2" '$1 == k":" { print $2 }' "/proc/$1/status"; } # PID FIELD: VmRSS, VmHWM in KiB
mib() { awk -v k="$1" 'BEGIN { printf "%.0f", k / 1024 }'; }
JVM=$(operator_jvm)
RSS_BEFORE=$(kib "$JVM" VmRSS)

# ---- 1. 1,000 Clusters until Valid ----
log "generating $CLUSTERS Clusters in $BATCHES file(s)"
python3 - "$ROOT/examples/cluster-snat.yaml" "$OUT" "$CLUSTERS" "$BATCHES" <<'PY'
import sys
example, out, count, batches = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
text = open(example).read()
body = text[text.index("apiVersion:"):]  # without the leading comment
for old in ("  name: lb-snat\n", "  namespace: cluster-lb-snat\n", "  type: standalone\n"):
    assert body.count(old) == 1, f"{example}: expected one line {old!r}"
namespaces, clusters = [], [[] for _ in range(batches)]
for i in range(1, count + 1):
    name = f"bench-{i:04d}"
    namespaces.append(f"apiVersion: v1\nkind: Namespace\nmetadata:\n  name: cluster-{name}\n")
    clusters[(i - 1) * batches // count].append(
        body.replace("  name: lb-snat\n", f"  name: {name}\n")
            .replace("  namespace: cluster-lb-snat\n", f"  namespace: cluster-{name}\n")
            .replace("  type: standalone\n", "  type: user\n"))
open(f"{out}/namespaces.yaml", "w").write("---\n".join(namespaces))
for b, docs in enumerate(clusters, 1):
    open(f"{out}/clusters-{b}.yaml", "w").write("---\n".join(docs))
PY
# The generated documents are valid for lbmode's own validator (a sample: the first one).
python3 -c 'import sys; t = open(sys.argv[1]).read(); print(t.split("---\n")[0], end="")' "$OUT/clusters-1.yaml" >"$OUT/sample.yaml"
"$ROOT/lbmode" validate "$OUT/sample.yaml" >&2 || die "the generated Cluster is not valid: $OUT/sample.yaml"

log "creating $CLUSTERS namespaces"
t=$EPOCHREALTIME
kubectl create -f "$OUT/namespaces.yaml" >"$OUT/namespaces.out" 2>"$OUT/namespaces.err" || { tail "$OUT/namespaces.err" >&2; die "namespace creation failed"; }
NS_SECONDS=$(awk -v a="$t" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }')

# A watch from the resourceVersion of a list taken before the first create sees every change, however late it
# connects; it records when the last Cluster turned Valid.
RV=$(api "$SERVER$GROUP_PATH/clusters" | python3 -c 'import json,sys; d=json.load(sys.stdin); assert not d["items"], "Clusters exist already"; print(d["metadata"]["resourceVersion"])')
cat >"$OUT/watch.py" <<'PY'
# Counts Clusters whose Valid condition is True for their current generation; prints the wall-clock time when all
# COUNT are, and the p50/p99/max of each Cluster's lag from its first watch event to Valid, then exits. Reads a watch
# stream from curl (newline-delimited JSON events).
import json, os, select, subprocess, sys, time
url, pki, count, deadline_s, progress = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4]), sys.argv[5]
curl = subprocess.Popen(["curl", "-sSN", "--cacert", f"{pki}/ca.crt", "--cert", f"{pki}/admin.crt",
                         "--key", f"{pki}/admin.key", url], stdout=subprocess.PIPE)
fd = curl.stdout.fileno()
deadline = time.time() + deadline_s
valid, seen, buf, last_progress = set(), {}, b"", 0.0
lag = {}
try:
    while len(valid) < count:
        left = deadline - time.time()
        if left <= 0:
            sys.exit(f"watch: timeout: {len(seen)} Clusters seen, {len(valid)} Valid")
        ready, _, _ = select.select([fd], [], [], min(left, 1.0))
        if time.time() - last_progress >= 5:
            last_progress = time.time()
            open(progress, "w").write(f"{len(seen)} {len(valid)}\n")
        if not ready:
            continue
        chunk = os.read(fd, 1 << 20)
        if not chunk:
            sys.exit(f"watch: stream ended: {len(seen)} Clusters seen, {len(valid)} Valid")
        buf += chunk
        *lines, buf = buf.split(b"\n")
        for line in lines:
            if not line.strip():
                continue
            event = json.loads(line)
            kind, obj = event["type"], event["object"]
            if kind == "BOOKMARK":
                continue
            if kind == "ERROR":
                sys.exit(f"watch: error event: {obj}")
            key = obj["metadata"]["namespace"] + "/" + obj["metadata"]["name"]
            seen.setdefault(key, time.time())
            conditions = (obj.get("status") or {}).get("conditions") or []
            ok = any(c.get("type") == "Valid" and c.get("status") == "True"
                     and c.get("observedGeneration") == obj["metadata"].get("generation") for c in conditions)
            if kind != "DELETED" and ok:
                valid.add(key)
                lag.setdefault(key, time.time() - seen[key])
            else:
                valid.discard(key)
    done = time.time()
    lags = sorted(lag.values())
    pick = lambda p: lags[max(0, -(-p * len(lags) // 100) - 1)] * 1000
    print(f"{done:.6f} {pick(50):.0f} {pick(99):.0f} {lags[-1] * 1000:.0f}")
finally:
    curl.kill()
PY
python3 "$OUT/watch.py" "$SERVER$GROUP_PATH/clusters?watch=1&allowWatchBookmarks=true&timeoutSeconds=3600&resourceVersion=$RV" \
  "$PKI" "$CLUSTERS" 1800 "$OUT/watch.progress" >"$OUT/watch.out" 2>"$OUT/watch.err" &
WATCHER_PID=$!

log "applying $CLUSTERS Clusters ($BATCHES kubectl apply process(es))"
APPLY_START=$EPOCHREALTIME
apply_pids=()
for b in $(seq 1 "$BATCHES"); do
  kubectl apply -f "$OUT/clusters-$b.yaml" >"$OUT/apply-$b.out" 2>"$OUT/apply-$b.err" &
  apply_pids+=($!)
done
apply_failed=0
for p in "${apply_pids[@]}"; do wait "$p" || apply_failed=1; done
APPLY_END=$EPOCHREALTIME
[ "$apply_failed" -eq 0 ] || { cat "$OUT"/apply-*.err | tail -20 >&2; die "kubectl apply failed (see $OUT/apply-*.err)"; }
log "applied in $(awk -v a="$APPLY_START" -v b="$APPLY_END" 'BEGIN { printf "%.1f", b - a }') s; waiting for Valid"
waited=0
while kill -0 "$WATCHER_PID" 2>/dev/null; do
  sleep 0.5
  waited=$((waited + 1))
  if [ $((waited % 20)) -eq 0 ] && [ -f "$OUT/watch.progress" ]; then log "watch: seen, Valid: $(cat "$OUT/watch.progress")"; fi
done
wait "$WATCHER_PID" || { cat "$OUT/watch.err" >&2; die "not all Clusters became Valid"; }
WATCHER_PID=
read -r VALID_AT LAG_P50 LAG_P99 LAG_MAX <"$OUT/watch.out"
RSS_AFTER=$(kib "$JVM" VmRSS)
HWM_AFTER=$(kib "$JVM" VmHWM)
APPLY_SECONDS=$(awk -v a="$APPLY_START" -v b="$APPLY_END" 'BEGIN { printf "%.1f", b - a }')
VALID_SECONDS=$(awk -v a="$APPLY_START" -v b="$VALID_AT" 'BEGIN { printf "%.1f", b - a }')
CREATES_PER_S=$(awk -v n="$CLUSTERS" -v s="$APPLY_SECONDS" 'BEGIN { printf "%.1f", n / s }')
VALID_AFTER_APPLY_MS=$(awk -v a="$APPLY_END" -v b="$VALID_AT" 'BEGIN { printf "%+.0f", (b - a) * 1000 }')
VALID_PER_S=$(awk -v n="$CLUSTERS" -v s="$VALID_SECONDS" 'BEGIN { printf "%.1f", n / s }')
APPLY_LINES=$(cat "$OUT"/apply-*.out | grep -c ' created$' || true)
THROTTLED=$(cat "$OUT"/apply-*.err | grep -ci 'throttling' || true)
VALID_COUNT=$(api "$SERVER$GROUP_PATH/clusters" | python3 -c '
import json, sys
items = json.load(sys.stdin)["items"]
print(sum(any(c["type"] == "Valid" and c["status"] == "True" for c in (i.get("status") or {}).get("conditions", [])) for i in items), "/", len(items))')

# ---- 2. webhook latency on updates ----
TARGET_NS=cluster-bench-0001
TARGET=bench-0001
TARGET_URL="$SERVER$GROUP_PATH/namespaces/$TARGET_NS/clusters/$TARGET"
kubectl get validatingwebhookconfiguration -l app.kubernetes.io/instance=lbmode -o json >"$OUT/webhook-saved.json"
python3 - "$OUT/webhook-saved.json" "$OUT/webhook-restore.json" <<'PY'
import json, sys
saved = json.load(open(sys.argv[1]))
assert len(saved["items"]) == 1, f"expected one ValidatingWebhookConfiguration, found {len(saved['items'])}"
for item in saved["items"]:
    for field in ("resourceVersion", "uid", "creationTimestamp", "managedFields", "generation"):
        item["metadata"].pop(field, None)
saved.pop("metadata", None)
json.dump(saved, open(sys.argv[2], "w"), indent=1)
PY
WEBHOOK_NAME=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["items"][0]["metadata"]["name"])' "$OUT/webhook-restore.json")

# The probe: a server-side dry-run create of a Cluster whose ingressVIP lies outside every address pool. Only the
# webhook checks that (the CRD's schema and CEL rules don't): 201 = no webhook on the request path; refused with the
# validator's message = the webhook is in place.
sed -e "s/^  name: bench-0001$/  name: webhook-probe/" -e 's/ingressVIP: 10.200.0.50/ingressVIP: 10.9.9.9/' "$OUT/sample.yaml" |
  kubectl create --dry-run=client -o json -f - >"$OUT/probe.json"
probe() {
  local code
  code=$(api -o "$OUT/probe.response" -w '%{http_code}' -X POST -H 'Content-Type: application/json' \
    --data-binary "@$OUT/probe.json" "$SERVER$GROUP_PATH/namespaces/$TARGET_NS/clusters?dryRun=All")
  if [ "$code" = 201 ]; then
    echo off
  elif grep -q 'lies outside every address pool' "$OUT/probe.response"; then
    echo on
  else
    echo "other:$code"
  fi
}
await_webhook() { # on|off: until the API server's admission chain shows it
  local want=$1 got
  for _ in $(seq 1 300); do
    got=$(probe)
    [ "$got" = "$want" ] && return 0
    sleep 0.1
  done
  die "the webhook did not turn $want within 30 s (last probe: $got; $(head -c 300 "$OUT/probe.response"))"
}
[ "$(probe)" = on ] || die "the webhook does not answer before the latency rounds: $(head -c 300 "$OUT/probe.response")"
SEQ=0
ERRORS=0
update_once() { # MODE [warmup]: one kubectl label, one curl PATCH; samples to $OUT/samples.txt
  local mode=$1 warmup=${2:-} a b code pre total
  SEQ=$((SEQ + 1))
  a=$EPOCHREALTIME
  if ! kubectl label --overwrite clusters.baremetal.cluster.gke.io "$TARGET" -n "$TARGET_NS" "bench-kubectl=$SEQ" \
      >/dev/null 2>>"$OUT/update-errors.log"; then
    ERRORS=$((ERRORS + 1))
  fi
  b=$EPOCHREALTIME
  [ -z "$warmup" ] && echo "$mode kubectl $a $b" >>"$OUT/samples.txt"
  a=$EPOCHREALTIME
  read -r code pre total < <(api -o "$OUT/patch.response" -w '%{http_code} %{time_pretransfer} %{time_total}\n' \
    -X PATCH -H 'Content-Type: application/merge-patch+json' \
    --data-binary "{\"metadata\":{\"labels\":{\"bench-curl\":\"$SEQ\"}}}" "$TARGET_URL" || echo "000 0 0")
  b=$EPOCHREALTIME
  if [ "$code" != 200 ]; then
    ERRORS=$((ERRORS + 1))
    { echo "curl PATCH: HTTP $code"; head -c 500 "$OUT/patch.response"; echo; } >>"$OUT/update-errors.log"
  fi
  [ -z "$warmup" ] && echo "$mode curl $a $b $pre $total" >>"$OUT/samples.txt"
  return 0
}
# The API server's own measure of the webhook calls on UPDATE (the probes are CREATEs): sum and count of
# apiserver_admission_webhook_admission_duration_seconds, read before and after the rounds.
webhook_metric() {
  api "$SERVER/metrics" | awk '/^apiserver_admission_webhook_admission_duration_seconds_(sum|count)\{/ && /operation="UPDATE"/ && /rejected="false"/ {
      if ($1 ~ /_sum\{/) s += $2; else c += $2 } END { printf "%.6f %d\n", s, c }'
}
read -r METRIC_SUM0 METRIC_COUNT0 < <(webhook_metric)
CURRENT=on
set_webhook() { # on|off
  [ "$CURRENT" = "$1" ] && return 0
  if [ "$1" = on ]; then
    kubectl create -f "$OUT/webhook-restore.json" >>"$OUT/webhook-toggle.log"
  else
    kubectl delete validatingwebhookconfiguration "$WEBHOOK_NAME" >>"$OUT/webhook-toggle.log"
  fi
  await_webhook "$1"
  CURRENT=$1
}
: >"$OUT/samples.txt"
for r in $(seq 1 "$ROUNDS"); do
  if [ $((r % 2)) -eq 1 ]; then order="on off"; else order="off on"; fi
  for mode in $order; do
    log "latency round $r/$ROUNDS: webhook $mode, $PER_ROUND updates"
    set_webhook "$mode"
    update_once "$mode" warmup
    update_once "$mode" warmup
    for _ in $(seq 1 "$PER_ROUND"); do update_once "$mode"; done
  done
done
set_webhook on
read -r METRIC_SUM1 METRIC_COUNT1 < <(webhook_metric)
WEBHOOK_CALLS=$((METRIC_COUNT1 - METRIC_COUNT0))
WEBHOOK_MEAN_MS=$(awk -v s0="$METRIC_SUM0" -v s1="$METRIC_SUM1" -v n="$WEBHOOK_CALLS" 'BEGIN { if (n > 0) printf "%.1f", (s1 - s0) * 1000 / n; else print "n/a" }')
LOAD_END=$(load)

# ---- results ----
python3 - "$OUT/samples.txt" >"$OUT/latency.md" <<'PY'
import math, sys
rows = {}
for line in open(sys.argv[1]):
    f = line.split()
    mode, tool, a, b = f[0], f[1], float(f[2]), float(f[3])
    rows.setdefault((tool, mode), []).append((b - a) * 1000)
    if tool == "curl":
        rows.setdefault(("server", mode), []).append((float(f[5]) - float(f[4])) * 1000)
def pct(values, p):
    v = sorted(values)
    return v[max(0, math.ceil(p / 100 * len(v)) - 1)]
names = {
    "kubectl": "`kubectl label --overwrite`, whole process",
    "curl": "curl PATCH (merge-patch), whole process, new TLS connection",
    "server": "curl PATCH, request sent to response received",
}
print("| update of one Cluster | n per mode | webhook p50 | webhook p99 | no webhook p50 | no webhook p99 | p50 ratio | p99 ratio | added at p50 |")
print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
for tool in ("kubectl", "curl", "server"):
    on, off = rows[(tool, "on")], rows[(tool, "off")]
    on50, on99, off50, off99 = pct(on, 50), pct(on, 99), pct(off, 50), pct(off, 99)
    print(f"| {names[tool]} | {len(on)} / {len(off)} | {on50:.1f} ms | {on99:.1f} ms | {off50:.1f} ms | {off99:.1f} ms "
          f"| {on50 / off50:.2f}x | {on99 / off99:.2f}x | {on50 - off50:+.1f} ms |")
PY

{
  echo "### lbmode on a real API server ($SERVER_VERSION, kubectl $KUBECTL_VERSION): kube/bench.sh"
  echo
  echo "Started $STARTED on $(nproc) cores; load average $LOAD_START at the start, $LOAD_END at the end; kube up ${up_seconds} s."
  echo
  echo "| $CLUSTERS Clusters (type user, each in its own namespace cluster-bench-NNNN) | result |"
  echo "|---|---:|"
  echo "| $CLUSTERS namespaces, one \`kubectl create -f\` (not in the times below) | ${NS_SECONDS} s |"
  echo "| Clusters created: $BATCHES \`kubectl apply -f\` of a $((CLUSTERS / BATCHES))-document YAML, start to exit | ${APPLY_SECONDS} s, ${CREATES_PER_S} creates/s |"
  echo "| first create to all $CLUSTERS Valid=True (seen by a watch) | ${VALID_SECONDS} s, ${VALID_PER_S} Clusters/s |"
  echo "| last Valid vs. kubectl apply's exit | ${VALID_AFTER_APPLY_MS} ms |"
  echo "| per Cluster, first watch event to Valid=True: p50 / p99 / max | ${LAG_P50} / ${LAG_P99} / ${LAG_MAX} ms |"
  echo "| Valid at the end / Clusters listed; 'created' lines from kubectl | ${VALID_COUNT}; ${APPLY_LINES} |"
  echo "| client-side throttling messages from kubectl apply | ${THROTTLED} |"
  echo "| operator JVM RSS: before the creates, after all Valid (peak VmHWM) | $(mib "$RSS_BEFORE") MiB, $(mib "$RSS_AFTER") MiB ($(mib "$HWM_AFTER") MiB) |"
  echo
  echo "Webhook latency: $ROUNDS rounds x $PER_ROUND updates per mode, the modes' order alternating per round, 2 untimed warm-ups per phase; failed updates: $ERRORS."
  echo
  cat "$OUT/latency.md"
  echo
  echo "The API server's own measure (apiserver_admission_webhook_admission_duration_seconds, UPDATE): $WEBHOOK_CALLS webhook calls in the rounds, mean ${WEBHOOK_MEAN_MS} ms per call."
} | tee "$OUT/results.md"
