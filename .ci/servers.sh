#!/usr/bin/env bash
# Makes sure the database servers the tests use answer: PostgreSQL at
# RECONCTL_TEST_POSTGRES and MySQL/MariaDB at RECONCTL_TEST_MYSQL (admin
# DSNs). A server that does not answer is started if it is a local one
# (pg_ctlcluster; mariadbd through start-stop-daemon) and waited for up to
# 30s; if it still does not answer the script fails, saying which and how
# to fix it (CI must not skip the server tests silently).
#   bash .ci/servers.sh check     # before the tests
#   bash .ci/servers.sh leftovers # after: warn about rct_* databases and roles left behind
# Diagnostics go to stderr. Never prints a password (the DSNs' are masked).
set -euo pipefail

log() { echo "servers.sh: $*" >&2; }

: "${RECONCTL_TEST_POSTGRES:=postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable}"
: "${RECONCTL_TEST_MYSQL:=mysql://root@127.0.0.1:3306/test}"

# dsn_part DSN user|password|host|port|db: one part of scheme://user:pw@host:port/db?query
dsn_part() {
	local rest="${1#*://}" userinfo="" hostport db
	rest="${rest%%\?*}"
	if [[ "$rest" == *@* ]]; then userinfo="${rest%%@*}"; rest="${rest#*@}"; fi
	hostport="${rest%%/*}"
	db=""; [[ "$rest" == */* ]] && db="${rest#*/}"
	case "$2" in
	user) echo "${userinfo%%:*}" ;;
	password) [[ "$userinfo" == *:* ]] && echo "${userinfo#*:}" || echo "" ;;
	host) echo "${hostport%%:*}" ;;
	port) [[ "$hostport" == *:* ]] && echo "${hostport##*:}" || echo "" ;;
	db) echo "$db" ;;
	esac
}

redact() { sed -E 's#(://[^:/@]+):[^@]*@#\1:***@#' <<<"$1"; }

pg_host="$(dsn_part "$RECONCTL_TEST_POSTGRES" host)"; pg_port="$(dsn_part "$RECONCTL_TEST_POSTGRES" port)"; pg_port="${pg_port:-5432}"
pg_user="$(dsn_part "$RECONCTL_TEST_POSTGRES" user)"; pg_db="$(dsn_part "$RECONCTL_TEST_POSTGRES" db)"
my_host="$(dsn_part "$RECONCTL_TEST_MYSQL" host)"; my_port="$(dsn_part "$RECONCTL_TEST_MYSQL" port)"; my_port="${my_port:-3306}"
my_user="$(dsn_part "$RECONCTL_TEST_MYSQL" user)"; my_pw="$(dsn_part "$RECONCTL_TEST_MYSQL" password)"

pg_answers() {
	if command -v pg_isready >/dev/null; then
		pg_isready -q -h "$pg_host" -p "$pg_port" ${pg_user:+-U "$pg_user"} ${pg_db:+-d "$pg_db"}
	else
		(exec 3<>"/dev/tcp/$pg_host/$pg_port") 2>/dev/null
	fi
}

my_client() { command -v mariadb || command -v mysql || true; }

my_answers() {
	local client
	client="$(my_client)"
	if [ -n "$client" ]; then
		MYSQL_PWD="$my_pw" "$client" --protocol=tcp -h "$my_host" -P "$my_port" ${my_user:+-u "$my_user"} -e 'SELECT 1' >/dev/null 2>&1
	else
		(exec 3<>"/dev/tcp/$my_host/$my_port") 2>/dev/null
	fi
}

is_local() { [ "$1" = 127.0.0.1 ] || [ "$1" = localhost ] || [ "$1" = ::1 ]; }

pg_start() {
	is_local "$pg_host" || return 0
	command -v pg_ctlcluster >/dev/null || { log "no pg_ctlcluster to start PostgreSQL with"; return 0; }
	local v
	for v in $(ls /etc/postgresql 2>/dev/null); do
		log "starting PostgreSQL $v (pg_ctlcluster $v main start)"
		pg_ctlcluster --skip-systemctl-redirect "$v" main start >&2 || true
	done
}

my_start() {
	is_local "$my_host" || return 0
	[ -x /usr/sbin/mariadbd ] || { log "no /usr/sbin/mariadbd to start MariaDB with"; return 0; }
	command -v start-stop-daemon >/dev/null || { log "no start-stop-daemon to start MariaDB with"; return 0; }
	log "starting MariaDB (/usr/sbin/mariadbd)"
	mkdir -p /run/mysqld 2>/dev/null && chown mysql:mysql /run/mysqld 2>/dev/null || true
	start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd >&2 || true
}

# ensure NAME DSN: the server answers, or is started and waited for, or the script fails.
ensure() {
	local name="$1" dsn="$2" answers="$3" start="$4" var="$5"
	if "$answers"; then
		log "$name at $(redact "$dsn") answers"
		return 0
	fi
	log "$name at $(redact "$dsn") does not answer; trying to start it"
	"$start"
	for _ in $(seq 1 30); do
		if "$answers"; then
			log "$name at $(redact "$dsn") answers"
			return 0
		fi
		sleep 1
	done
	log "FAIL: $name at $(redact "$dsn") still does not answer after 30s."
	log "  The server tests need it (RECONCTL_TEST_SERVERS=require). Start it, or set $var to an admin DSN of a server that answers."
	return 1
}

leftovers() {
	local found="" client
	if command -v psql >/dev/null; then
		found+="$(psql "$RECONCTL_TEST_POSTGRES" -Atc "SELECT 'postgres database ' || datname FROM pg_database WHERE datname LIKE 'rct\_%' UNION ALL SELECT 'postgres role ' || rolname FROM pg_roles WHERE rolname LIKE 'rct\_%'" 2>/dev/null || true)"
	fi
	client="$(my_client)"
	if [ -n "$client" ]; then
		found+="${found:+$'\n'}$(MYSQL_PWD="$my_pw" "$client" --protocol=tcp -h "$my_host" -P "$my_port" ${my_user:+-u "$my_user"} -Ne "SELECT CONCAT('mysql database ', schema_name) FROM information_schema.schemata WHERE schema_name LIKE 'rct\\_%' UNION ALL SELECT CONCAT('mysql user ', user) FROM mysql.user WHERE user LIKE 'rct\\_%'" 2>/dev/null || true)"
	fi
	found="$(sed '/^$/d' <<<"$found")"
	if [ -n "$found" ]; then
		log "WARNING: test databases or roles left behind (tests must drop what they create; other test runs on this machine may also still hold some):"
		sed 's/^/  /' <<<"$found" >&2
	else
		log "no rct_* databases or roles left behind"
	fi
}

case "${1:-check}" in
check)
	status=0
	ensure PostgreSQL "$RECONCTL_TEST_POSTGRES" pg_answers pg_start RECONCTL_TEST_POSTGRES || status=1
	ensure MariaDB/MySQL "$RECONCTL_TEST_MYSQL" my_answers my_start RECONCTL_TEST_MYSQL || status=1
	exit "$status"
	;;
leftovers) leftovers ;;
*) log "usage: servers.sh check|leftovers"; exit 2 ;;
esac
