#!/usr/bin/env bash
# headlight set-up on a fresh Debian 12 machine (run as root, or with sudo available).
#   bash scripts/bootstrap.sh run    install what is missing, build, open the window on the default model
#                                    (no display: the demo under Xvfb, a screenshot and the two texts)
#   bash scripts/bootstrap.sh test   install what is missing, build, run every test, then build the generic variant
#                                    (no x86 kernels) and run the unit and engine tests there
# Environment: BUILD_DIR (default build), HEADLIGHT_SHARED_DIR (default ../shared), JOBS (default nproc),
# GENERIC_BUILD_DIR (test: the build without x86 kernels, default $BUILD_DIR-generic).
set -euo pipefail
cd "$(dirname "$0")/.."

mode=${1:-run}
BUILD_DIR=${BUILD_DIR:-build}
JOBS=${JOBS:-$(nproc)}
SHARED=${HEADLIGHT_SHARED_DIR:-$(cd .. && pwd)/shared}

packages=(
  build-essential cmake ninja-build pkg-config ccache git
  libtorch-dev libopenblas0-openmp
  libsqlite3-dev sqlite3 libeigen3-dev doctest-dev nlohmann-json3-dev libsentencepiece-dev libstb-dev libicu-dev
  libcli11-dev libimgui-dev libglfw3-dev xvfb xauth libgl1-mesa-dri
  clang libclang-rt-14-dev llvm-14 libomp-dev
)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "== installing: ${missing[*]}"
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

export CCACHE_DIR=${CCACHE_DIR:-$HOME/.cache/ccache}
# Paths relative to the checkout's parent: a fresh clone in another folder (CI) hits the same cache entries.
export CCACHE_BASEDIR=${CCACHE_BASEDIR:-$(cd .. && pwd)}
cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Release -DHEADLIGHT_SHARED_DIR="$SHARED" >/dev/null
cmake --build "$BUILD_DIR" -j "$JOBS"

case "$mode" in
  run)
    # The window on the default model (the model organism, in the repository), with the example loaded.
    model="assets/organism"
    if [ -n "${DISPLAY:-}" ]; then
      exec "$BUILD_DIR/bin/headlight" --model "$model" --db "$BUILD_DIR/headlight.db"
    fi
    # No display: the same example under Xvfb (Mesa's software GL), scripted, with a screenshot and the texts.
    echo "== no display (\$DISPLAY is not set): running the demo under Xvfb (assets/examples/demo.script)"
    shot="$BUILD_DIR/headlight-demo.png"
    LIBGL_ALWAYS_SOFTWARE=1 xvfb-run -a -s "-screen 0 1600x1000x24" "$BUILD_DIR/bin/headlight" --model "$model" \
      --db "$BUILD_DIR/headlight.db" --script assets/examples/demo.script --frames 10 --screenshot "$shot" \
      --state-out "$BUILD_DIR/headlight-demo.json" --print-texts
    echo "== screenshot: $shot (state: $BUILD_DIR/headlight-demo.json)"
    ;;
  test)
    # Torch-free unit tests under ASan+UBSan, then every fuzz target briefly (every target x FUZZ_SECONDS).
    HEADLIGHT_SHARED_DIR="$SHARED" JOBS="$JOBS" bash scripts/sanitize.sh
    HEADLIGHT_SHARED_DIR="$SHARED" JOBS="$JOBS" FUZZ_SECONDS="${FUZZ_SECONDS:-15}" bash scripts/fuzz.sh
    (cd "$BUILD_DIR" && ctest --output-on-failure)
    # The generic build once: the x86 kernels compiled out (-DHEADLIGHT_X86_KERNELS=OFF), the portable kernels that
    # other CPUs run, in its own directory; only the test binaries (the rest hits ccache or is not needed).
    GENERIC_DIR=${GENERIC_BUILD_DIR:-$BUILD_DIR-generic}
    echo "== generic build (HEADLIGHT_X86_KERNELS=OFF): $GENERIC_DIR"
    cmake -S . -B "$GENERIC_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Release -DHEADLIGHT_SHARED_DIR="$SHARED" \
      -DHEADLIGHT_X86_KERNELS=OFF -DHEADLIGHT_BUILD_GUI=OFF -DHEADLIGHT_BUILD_BENCH=OFF >/dev/null
    cmake --build "$GENERIC_DIR" -j "$JOBS" --target hl_unit_tests hl_engine_tests
    "$GENERIC_DIR/bin/hl_unit_tests"
    "$GENERIC_DIR/bin/hl_engine_tests"
    ;;
  *)
    echo "usage: $0 run|test" >&2
    exit 2
    ;;
esac
