#!/usr/bin/env bash
# A real Kubernetes control plane on this machine, with lbmode installed by Helm: `./lbmode kube up|down|status`.
#
# up:   builds etcd, kube-apiserver, kube-controller-manager, kubectl and helm once (kube/build.sh), starts them as
#       background processes on an address of this machine's own (a local veth interface, nothing leaves the host),
#       runs `helm install lbmode helm/lbmode -n lbmode-system --create-namespace`, and runs the operator
#       (`./lbmode operator`) as the chart's ServiceAccount, so the RBAC authorizer judges the chart's roles. The API
#       server reaches the admission webhook through the chart's own ValidatingWebhookConfiguration and Service: an
#       EndpointSlice of that Service points at the operator process (--enable-aggregator-routing resolves Services
#       to endpoints; endpoint addresses may not be loopback, hence the local interface). Idempotent; prints
#       `export KUBECONFIG=...` and `export PATH=...` as its last lines.
# down: stops every process up started, removes the address and the state.
#
# Settings (environment): LBMODE_KUBE_STATE (state directory), LBMODE_KUBE_ADDRESS (default 198.18.0.1, from the
# range reserved for benchmarking, RFC 2544), LBMODE_KUBE_NO_INSTALL=1 (control plane only, no chart, no operator).
# Needs root (the interface).
set -euo pipefail

ROOT=$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.." && pwd)
STATE=${LBMODE_KUBE_STATE:-${XDG_STATE_HOME:-$HOME/.local/state}/lbmode/kube}
ADDRESS=${LBMODE_KUBE_ADDRESS:-198.18.0.1}
INTERFACE=lbmode-kube
APISERVER_PORT=16443
ETCD_CLIENT_PORT=12379
ETCD_PEER_PORT=12380
OPERATOR_HTTP_PORT=18080
OPERATOR_HTTPS_PORT=18443
RELEASE=lbmode
NAMESPACE=lbmode-system
# Dual-stack, as a GDC dual-stack cluster's API server: IPv4 first (Services default to IPv4, as before), an IPv6
# range for Services asking for IPv6 (ipFamilyPolicy PreferDualStack/RequireDualStack); the IPv6 block is /108, the
# largest the API server accepts and the block of examples/cluster-dual-stack.yaml.
SERVICE_CIDR=10.96.0.0/12,fd00:10:96::/108

PKI=$STATE/pki
LOGS=$STATE/logs
ADMIN_KUBECONFIG=$STATE/admin.kubeconfig

log() { echo "kube: $*" >&2; }
die() { echo "kube: $*" >&2; exit 1; }

usage() {
  cat <<'USAGE'
usage: ./lbmode kube up|down|status

  up       start etcd, kube-apiserver and kube-controller-manager, install lbmode with helm, run the operator
           (first run builds them from the Go module proxy); prints the exports to use kubectl and helm
  down     stop everything up started and remove its state
  status   which processes run, and the exports
USAGE
}

bin_dir() { "$ROOT/kube/build.sh" --print-bin; }

# ---- processes: each one's pid in $STATE/NAME.pid, its output in $LOGS/NAME.log ----

running() { [ -f "$STATE/$1.pid" ] && kill -0 "$(cat "$STATE/$1.pid")" 2>/dev/null; }

start() {
  local name=$1
  shift
  if running "$name"; then
    return 0
  fi
  log "starting $name"
  # setsid: its own session, so it outlives this script and `down` can stop its whole group. File descriptors above
  # 2 are closed first: a daemon must not keep what its caller held open (`flock LOCK ./lbmode kube up` would
  # otherwise leave the lock held by etcd and the API server until `kube down`).
  (
    for fd in $(ls /proc/$BASHPID/fd); do
      [ "$fd" -gt 2 ] && eval "exec $fd>&-" 2>/dev/null
    done
    exec setsid "$@"
  ) >"$LOGS/$name.log" 2>&1 </dev/null &
  echo $! >"$STATE/$name.pid"
}

stop() {
  local name=$1 pid _
  [ -f "$STATE/$name.pid" ] || return 0
  pid=$(cat "$STATE/$name.pid")
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 100); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$STATE/$name.pid"
}

# Waits until COMMAND succeeds; on timeout shows the end of LOG.
wait_for() {
  local what=$1 seconds=$2 logfile=$3 _
  shift 3
  for _ in $(seq 1 $((seconds * 5))); do
    if "$@" >/dev/null 2>&1; then
      return 0
    fi
    sleep 0.2
  done
  [ -f "$logfile" ] && tail -20 "$logfile" >&2
  die "$what not ready after ${seconds}s (log: $logfile)"
}

# ---- certificates: one CA signs the API server, the clients and (separately) ServiceAccount tokens ----

