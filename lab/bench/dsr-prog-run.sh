#!/usr/bin/env bash
# Per-packet cost of dsr_ingress for traffic that is not for a VIP (not a test): every packet a DSR node receives
# passes this program, so this is what DSR costs the node's own traffic. Loads the object into a private bpffs (no
# interface, no namespace) and runs BPF_PROG_TEST_RUN (bpftool prog run) on an IPv4 and an IPv6 TCP segment
# addressed to a node (empty maps: no service matches), 3 rounds of 5,000,000 runs each, printing the kernel's average.
# Then dsr_egress on what dsr_ingress redirects on an LB node (egress-redirected-*: a client -> pod TCP segment after
# DNAT, with the skb context dsr_ingress leaves: mark MARK_REDIRECTED, arrived on and leaving by the same device) and
# on a pod's reply with no reverse entry (egress-reply-*: no mark).
# BASELINE_OBJ=FILE (an earlier build's dsr.o) runs first, in the same invocation, for a before/after.
# usage: lab/bench/dsr-prog-run.sh [OBJ]   (default: datapath/target/classes/bpf/dsr.o)
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
obj=${1:-$root/datapath/target/classes/bpf/dsr.o}
[ "$(id -u)" = 0 ] || { echo "dsr-prog-run.sh: run as root (BPF programs, bpffs)" >&2; exit 1; }
[ -f "$obj" ] || { echo "dsr-prog-run.sh: $obj missing: ./mvnw -B -o compile -pl datapath -am" >&2; exit 1; }
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
hex() { printf "$(echo "$1" | tr -d ' ' | sed 's/../\\x&/g')" > "$2"; }
eth="020202020202 040404040404"
tcp="9c40 0016 00000001 00000001 5010 ffff 0000 0000 $(printf '78%.0s' $(seq 64))"
# IPv4: 10.0.1.2 -> 10.0.0.10 (a node, not a VIP); IPv6: fd00:1::2 -> fd00::10
hex "$eth 0800 4500 0068 0000 4000 4006 0000 0a000102 0a00000a $tcp" "$dir/ipv4"
hex "$eth 86dd 60000000 0054 0640 fd000001000000000000000000000002 fd000000000000000000000000000010 $tcp" "$dir/ipv6"
# client -> pod after DNAT (10.0.1.2 -> 10.244.1.2, fd00:1::2 -> fd00:10:244:1::2), and the pod's reply
hex "$eth 0800 4500 0068 0000 4000 4006 0000 0a000102 0af40102 $tcp" "$dir/egress-redirected-ipv4"
hex "$eth 86dd 60000000 0054 0640 fd000001000000000000000000000002 fd000010024400010000000000000002 $tcp" "$dir/egress-redirected-ipv6"
hex "$eth 0800 4500 0068 0000 4000 4006 0000 0af40102 0a000102 $tcp" "$dir/egress-reply-ipv4"
hex "$eth 86dd 60000000 0054 0640 fd000010024400010000000000000002 fd000001000000000000000000000002 $tcp" "$dir/egress-reply-ipv6"
# struct __sk_buff up to ifindex: mark (offset 8) 0x6c620d5a, ingress_ifindex (36) and ifindex (40) 1 (lo, the
# device a test run uses); and the same without the mark
hex "0000000000000000 5a0d626c 0000000000000000000000000000000000000000 00000000 01000000 01000000" "$dir/ctx-redirected"
hex "0000000000000000 00000000 0000000000000000000000000000000000000000 00000000 01000000 01000000" "$dir/ctx-reply"
run() {
  mkdir -p "$dir/fs"
  unshare -m sh -c "mount -t bpf bpf '$dir/fs' && bpftool prog loadall '$1' '$dir/fs/p' type classifier >/dev/null &&
    for pkt in ipv4 ipv6; do
      printf '%s %s:' \"\$pkt\" 'ns per packet'
      for i in 1 2 3; do bpftool prog run pinned '$dir/fs/p/dsr_ingress' data_in '$dir/'\$pkt repeat 5000000 | sed -n 's/.*duration (average): \([0-9]*\)ns.*/ \1/p' | tr -d '\n'; done
      echo
    done
    for pkt in egress-redirected-ipv4 egress-redirected-ipv6 egress-reply-ipv4 egress-reply-ipv6; do
      case \$pkt in egress-redirected-*) ctx=ctx-redirected;; *) ctx=ctx-reply;; esac
      printf '%s %s:' \"\$pkt\" 'ns per packet'
      for i in 1 2 3; do bpftool prog run pinned '$dir/fs/p/dsr_egress' data_in '$dir/'\$pkt ctx_in '$dir/'\$ctx repeat 5000000 | sed -n 's/.*duration (average): \([0-9]*\)ns.*/ \1/p' | tr -d '\n'; done
      echo
    done"
}
if [ -n "${BASELINE_OBJ:-}" ]; then
  echo "######## baseline: $BASELINE_OBJ"
  run "$BASELINE_OBJ"
  echo "######## $obj"
fi
run "$obj"
