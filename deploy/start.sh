#!/usr/bin/env bash
# The hosted recipe: N `streamlit run app.py` processes on loopback behind nginx with session affinity,
# plus (optionally) the latency worker. Runs in the foreground; Ctrl-C / SIGTERM stops everything.
#
#   bash deploy/start.sh                          # one Streamlit process per core, nginx on :8501
#
# It heals what it can: a replica that exits is started again (its students reconnect, the others never
# notice); deploy/health.py checks every replica every 2 s, takes one that stops answering (hung) out of
# nginx's rotation until it answers again, and kills it after CSL_HUNG_RESTART_S so that it restarts. The
# supervised worker is restarted the same way, and the app processes never start a worker of their own.
# It exits non-zero (for the container's restart policy) only when nginx dies or a replica keeps dying
# at start-up (CSL_CRASH_LOOP exits within 10 s in a row).
#
# Environment (all optional):
#   CSL_PROCESSES    number of Streamlit processes (default: cores, `nproc` capped by a cgroup CPU quota)
#   CSL_PORTS        explicit comma-separated loopback ports for them (overrides the two below)
#   CSL_BASE_PORT    first loopback port (default 8601); processes use BASE, BASE+1, ...
#   CSL_LISTEN       what nginx listens on: "PORT" or "ADDRESS:PORT" (default 8501, all interfaces)
#   CSL_RUN_DIR      directory for the rendered nginx.conf, pid files, logs (default: a new temp dir)
#   CSL_NGINX_WORKERS  nginx worker processes (default 1: plenty for a class)
#   CSL_START_TIMEOUT  seconds to wait for every process to answer /_stcore/health (default 120)
#   CSL_HEALTH_INTERVAL  seconds between health checks of each replica (default 2)
#   CSL_HUNG_RESTART_S   seconds a replica may stay unhealthy before it is killed and restarted (default 30)
#   CSL_CRASH_LOOP   quick exits in a row after which a replica is given up and start.sh exits (default 5)
#   CSL_WORKER_CMD   the latency worker's command line (see the hook below); not started when unset
#   CSL_CALIBRATE    with a worker: RUNTIME:DTYPE pairs it calibrates at start-up (default "torch:float32
#                    onnxruntime:float32 onnxruntime:int8"; empty for none), at CSL_CALIBRATE_THREADS (default 2,
#                    the Explorer's default threads)
#   STREAMLIT_SERVER_COOKIE_SECRET  shared by all processes (default: a fresh random secret)
#   PYTHON, NGINX    interpreters/binaries to use (default python3, nginx)
set -uo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"

PYTHON="${PYTHON:-python3}"
if [ -z "${NGINX:-}" ]; then
  NGINX="$(command -v nginx || true)"
  [ -z "$NGINX" ] && [ -x /usr/sbin/nginx ] && NGINX=/usr/sbin/nginx
fi
if [ -z "$NGINX" ]; then
  echo "start.sh: nginx not found (apt-get install nginx)" >&2
  exit 1
fi

# Default: one process per core this container may use: nproc (CPU affinity), capped by a cgroup CPU
# quota (a Kubernetes CPU limit or `docker run --cpus`), which nproc does not see.
cores() {
  local n quota period
  n="$(nproc)"
  if read -r quota period 2>/dev/null </sys/fs/cgroup/cpu.max && [ "$quota" != max ]; then :
  elif read -r quota 2>/dev/null </sys/fs/cgroup/cpu/cpu.cfs_quota_us && [ "$quota" -gt 0 ] &&
       read -r period 2>/dev/null </sys/fs/cgroup/cpu/cpu.cfs_period_us; then :
  else quota=""; fi
  if [ -n "$quota" ] && [ "${period:-0}" -gt 0 ]; then
    quota=$(((quota + period - 1) / period))
    [ "$quota" -lt "$n" ] && n="$quota"
  fi
  echo "$n"
}
PROCESSES="${CSL_PROCESSES:-$(cores)}"
LISTEN="${CSL_LISTEN:-8501}"
NGINX_WORKERS="${CSL_NGINX_WORKERS:-1}"
START_TIMEOUT="${CSL_START_TIMEOUT:-120}"
HEALTH_INTERVAL="${CSL_HEALTH_INTERVAL:-2}"
HUNG_RESTART_S="${CSL_HUNG_RESTART_S:-30}"
CRASH_LOOP="${CSL_CRASH_LOOP:-5}"
case "$PROCESSES" in
  '' | *[!0-9]* | 0) echo "start.sh: CSL_PROCESSES must be a whole number >= 1, not '$PROCESSES'" >&2; exit 2 ;;
esac
if [ -n "${CSL_PORTS:-}" ]; then
  IFS=, read -r -a PORTS <<<"$CSL_PORTS"
  for port in "${PORTS[@]}"; do
    case "$port" in
      '' | *[!0-9]*) echo "start.sh: CSL_PORTS must be comma-separated port numbers, not '$CSL_PORTS'" >&2; exit 2 ;;
    esac
  done
else
  PORTS=()
  for ((i = 0; i < PROCESSES; i++)); do PORTS+=($(( ${CSL_BASE_PORT:-8601} + i ))); done