sign() { # NAME SUBJECT [SAN]: key and certificate NAME.{key,crt} signed by the CA
  local name=$1 subject=$2 san=${3:-}
  [ -f "$PKI/$name.crt" ] && return 0
  openssl genrsa -out "$PKI/$name.key" 2048 2>/dev/null
  openssl req -new -key "$PKI/$name.key" -subj "$subject" -out "$PKI/$name.csr" 2>/dev/null
  if [ -n "$san" ]; then
    printf 'subjectAltName=%s\nextendedKeyUsage=serverAuth,clientAuth\n' "$san" >"$PKI/$name.ext"
  else
    printf 'extendedKeyUsage=clientAuth\n' >"$PKI/$name.ext"
  fi
  openssl x509 -req -in "$PKI/$name.csr" -CA "$PKI/ca.crt" -CAkey "$PKI/ca.key" -CAcreateserial \
    -days 3650 -extfile "$PKI/$name.ext" -out "$PKI/$name.crt" 2>/dev/null
  rm -f "$PKI/$name.csr" "$PKI/$name.ext"
}

make_pki() {
  mkdir -p "$PKI"
  if [ ! -f "$PKI/ca.crt" ]; then
    openssl req -x509 -newkey rsa:2048 -nodes -keyout "$PKI/ca.key" -out "$PKI/ca.crt" -days 3650 \
      -subj "/CN=lbmode-kube-ca" 2>/dev/null
  fi
  sign apiserver "/CN=kube-apiserver" \
    "IP:$ADDRESS,IP:127.0.0.1,IP:10.96.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local"
  sign admin "/O=system:masters/CN=kubernetes-admin"
  sign controller-manager "/CN=system:kube-controller-manager"
  if [ ! -f "$PKI/sa.key" ]; then
    openssl genrsa -out "$PKI/sa.key" 2048 2>/dev/null
    openssl rsa -in "$PKI/sa.key" -pubout -out "$PKI/sa.pub" 2>/dev/null
  fi
}

kubeconfig() { # FILE USER [CERT-NAME | token:TOKEN] [NAMESPACE]
  local file=$1 user=$2 credential=$3 namespace=${4:-default} auth
  if [[ $credential == token:* ]]; then
    auth="    token: ${credential#token:}"
  else
    auth="    client-certificate: $PKI/$credential.crt
    client-key: $PKI/$credential.key"
  fi
  cat >"$file" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: lbmode-kube
  cluster:
    server: https://$ADDRESS:$APISERVER_PORT
    certificate-authority: $PKI/ca.crt
users:
- name: $user
  user:
$auth
contexts:
- name: $user@lbmode-kube
  context:
    cluster: lbmode-kube
    user: $user
    namespace: $namespace
current-context: $user@lbmode-kube
EOF
  chmod 600 "$file"
}

# ---- the address everything listens on ----

add_address() {
  # A veth pair whose ends both stay in this namespace: like a dummy interface (which not every kernel has), it holds a
  # local address and carries nothing off the machine.
  ip link show "$INTERFACE" >/dev/null 2>&1 || ip link add "$INTERFACE" type veth peer name "$INTERFACE-p"
  ip link set "$INTERFACE-p" up
  ip link set "$INTERFACE" up
  # The listing is read whole, not piped into grep -q: with pipefail, grep quitting at the first match makes ip die
  # of SIGPIPE when the interface holds several control planes' addresses, and the pipeline then reads as "absent".
  [[ $(ip -4 -o addr show dev "$INTERFACE") == *"inet $ADDRESS/"* ]] || ip addr add "$ADDRESS/32" dev "$INTERFACE"
}

remove_address() {
  ip link show "$INTERFACE" >/dev/null 2>&1 || return 0
  ip addr del "$ADDRESS/32" dev "$INTERFACE" 2>/dev/null || true
  # The interface is shared by every control plane of this machine (tests use other addresses): last one out removes it.
  if [[ $(ip -4 -o addr show dev "$INTERFACE") != *inet* ]]; then
    ip link del "$INTERFACE" 2>/dev/null || true
  fi
}

# ---- up ----

