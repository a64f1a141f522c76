#!/usr/bin/env bash
# headlight set-up on a fresh Debian 12 machine (run as root, or with sudo available).
#   bash scripts/bootstrap.sh run    install what is missing, build, run the main job on the default model
#   bash scripts/bootstrap.sh test   install what is missing, build, run every test
# Environment: BUILD_DIR (default build), HEADLIGHT_SHARED_DIR (default ../shared), JOBS (default nproc).
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
cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Release -DHEADLIGHT_SHARED_DIR="$SHARED" >/dev/null
cmake --build "$BUILD_DIR" -j "$JOBS"

case "$mode" in
  run)
    model="$SHARED/models/stories260K"
    spec="$(pwd)/assets/examples/guide_emphasis.json"
    exec "$BUILD_DIR/bin/headlight-cli" generate --model "$model/stories260K.bin" \
      --prompt "Once upon a time, there was a little girl named Lily. She loved her red ball." \
      --steering "$spec" --max-new 64
    ;;
  test)
    # Torch-free unit tests under ASan+UBSan, then every fuzz target briefly (13 targets x FUZZ_SECONDS).
    HEADLIGHT_SHARED_DIR="$SHARED" JOBS="$JOBS" bash scripts/sanitize.sh
    HEADLIGHT_SHARED_DIR="$SHARED" JOBS="$JOBS" FUZZ_SECONDS="${FUZZ_SECONDS:-15}" bash scripts/fuzz.sh
    cd "$BUILD_DIR"
    ctest --output-on-failure
    ;;
  *)
    echo "usage: $0 run|test" >&2
    exit 2
    ;;
esac
