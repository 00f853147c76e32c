# shellcheck shell=bash
# Shared helpers of the bench scripts (sourced: `. "$root/bench/lib.sh"`).

# stop_pid PID: SIGTERM, up to 10 s to exit, then SIGKILL. No-op for "" or a dead pid.
stop_pid() {
  local pid=$1
  [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null || return 0
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
  kill -KILL "$pid" 2>/dev/null || true
}

# free_port: prints a random port in 20000-59999 nobody listens on (checked with ss).
free_port() {
  for _ in $(seq 50); do
    local p=$((20000 + RANDOM % 40000))
    if ! ss -Htln "sport = :$p" | grep -q .; then echo "$p"; return 0; fi
  done
  echo "no free port found" >&2
  exit 1
}

# need_tools SCRIPT TOOL...: exits 2 naming the first tool that is not installed.
need_tools() {
  local script=$1
  shift
  for tool in "$@"; do
    command -v "$tool" >/dev/null || { echo "$script: '$tool' is not installed" >&2; exit 2; }
  done
}

# nginx_conf DIR PORT ROOT CONNECTIONS [HTTP_DIRECTIVES]: writes DIR/nginx.conf for
# the baselines: one worker in the foreground, no access log, serving ROOT on
# 127.0.0.1:PORT, pid, error log and temp paths under DIR; HTTP_DIRECTIVES
# (lines) go into http {}. Start it with: nginx -p DIR -c DIR/nginx.conf -e DIR/logs/error.log
nginx_conf() {
  local dir=$1 port=$2 www=$3 conns=$4 extra=${5:-}
  mkdir -p "$dir/logs"
  cat >"$dir/nginx.conf" <<EOF
worker_processes 1;
daemon off;
pid $dir/nginx.pid;
error_log $dir/logs/error.log warn;
events { worker_connections $conns; }
http {
  access_log off;
  client_body_temp_path $dir/body;
  proxy_temp_path $dir/proxy;
  fastcgi_temp_path $dir/fastcgi;
  uwsgi_temp_path $dir/uwsgi;
  scgi_temp_path $dir/scgi;
$extra
  server {
    listen 127.0.0.1:$port;
    root $www;
  }
}
EOF
}