start_control_plane() {
  local bin=$1
  start etcd "$bin/etcd" --name lbmode-kube --data-dir "$STATE/etcd" \
    --listen-client-urls "http://$ADDRESS:$ETCD_CLIENT_PORT" --advertise-client-urls "http://$ADDRESS:$ETCD_CLIENT_PORT" \
    --listen-peer-urls "http://$ADDRESS:$ETCD_PEER_PORT" --initial-advertise-peer-urls "http://$ADDRESS:$ETCD_PEER_PORT" \
    --initial-cluster "lbmode-kube=http://$ADDRESS:$ETCD_PEER_PORT" \
    --unsafe-no-fsync --quota-backend-bytes 4294967296 --log-level warn
  wait_for etcd 30 "$LOGS/etcd.log" curl -sf "http://$ADDRESS:$ETCD_CLIENT_PORT/health"

  start kube-apiserver "$bin/kube-apiserver" \
    --etcd-servers "http://$ADDRESS:$ETCD_CLIENT_PORT" \
    --bind-address "$ADDRESS" --advertise-address "$ADDRESS" --secure-port "$APISERVER_PORT" \
    --tls-cert-file "$PKI/apiserver.crt" --tls-private-key-file "$PKI/apiserver.key" \
    --client-ca-file "$PKI/ca.crt" \
    --authorization-mode RBAC \
    --service-account-issuer https://kubernetes.default.svc.cluster.local \
    --service-account-key-file "$PKI/sa.pub" --service-account-signing-key-file "$PKI/sa.key" \
    --service-cluster-ip-range "$SERVICE_CIDR" \
    --allow-privileged=true \
    --enable-aggregator-routing=true \
    --profiling=false \
    --cert-dir "$STATE/apiserver-certs"
  wait_for kube-apiserver 90 "$LOGS/kube-apiserver.log" \
    curl -sf --cacert "$PKI/ca.crt" --cert "$PKI/admin.crt" --key "$PKI/admin.key" "https://$ADDRESS:$APISERVER_PORT/readyz"

  kubeconfig "$STATE/controller-manager.kubeconfig" system:kube-controller-manager controller-manager kube-system
  # Garbage collection, namespace deletion, EndpointSlices, DaemonSets and the rest of the defaults; no serving port.
  start kube-controller-manager "$bin/kube-controller-manager" \
    --kubeconfig "$STATE/controller-manager.kubeconfig" \
    --use-service-account-credentials=true \
    --service-account-private-key-file "$PKI/sa.key" --root-ca-file "$PKI/ca.crt" \
    --cluster-signing-cert-file "$PKI/ca.crt" --cluster-signing-key-file "$PKI/ca.key" \
    --leader-elect=false --secure-port 0 --profiling=false
  wait_for "kube-controller-manager (service account controller)" 60 "$LOGS/kube-controller-manager.log" \
    kubectl_ get serviceaccount default -n default
}

kubectl_() { "$BIN/kubectl" --kubeconfig "$ADMIN_KUBECONFIG" "$@"; }
helm_() { KUBECONFIG=$ADMIN_KUBECONFIG "$BIN/helm" "$@"; }

install_chart() {
  if helm_ status "$RELEASE" -n "$NAMESPACE" >/dev/null 2>&1; then
    return 0
  fi
  log "helm install $RELEASE helm/lbmode -n $NAMESPACE --create-namespace"
  helm_ install "$RELEASE" "$ROOT/helm/lbmode" -n "$NAMESPACE" --create-namespace >"$LOGS/helm-install.log"
}

# The operator process as the Deployment the chart rendered would run it: the same environment, the chart's
# ServiceAccount (a token from the TokenRequest API), the chart's webhook certificate.
run_operator() {
  local deployment secret sa token env_file
  if running operator; then
    return 0
  fi
  deployment=$(kubectl_ get deployment -n "$NAMESPACE" -l app.kubernetes.io/instance=$RELEASE,app.kubernetes.io/component=operator \
    -o jsonpath='{.items[0].metadata.name}')
  [ -n "$deployment" ] || die "the chart's operator Deployment was not found in $NAMESPACE"
  sa=$(kubectl_ get deployment "$deployment" -n "$NAMESPACE" -o jsonpath='{.spec.template.spec.serviceAccountName}')
  secret=$(kubectl_ get deployment "$deployment" -n "$NAMESPACE" \
    -o jsonpath='{.spec.template.spec.volumes[?(@.name=="webhook-tls")].secret.secretName}')
  mkdir -p "$STATE/webhook-tls"
  kubectl_ get secret "$secret" -n "$NAMESPACE" -o jsonpath='{.data.tls\.crt}' | base64 -d >"$STATE/webhook-tls/tls.crt"
  kubectl_ get secret "$secret" -n "$NAMESPACE" -o jsonpath='{.data.tls\.key}' | base64 -d >"$STATE/webhook-tls/tls.key"
  chmod 600 "$STATE/webhook-tls/tls.key"

  token=$(kubectl_ create token "$sa" -n "$NAMESPACE" --duration 8760h)
  kubeconfig "$STATE/operator.kubeconfig" "system:serviceaccount:$NAMESPACE:$sa" "token:$token" "$NAMESPACE"

  # The container's literal environment variables (fieldRefs are set below), then what differs outside a pod.
  env_file=$STATE/operator.env
  kubectl_ get deployment "$deployment" -n "$NAMESPACE" \
    -o go-template='{{range (index .spec.template.spec.containers 0).env}}{{if .value}}{{.name}}={{.value}}{{"\n"}}{{end}}{{end}}' \
    >"$env_file"
  {
    echo "POD_NAME=kube-up-operator"
    echo "POD_NAMESPACE=$NAMESPACE"
    echo "LBMODE_WEBHOOK_CERT_DIR=$STATE/webhook-tls"
    echo "QUARKUS_HTTP_HOST=$ADDRESS"
    echo "QUARKUS_HTTP_PORT=$OPERATOR_HTTP_PORT"
    echo "QUARKUS_HTTP_SSL_PORT=$OPERATOR_HTTPS_PORT"
    echo "KUBECONFIG=$STATE/operator.kubeconfig"
  } >>"$env_file"
  local environment
  mapfile -t environment <"$env_file"
  start operator env "${environment[@]}" "$ROOT/lbmode" operator
  wait_for operator 600 "$LOGS/operator.log" curl -sf "http://$ADDRESS:$OPERATOR_HTTP_PORT/q/health/ready"

  route_webhook
}

