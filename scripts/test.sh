#!/usr/bin/env bash
# One command: install what is missing (including the real PostgreSQL, Ceph RGW,
# promtool and botocore the tests start on 127.0.0.1), build with warnings as
# errors, run every test with ctest. Exits non-zero on any failure.
#   scripts/test.sh            dev preset (Debug)
#   scripts/test.sh --asan     AddressSanitizer + UBSan build
#   scripts/test.sh --tsan     ThreadSanitizer build; runs the unit and concurrency labels
#   scripts/test.sh --asan-unit  AddressSanitizer + UBSan build of the unit tests only
#                              (build/asan-unit); runs the unit and concurrency labels (CI)
#   (the dev run also builds the Release preset, -O3 with -Werror; SKIP_RELEASE_BUILD=1 skips it)
#   CTEST_ARGS="-R read"       extra ctest arguments
#   CTEST_LABELS="unit"        only tests with a label matching this (ctest -L)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

preset=dev
[[ "${1:-}" == "--asan" ]] && preset=asan
[[ "${1:-}" == "--tsan" ]] && preset=tsan

scripts/install-deps.sh --test
if [[ "${1:-}" == "--asan-unit" ]]; then
  dirs=$(cd tests && for f in unit/*/CMakeLists.txt; do printf '%s;' "${f%/CMakeLists.txt}"; done)
  cmake --preset asan -B build/asan-unit -DSH_ONLY_TEST_DIRS="${dirs%;}"
  cmake --build build/asan-unit -j "$(nproc)"
  # shellcheck disable=SC2086
  ctest --test-dir build/asan-unit --output-on-failure -j "$(nproc)" --timeout 900 \
    -L "${CTEST_LABELS:-unit|concurrency}" ${CTEST_ARGS:-}
  exit 0
fi
cmake --preset "$preset"
cmake --build --preset "$preset" -j "$(nproc)"
# shellcheck disable=SC2086
ctest --preset "$preset" -j "$(nproc)" --timeout 900 ${CTEST_LABELS:+-L "$CTEST_LABELS"} ${CTEST_ARGS:-}

# The Release configuration (-O3) with -Werror: optimizer-only warnings are
# caught where they start. Build only; the tests ran above.
if [[ "$preset" == dev && -z "${SKIP_RELEASE_BUILD:-}" ]]; then
  cmake --preset release
  cmake --build --preset release -j "$(nproc)"
fi
