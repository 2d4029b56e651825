#!/usr/bin/env bash
# shellcheck disable=SC2317 # cleanup and its helpers run from traps
# Runs Folio on this machine without Docker (`make run`):
#   packages     what is missing of Redis and Tesseract installed first (scripts/deps.sh run)
#   Redis        reused if something answers PING on 127.0.0.1:$REDIS_PORT, else started
#                here (AOF on, noeviction, data in ./data/redis)
#   GCS emulator fake-gcs-server at the version pinned in go.mod, data in ./data/gcs
#   api, worker  built from ./cmd, logs in ./data/logs
# then waits for the api's /readyz and prints how to submit a file. Ctrl-C (or SIGTERM)
# stops everything this script started, the worker first with SIGTERM so it drains.
#
# Environment (all optional):
#   API_PORT (8080)  GRPC_PORT (8081)  GCS_PORT (4443)  REDIS_PORT (6379)  DATA_DIR (./data)
#   LOG_LEVEL (info)  WORKER_CONCURRENCY (CPUs)  SHUTDOWN_TIMEOUT (25s)
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
root=$PWD

API_PORT=${API_PORT:-8080}
GRPC_PORT=${GRPC_PORT:-8081}
GCS_PORT=${GCS_PORT:-4443}
REDIS_PORT=${REDIS_PORT:-6379}
DATA_DIR=${DATA_DIR:-$root/data}
SHUTDOWN_TIMEOUT=${SHUTDOWN_TIMEOUT:-25s}
mkdir -p "$DATA_DIR"
DATA_DIR=$(cd "$DATA_DIR" && pwd)
logs=$DATA_DIR/logs
mkdir -p "$logs" "$DATA_DIR/redis" "$DATA_DIR/gcs" "$DATA_DIR/cache"

# Environment shared by the api and the worker (names: README, configuration table).
export REDIS_URL="redis://127.0.0.1:$REDIS_PORT/0"
export STORAGE_EMULATOR_HOST="127.0.0.1:$GCS_PORT"
export LOG_LEVEL=${LOG_LEVEL:-info}
export OMP_THREAD_LIMIT=1 MALLOC_ARENA_MAX=2

say() { printf 'run-local: %s\n' "$*" >&2; }
die() { say "$*"; exit 1; }

port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

redis_ping() {
	if command -v redis-cli >/dev/null 2>&1; then
		[ "$(redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping 2>/dev/null)" = PONG ]
	else
		# No redis-cli: speak RESP over bash's /dev/tcp.
		local reply
		exec 3<>"/dev/tcp/127.0.0.1/$REDIS_PORT" 2>/dev/null || return 1
		printf 'PING\r\n' >&3
		IFS= read -r -t 2 reply <&3 || reply=
		exec 3<&- 3>&-
		[ "${reply%$'\r'}" = +PONG ]
	fi
}

# wait_until SECONDS NAME PID CMD...: poll CMD every 0.2 s; fail early if PID dies.
wait_until() {
	local secs=$1 name=$2 pid=$3
	shift 3
	local deadline=$((SECONDS + secs))
	until "$@" >/dev/null 2>&1; do
		if [ -n "$pid" ] && ! kill -0 "$pid" 2>/dev/null; then
			say "$name exited during start-up; last lines of its log:"
			tail -n 20 "$logs/$name.log" >&2 || true
			return 1
		fi
		if [ "$SECONDS" -ge "$deadline" ]; then
			say "$name did not become ready within ${secs}s; last lines of its log:"
			tail -n 20 "$logs/$name.log" >&2 || true
			return 1
		fi
		sleep 0.2
	done
}

# start NAME CMD...: run CMD in the background in its own session, so a Ctrl-C on the
# terminal reaches only this script, which then stops the children in order.
names=()
pids=()
start() {
	local name=$1
	shift
	printf '\n=== %s: %s\n' "$(date -u +%FT%TZ)" "$*" >>"$logs/$name.log"
	if command -v setsid >/dev/null 2>&1; then
		setsid "$@" >>"$logs/$name.log" 2>&1 </dev/null &
	else
		"$@" >>"$logs/$name.log" 2>&1 </dev/null &
	fi
	names+=("$name")
	pids+=("$!")
	say "started $name (pid $!, log ${logs#"$root"/}/$name.log)"
}

# stop_one PID NAME GRACE_SECONDS: SIGTERM, wait up to GRACE_SECONDS, then SIGKILL.
stop_one() {
	local pid=$1 name=$2 grace=$3
	kill -0 "$pid" 2>/dev/null || return 0
	say "stopping $name (pid $pid)"
	kill -TERM "$pid" 2>/dev/null || return 0
	local deadline=$((SECONDS + grace))
	while kill -0 "$pid" 2>/dev/null; do
		if [ "$SECONDS" -ge "$deadline" ]; then
			say "$name still running after ${grace}s; sending SIGKILL"
			kill -KILL "$pid" 2>/dev/null || true
			break
		fi
		sleep 0.2
	done
	wait "$pid" 2>/dev/null || true
}

# worker_grace: seconds to wait for a draining worker: SHUTDOWN_TIMEOUT plus a margin
# (60 when SHUTDOWN_TIMEOUT is not a plain "<n>s" or "<n>m").
worker_grace() {
	if [[ $SHUTDOWN_TIMEOUT =~ ^([0-9]+)s$ ]]; then
		echo $((BASH_REMATCH[1] + 5))
	elif [[ $SHUTDOWN_TIMEOUT =~ ^([0-9]+)m$ ]]; then
		echo $((BASH_REMATCH[1] * 60 + 5))
	else
		echo 60
	fi
}