# The chart's webhook Service gets one more EndpointSlice: the operator process. Owned by the Service, so that
# `helm uninstall` (which deletes the Service) garbage-collects it too.
route_webhook() {
  local service uid
  service=$(kubectl_ get validatingwebhookconfigurations -l app.kubernetes.io/instance=$RELEASE \
    -o jsonpath='{.items[0].webhooks[0].clientConfig.service.name}')
  uid=$(kubectl_ get service "$service" -n "$NAMESPACE" -o jsonpath='{.metadata.uid}')
  kubectl_ apply -f - >/dev/null <<EOF
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: $service-kube-up
  namespace: $NAMESPACE
  labels:
    kubernetes.io/service-name: $service
    endpointslice.kubernetes.io/managed-by: lbmode-kube-up
  ownerReferences:
  - apiVersion: v1
    kind: Service
    name: $service
    uid: $uid
addressType: IPv4
endpoints:
- addresses: ["$ADDRESS"]
  conditions:
    ready: true
ports:
- name: https
  port: $OPERATOR_HTTPS_PORT
  protocol: TCP
- name: http-metrics
  port: $OPERATOR_HTTP_PORT
  protocol: TCP
EOF
  wait_for "admission webhook through the API server" 60 "$LOGS/operator.log" webhook_answers
}

# A server-side dry run of a valid Cluster create: it succeeds only when the API server's admission call reached the
# webhook and the webhook allowed it ("failed calling webhook" otherwise, with failurePolicy Fail).
webhook_answers() {
  sed -e 's/^  name: lb-snat$/  name: kube-up-probe/' -e 's/^  namespace: cluster-lb-snat$/  namespace: default/' \
    "$ROOT/examples/cluster-snat.yaml" | kubectl_ create --dry-run=server -o name -f -
}

print_exports() {
  echo "export KUBECONFIG=$ADMIN_KUBECONFIG"
  echo "export PATH=$BIN:\$PATH"
}

up() {
  [ "$(id -u)" -eq 0 ] || die "kube up needs root (it adds $ADDRESS on a local interface: webhook endpoints may not be loopback)"
  command -v openssl >/dev/null || die "openssl is needed"
  local started
  started=$(date +%s)
  BIN=$(bin_dir)
  [ -x "$BIN/kube-apiserver" ] || "$ROOT/kube/build.sh" >&2
  mkdir -p "$STATE" "$LOGS"
  echo "$ADDRESS" >"$STATE/address"
  add_address
  make_pki
  kubeconfig "$ADMIN_KUBECONFIG" kubernetes-admin admin default
  start_control_plane "$BIN"
  if [ "${LBMODE_KUBE_NO_INSTALL:-}" != 1 ]; then
    install_chart
    run_operator
  fi
  log "ready in $(( $(date +%s) - started )) s (logs: $LOGS)"
  print_exports
}

down() {
  local name
  for name in operator kube-controller-manager kube-apiserver etcd; do
    stop "$name"
  done
  [ -f "$STATE/address" ] && ADDRESS=$(cat "$STATE/address")
  remove_address
  rm -rf "$STATE"
  log "stopped; state removed"
}

status() {
  local name
  BIN=$(bin_dir)
  for name in etcd kube-apiserver kube-controller-manager operator; do
    if running "$name"; then echo "$name: running (pid $(cat "$STATE/$name.pid"))"; else echo "$name: stopped"; fi
  done
  print_exports
}

case "${1:-}" in
  up) up ;;
  down) down ;;
  status) status ;;
  *) usage >&2; exit 2 ;;
esac
