#!/usr/bin/env bash
# The build steps of docker/Dockerfile, in one script the Dockerfile RUNs and the
# test suite runs natively (tests/integration/ecosystem/docker_build_steps_test.py).
#
#   scripts/docker-build-steps.sh build-deps                  apt-get the build stage's packages
#   scripts/docker-build-steps.sh build SRC BUILD_DIR         configure (Release, no tests) + build
#   scripts/docker-build-steps.sh stage BUILD_DIR PREFIX      install the binary into PREFIX, strip,
#                                                             check the staged binary runs
#   scripts/docker-build-steps.sh runtime-deps                apt-get the runtime libraries, add the user
#   scripts/docker-build-steps.sh runtime-packages            print the runtime package list
#
# DRY_RUN=1 prints the commands of a step instead of running them.
# A BUILD_DIR that is already configured (CMakeCache.txt) is built as it is: the
# test reuses the suite's own build instead of compiling a second one.
set -euo pipefail

# Build stage: compiler, CMake, and the -dev packages of scripts/install-deps.sh (no test tools).
build_pkgs=(build-essential cmake ninja-build pkg-config ca-certificates
  libmicrohttpd-dev nlohmann-json3-dev liblz4-dev prometheus-cpp-dev libspdlog-dev libfmt-dev
  libcli11-dev libcurl4-openssl-dev libssl-dev libpq-dev libpugixml-dev zlib1g-dev)
# Final stage: the shared libraries the binary links (readelf NEEDED), nothing else.
# libc6, libstdc++6 and libgcc-s1 are in debian:bookworm-slim already.
runtime_pkgs=(ca-certificates libmicrohttpd12 liblz4-1 libprometheus-cpp-core1.0 libspdlog1.10
  libfmt9 libcurl4 libssl3 libpq5 libpugixml1v5 zlib1g)
# The image's user: no shell, no home, a fixed uid for runAsNonRoot / runAsUser.
user_name=streamhouse
user_uid=10001

run() {
  if [[ -n "${DRY_RUN:-}" ]]; then
    printf '%q ' "$@"
    printf '\n'
  else
    "$@"
  fi
}

apt_install() {
  export DEBIAN_FRONTEND=noninteractive
  run apt-get update
  run apt-get install -y --no-install-recommends "$@"
  run rm -rf /var/lib/apt/lists/*
}

step=${1:-}
case "$step" in
  build-deps)
    apt_install "${build_pkgs[@]}"
    ;;
  build)
    src=${2:?usage: build SRC BUILD_DIR}
    build=${3:?usage: build SRC BUILD_DIR}
    if [[ -f "$build/CMakeCache.txt" ]]; then
      echo "docker-build-steps: reusing the configured build in $build" >&2
    else
      run cmake -S "$src" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release \
        -DSH_BUILD_TESTS=OFF -DSH_BUILD_BENCH=OFF
    fi
    run cmake --build "$build" --target streamhouse
    ;;
  stage)
    build=${2:?usage: stage BUILD_DIR PREFIX}
    prefix=${3:?usage: stage BUILD_DIR PREFIX}
    run install -D -m 0755 "$build/service/streamhouse" "$prefix/usr/local/bin/streamhouse"
    run strip --strip-unneeded "$prefix/usr/local/bin/streamhouse"
    # The staged binary must start: its flags and the health-check subcommand.
    run "$prefix/usr/local/bin/streamhouse" --version
    run "$prefix/usr/local/bin/streamhouse" serve --help
    run "$prefix/usr/local/bin/streamhouse" probe --help
    ;;
  runtime-deps)
    apt_install "${runtime_pkgs[@]}"
    run useradd --system --uid "$user_uid" --user-group --home-dir /nonexistent --no-create-home \
      --shell /usr/sbin/nologin "$user_name"
    ;;
  runtime-packages)
    printf '%s\n' "${runtime_pkgs[@]}"
    ;;
  *)
    sed -n '2,14p' "$0" >&2
    exit 2
    ;;
esac