stopping=
cleanup() {
	[ -n "$stopping" ] && return
	stopping=1
	[ ${#pids[@]} -gt 0 ] || return 0
	trap '' INT TERM
	local i
	# Reverse start order: worker, api, GCS emulator, Redis.
	for ((i = ${#pids[@]} - 1; i >= 0; i--)); do
		case ${names[i]} in
		worker) stop_one "${pids[i]}" worker "$(worker_grace)" ;;
		*) stop_one "${pids[i]}" "${names[i]}" 10 ;;
		esac
	done
	say "stopped; state kept in ${DATA_DIR#"$root"/} (remove it for a clean start)"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# --- preflight --------------------------------------------------------------------
command -v go >/dev/null 2>&1 || die "go is not on PATH (need the version in go.mod)"
for p in "$API_PORT" "$GCS_PORT"; do
	port_busy "$p" && die "port $p on 127.0.0.1 is in use (set API_PORT or GCS_PORT, or stop what holds it)"
done

# --- packages -----------------------------------------------------------------------
# Redis and Tesseract (the worker is cgo over it): installed when missing, or the one
# command to run is printed (scripts/deps.sh).
"$root/scripts/deps.sh" run || die "install the packages above, then run make run again"

# --- build ------------------------------------------------------------------------
say "building bin/api, bin/worker, bin/fake-gcs-server"
go build -o bin/ ./cmd/api ./cmd/worker
go build -o bin/fake-gcs-server github.com/fsouza/fake-gcs-server

# --- Redis ------------------------------------------------------------------------
if redis_ping; then
	say "reusing the Redis that answers on 127.0.0.1:$REDIS_PORT"
	policy=$(redis-cli -h 127.0.0.1 -p "$REDIS_PORT" config get maxmemory-policy 2>/dev/null | tail -n 1 || true)
	case $policy in
	noeviction | '') ;;
	*) say "warning: that Redis has maxmemory-policy $policy; Folio needs noeviction (queued jobs must not be evicted)" ;;
	esac
else
	port_busy "$REDIS_PORT" && die "port $REDIS_PORT is in use but does not answer Redis PING"
	command -v redis-server >/dev/null 2>&1 ||
		die "no Redis on 127.0.0.1:$REDIS_PORT and no redis-server on PATH (Debian/Ubuntu: apt-get install redis-server)"
	start redis redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --dir "$DATA_DIR/redis" \
		--appendonly yes --maxmemory-policy noeviction --save '' --daemonize no
	wait_until 15 redis "${pids[-1]}" redis_ping
fi

# --- GCS emulator -----------------------------------------------------------------
# public-host must equal STORAGE_EMULATOR_HOST: the Go client sends object reads to
# http://$STORAGE_EMULATOR_HOST/<bucket>/<object> (XML API), which fake-gcs-server only
# routes as bucket/object when the Host header matches -public-host.
start gcs bin/fake-gcs-server -scheme http -host 127.0.0.1 -port "$GCS_PORT" \
	-public-host "127.0.0.1:$GCS_PORT" -external-url "http://127.0.0.1:$GCS_PORT" \
	-backend filesystem -filesystem-root "$DATA_DIR/gcs" -log-level warn
wait_until 30 gcs "${pids[-1]}" curl -fsS "http://127.0.0.1:$GCS_PORT/_internal/healthcheck"

# --- api and worker ---------------------------------------------------------------
start api env LISTEN_ADDR="127.0.0.1:$API_PORT" GRPC_LISTEN_ADDR="127.0.0.1:$GRPC_PORT" bin/api
start worker env CACHE_DIR="$DATA_DIR/cache/files" PDFIUM_CACHE_DIR="$DATA_DIR/cache/wazero" \
	SHUTDOWN_TIMEOUT="$SHUTDOWN_TIMEOUT" bin/worker
wait_until 60 api "${pids[-2]}" curl -fsS "http://127.0.0.1:$API_PORT/readyz"
kill -0 "${pids[-1]}" 2>/dev/null || { say "worker exited; last lines of its log:"; tail -n 20 "$logs/worker.log" >&2; exit 1; }

cat <<EOF

Folio is running:
  api     http://127.0.0.1:$API_PORT, gRPC 127.0.0.1:$GRPC_PORT (log ${logs#"$root"/}/api.log)
  worker  one process (log ${logs#"$root"/}/worker.log, cache ${DATA_DIR#"$root"/}/cache)
  GCS     http://127.0.0.1:$GCS_PORT (STORAGE_EMULATOR_HOST=127.0.0.1:$GCS_PORT, objects in ${DATA_DIR#"$root"/}/gcs)
  Redis   $REDIS_URL

Submit the sample PDF and wait for its outputs, from another terminal:
  FOLIO=http://127.0.0.1:$API_PORT GCS=http://127.0.0.1:$GCS_PORT examples/submit.sh [file.pdf|file.tiff|file.gif]

Ctrl-C stops what this script started.
EOF

# Run until interrupted or until one of the children exits on its own.
set +e
wait -n "${pids[@]}"
rc=$?
set -e
for i in "${!pids[@]}"; do
	if ! kill -0 "${pids[i]}" 2>/dev/null; then
		say "${names[i]} exited (status $rc); last lines of its log:"
		tail -n 20 "$logs/${names[i]}.log" >&2 || true
	fi
done
exit 1
