#!/usr/bin/env bash
# Installs stripe-mock (pinned), starts it in the background on a free
# loopback port and prints the environment the contract test needs:
#   eval "$(bash .ci/stripe-mock.sh)" && go test ./providers/stripe -run StripeMock
# Diagnostics go to stderr; stdout carries only the export lines.
set -euo pipefail

STRIPE_MOCK_VERSION=v0.203.0

log() { echo "stripe-mock.sh: $*" >&2; }

bin="$(go env GOBIN)"
[ -n "$bin" ] || bin="$(go env GOPATH)/bin"
if [ ! -x "$bin/stripe-mock" ] || [ "$(cat "$bin/.stripe-mock.version" 2>/dev/null)" != "$STRIPE_MOCK_VERSION" ]; then
	log "installing github.com/stripe/stripe-mock@$STRIPE_MOCK_VERSION"
	(cd / && go install "github.com/stripe/stripe-mock@$STRIPE_MOCK_VERSION") >&2
	echo "$STRIPE_MOCK_VERSION" >"$bin/.stripe-mock.version"
fi

logfile="$(mktemp "${TMPDIR:-/tmp}/stripe-mock.XXXXXX.log")"
# Port 0 on both listeners: the kernel picks free ports, and nothing binds
# beyond loopback (stripe-mock otherwise opens HTTPS on [::]:12112).
nohup "$bin/stripe-mock" -http-addr 127.0.0.1:0 -https-addr 127.0.0.1:0 >"$logfile" 2>&1 </dev/null &
pid=$!
disown "$pid" 2>/dev/null || true

addr=""
for _ in $(seq 1 300); do
	if ! kill -0 "$pid" 2>/dev/null; then
		log "stripe-mock exited early; its log ($logfile):"
		cat "$logfile" >&2
		exit 1
	fi
	addr="$(sed -n 's/^Listening for HTTP at address: //p' "$logfile" | head -n1)"
	if [ -n "$addr" ]; then
		if command -v curl >/dev/null 2>&1; then
			if curl -fsS -o /dev/null -H 'Authorization: Bearer sk_test_123' "http://$addr/v1/customers?limit=1"; then
				break
			fi
		elif (exec 3<>"/dev/tcp/${addr%:*}/${addr##*:}") 2>/dev/null; then
			break
		fi
	fi
	addr=""
	sleep 0.1
done
if [ -z "$addr" ]; then
	log "stripe-mock did not answer within 30s; its log ($logfile):"
	cat "$logfile" >&2
	kill "$pid" 2>/dev/null || true
	exit 1
fi
log "stripe-mock $STRIPE_MOCK_VERSION (pid $pid) listening on $addr, log $logfile"
echo "export RECONCTL_STRIPE_MOCK=$addr"
echo "export RECONCTL_STRIPE_MOCK_PID=$pid"