fi
if [ "${#PORTS[@]}" -lt 1 ]; then
  echo "start.sh: no Streamlit ports (CSL_PROCESSES=$PROCESSES, CSL_PORTS=${CSL_PORTS:-})" >&2
  exit 2
fi

if [ -n "${CSL_RUN_DIR:-}" ]; then
  RUN_DIR="$CSL_RUN_DIR"
  mkdir -p "$RUN_DIR"
else
  RUN_DIR="$(mktemp -d -t csl-deploy.XXXXXX)"
fi
RUN_DIR="$(cd "$RUN_DIR" && pwd)"
# nginx workers run as an unprivileged user when the master is root: they must reach their temp dirs.
chmod 755 "$RUN_DIR"
export CSL_RUN_DIR="$RUN_DIR"

# One signing secret for every process (Streamlit's XSRF cookie and signed cookies), so a browser
# moved to another process is not refused. Passed by environment, not argv (not visible in `ps`).
if [ -z "${STREAMLIT_SERVER_COOKIE_SECRET:-}" ]; then
  STREAMLIT_SERVER_COOKIE_SECRET="$("$PYTHON" -c 'import secrets; print(secrets.token_hex(32))')"
fi
export STREAMLIT_SERVER_COOKIE_SECRET

PIDS=()
NAMES=()
stopping=0
stop_all() {
  [ "$stopping" = 1 ] && return
  stopping=1
  local pid deadline file
  # A stopped (SIGSTOP) replica would never act on its supervisor's TERM: continue it first.
  for file in "$RUN_DIR"/streamlit-*.pid "$RUN_DIR"/worker.pid; do
    [ -f "$file" ] && kill -CONT "$(<"$file")" 2>/dev/null
  done
  for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null; done
  deadline=$((SECONDS + 15))
  for pid in "${PIDS[@]}"; do
    while kill -0 "$pid" 2>/dev/null && [ "$SECONDS" -lt "$deadline" ]; do sleep 0.2; done
    kill -KILL "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
  done
  for file in "$RUN_DIR"/streamlit-*.pid "$RUN_DIR"/worker.pid; do  # anything a supervisor left behind
    [ -f "$file" ] && kill -KILL "$(<"$file")" 2>/dev/null
  done
  rm -f "$RUN_DIR"/*.pid
  echo "start.sh: stopped" >&2
}
trap 'stop_all; exit 130' INT
trap 'stop_all; exit 143' TERM
trap 'stop_all' EXIT

started() {  # name pid: remember a child (a supervisor loop, nginx or the health monitor)
  NAMES+=("$1")
  PIDS+=("$2")
}

# supervise NAME GIVE_UP COMMAND...: run COMMAND, writing its pid to RUN_DIR/NAME.pid, and start it again
# whenever it exits. After CRASH_LOOP exits in a row that each came within 10 s of their start, a replica
# (GIVE_UP=1) is given up (exit 1: the site is broken, let the container restart); the worker (GIVE_UP=0)
# only waits longer between starts (up to a minute): without it pages still serve their engine numbers.
supervise() {
  local name="$1" give_up="$2" child="" quick=0 began status pause
  shift 2
  trap '[ -n "$child" ] && kill -TERM "$child" 2>/dev/null; wait "$child" 2>/dev/null; exit 0' TERM INT
  while :; do
    began=$SECONDS
    "$@" &
    child=$!
    echo "$child" >"$RUN_DIR/$name.pid"
    wait "$child"
    status=$?
    if [ $((SECONDS - began)) -lt 10 ]; then quick=$((quick + 1)); else quick=0; fi
    pause=1
    if [ "$quick" -ge "$CRASH_LOOP" ]; then
      if [ "$give_up" = 1 ]; then
        echo "start.sh: $name exited $quick times in a row within 10 s of starting (status $status); giving up" >&2
        exit 1
      fi
      pause=$((quick * 5 > 60 ? 60 : quick * 5))
    fi
    echo "start.sh: $name exited (status $status); starting it again in $pause s" >&2
    sleep "$pause"
  done
}

# --- Optional hook: the latency worker ---------------------------------------------------------
# Set CSL_WORKER_CMD to the worker's command line (e.g. "python3 -m core.measurement.worker"); it is exec'd from
# the repository root with this environment (CSL_RUN_DIR, CSL_DATA_DIR if set), before the app
# processes. One worker per host (per pod) serves all N app processes through their shared result
# store, so every app process must see the same store (same CSL_DATA_DIR). A worker that exits (for
# instance after an idle timeout) is started again a second later; it is stopped with everything else.
# The app processes then never start a worker themselves (CSL_WORKER_SUPERVISED=1).
# Unset: no worker is started here (the app starts one on demand itself).
if [ -n "${CSL_WORKER_CMD:-}" ]; then
  export CSL_WORKER_SUPERVISED=1  # the app processes never start a worker of their own
  supervise worker 0 bash -c "exec $CSL_WORKER_CMD" >>"$RUN_DIR/worker.log" 2>&1 &
  started worker-supervisor $!
  echo "start.sh: worker: $CSL_WORKER_CMD (supervised, log $RUN_DIR/worker.log)" >&2
fi

# --- The Streamlit processes, loopback only, each restarted when it exits ------------------------
for port in "${PORTS[@]}"; do
  supervise "streamlit-$port" 1 "$PYTHON" -m streamlit run app.py \
    --server.headless true --server.address 127.0.0.1 --server.port "$port" \
    --server.fileWatcherType none --server.runOnSave false \
    --browser.gatherUsageStats false \
    >>"$RUN_DIR/streamlit-$port.log" 2>&1 &
  started "streamlit-$port" $!
done

# --- nginx config: the template with this run's upstreams ----------------------------------------
PORT_LIST="$(IFS=,; echo "${PORTS[*]}")"
"$PYTHON" "$ROOT/deploy/health.py" "$RUN_DIR" "$PORT_LIST" --render
conf="$(<"$ROOT/deploy/nginx.conf.template")"
conf="${conf//@LISTEN@/$LISTEN}"
conf="${conf//@RUN_DIR@/$RUN_DIR}"
conf="${conf//@WORKERS@/$NGINX_WORKERS}"
printf '%s\n' "$conf" >"$RUN_DIR/nginx.conf"
NGINX_ARGS=(-p "$RUN_DIR" -c "$RUN_DIR/nginx.conf" -e stderr)
if ! "$NGINX" -t -q "${NGINX_ARGS[@]}"; then
  echo "start.sh: nginx rejected $RUN_DIR/nginx.conf" >&2
  exit 1
fi

# --- Wait until every process answers, then put nginx in front ------------------------------------
health() {
  "$PYTHON" - "$@" <<'PY'
import sys, urllib.request
try:
    sys.exit(urllib.request.urlopen(sys.argv[1], timeout=2).status != 200)
except OSError:
    sys.exit(1)
PY
}
deadline=$((SECONDS + START_TIMEOUT))
for i in "${!PORTS[@]}"; do
  port="${PORTS[$i]}"
  until health "http://127.0.0.1:$port/_stcore/health"; do
    for j in "${!PIDS[@]}"; do
      if ! kill -0 "${PIDS[$j]}" 2>/dev/null; then
        echo "start.sh: ${NAMES[$j]} exited during start-up; its log:" >&2
        tail -n 20 "$RUN_DIR/${NAMES[$j]}.log" >&2 2>/dev/null
        exit 1
      fi
    done
    if [ "$SECONDS" -ge "$deadline" ]; then
      echo "start.sh: 127.0.0.1:$port not healthy after ${START_TIMEOUT}s (log $RUN_DIR/streamlit-$port.log)" >&2
      exit 1
    fi
    sleep 0.5
  done
done

"$NGINX" "${NGINX_ARGS[@]}" -g 'daemon off;' &
started nginx $!
case "$LISTEN" in
  *:*) probe_host="${LISTEN%:*}"; probe_port="${LISTEN##*:}" ;;
  *) probe_host=127.0.0.1; probe_port="$LISTEN" ;;
esac
case "$probe_host" in 0.0.0.0 | "*" | "[::]") probe_host=127.0.0.1 ;; esac
until health "http://$probe_host:$probe_port/_stcore/health"; do
  if ! kill -0 "${PIDS[-1]}" 2>/dev/null || [ "$SECONDS" -ge "$deadline" ]; then
    echo "start.sh: nginx did not come up on $LISTEN" >&2
    exit 1
  fi
  sleep 0.2
done
"$PYTHON" "$ROOT/deploy/health.py" "$RUN_DIR" "$PORT_LIST" --interval "$HEALTH_INTERVAL" \
  --restart-after "$HUNG_RESTART_S" 2>>"$RUN_DIR/health.log" &
started health $!
echo "start.sh: ready: http://$LISTEN -> ${#PORTS[@]} Streamlit processes on 127.0.0.1:${PORTS[*]} (run dir $RUN_DIR)" >&2

# Calibrated before the class starts: queue this host's latency models for the worker (after any
# measurement; a model already fitted for this host and these library versions costs nothing).
if [ -n "${CSL_WORKER_CMD:-}" ]; then
  for pair in ${CSL_CALIBRATE-torch:float32 onnxruntime:float32 onnxruntime:int8}; do
    "$PYTHON" -m core calibrate --queue --runtime "${pair%%:*}" --dtype "${pair##*:}" \
      --threads "${CSL_CALIBRATE_THREADS:-$(( $(nproc) < 2 ? $(nproc) : 2 ))}" >&2 ||
      echo "start.sh: could not queue the $pair calibration (see above); the pages queue it when asked" >&2
  done
fi

# Foreground until nginx, the health monitor or a supervisor that gave up exits: then stop the rest and
# report it (non-zero: let the container's restart policy start the recipe again).
wait -n
status=$?
for j in "${!PIDS[@]}"; do
  if ! kill -0 "${PIDS[$j]}" 2>/dev/null; then
    echo "start.sh: ${NAMES[$j]} exited (status $status); stopping the rest" >&2
  fi
done
[ "$status" = 0 ] && status=1
exit "$status"
