#!/usr/bin/env bash
# Installs Prism (pinned, from the npm registry, into .ci/prism/), serves
# Clerk's and WorkOS's own OpenAPI specs (../shared/contracts, copied and
# patched for Prism's quirks by .ci/specpatch) on free loopback ports, and
# prints the environment the contract tests need:
#   eval "$(bash .ci/prism.sh)" && go test ./providers/clerk ./providers/workos -run Prism
# Diagnostics go to stderr; stdout carries only the export lines. Any
# failure (npm, a missing spec, Prism not answering) exits non-zero.
set -euo pipefail
cd "$(dirname "$0")/.."

PRISM_VERSION=5.16.0
shared="${RECONCTL_SHARED:-../shared}"
contracts="$shared/contracts"
clerk_spec="$contracts/clerk-bapi-2021-02-05.yml"
workos_spec="$contracts/workos-open-api-spec.yaml"

log() { echo "prism.sh: $*" >&2; }

for f in "$clerk_spec" "$workos_spec"; do
	if [ ! -r "$f" ]; then
		log "missing $f (the contract specs live in ../shared/contracts beside the repo; set RECONCTL_SHARED to another location)"
		exit 1
	fi
done

prefix=.ci/prism
prism="$prefix/node_modules/.bin/prism"
installed="$(sed -n 's/^  "version": "\(.*\)",$/\1/p' "$prefix/node_modules/@stoplight/prism-cli/package.json" 2>/dev/null || true)"
if [ ! -x "$prism" ] || [ "$installed" != "$PRISM_VERSION" ]; then
	log "installing @stoplight/prism-cli@$PRISM_VERSION into $prefix"
	command -v npm >/dev/null || { log "npm is not installed"; exit 1; }
	mkdir -p "$prefix"
	npm install --prefix "$prefix" --no-audit --no-fund --no-save --loglevel=error "@stoplight/prism-cli@$PRISM_VERSION" >&2
	[ -x "$prism" ] || { log "npm did not install $prism"; exit 1; }
fi

dir="$(mktemp -d "${TMPDIR:-/tmp}/reconctl-prism.XXXXXX")"
go run ./.ci/specpatch clerk "$clerk_spec" "$dir/clerk.yml" >&2
go run ./.ci/specpatch workos "$workos_spec" "$dir/workos.yaml" >&2

pids=()
cleanup_on_failure() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	rm -rf "$dir"
}
trap cleanup_on_failure EXIT

free_port() {
	local p
	for _ in $(seq 1 50); do
		p=$((20000 + RANDOM % 40000))
		if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
			echo "$p"
			return 0
		fi
	done
	log "no free loopback port found"
	return 1
}

# start NAME SPEC EXTRA...: prints "PORT PID" once Prism answers.
start() {
	local name=$1 spec=$2 port pid logfile
	shift 2
	port="$(free_port)"
	logfile="$dir/$name.log"
	nohup "$prism" mock -h 127.0.0.1 -p "$port" --errors "$@" "$spec" >"$logfile" 2>&1 </dev/null &
	pid=$!
	disown "$pid" 2>/dev/null || true
	pids+=("$pid")
	# Prism parses a 1-2 MB spec before listening: allow 120 s.
	for _ in $(seq 1 1200); do
		if ! kill -0 "$pid" 2>/dev/null; then
			log "Prism ($name) exited early; its log ($logfile):"
			cat "$logfile" >&2
			return 1
		fi
		if grep -q "Prism is listening" "$logfile" && (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
			log "Prism $PRISM_VERSION ($name, pid $pid) listening on 127.0.0.1:$port, log $logfile"
			echo "$port $pid"
			return 0
		fi
		sleep 0.1
	done
	log "Prism ($name) did not answer within 120s; its log ($logfile):"
	cat "$logfile" >&2
	kill "$pid" 2>/dev/null || true
	return 1
}

# Clerk: dynamic mode (its static examples break some of the spec's own
# patterns); WorkOS: static examples (dynamic cursors would never end).
read -r clerk_port clerk_pid < <(start clerk "$dir/clerk.yml" -d)
[ -n "${clerk_pid:-}" ] || exit 1
pids+=("$clerk_pid")
read -r workos_port workos_pid < <(start workos "$dir/workos.yaml")
[ -n "${workos_pid:-}" ] || exit 1
pids+=("$workos_pid")

trap - EXIT
echo "export RECONCTL_PRISM_DIR=$dir"
echo "export RECONCTL_PRISM_CLERK=127.0.0.1:$clerk_port"
echo "export RECONCTL_PRISM_CLERK_SPEC=$dir/clerk.yml"
echo "export RECONCTL_PRISM_CLERK_PID=$clerk_pid"
echo "export RECONCTL_PRISM_WORKOS=127.0.0.1:$workos_port"
echo "export RECONCTL_PRISM_WORKOS_SPEC=$dir/workos.yaml"
echo "export RECONCTL_PRISM_WORKOS_PID=$workos_pid"
