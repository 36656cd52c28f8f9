#!/usr/bin/env bash
# Install the pinned OpenMMLab stack and this project into the active Python.
#
#   bash tools/install.sh            # runtime stack + `pip install -e .`
#   bash tools/install.sh --tests    # ... plus the test requirements, and
#                                    # chromium + chromium-driver (apt-get, as
#                                    # root or with sudo) for the browser test
#
# Idempotent: when everything is already importable at the pinned versions
# (and mmcv's compiled ops load against the installed torch) it only
# re-registers the editable install and returns in seconds.
#
# mmcv 2.1.0 (the newest mmseg 1.2.2 accepts) has no wheel for current
# torch, so it is built from its sdist once and the wheel is kept in
# $MMSEG_CBSA_CACHE (default ~/.cache/mmseg_cbsa), keyed by torch version
# and CPU/CUDA, for every later install on the same machine.
#
# Environment knobs:
#   PYTHON           interpreter to install into (default: python3)
#   MMCV_WITH_CUDA   1/0 to force building mmcv's CUDA ops on or off
#                    (default: on only when nvcc, a CUDA torch and a GPU exist)
#   MAX_JOBS         parallel compile jobs for mmcv (default: nproc)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PYTHON=${PYTHON:-python3}
CACHE=${MMSEG_CBSA_CACHE:-$HOME/.cache/mmseg_cbsa}
WITH_TESTS=0
for arg in "$@"; do
  case "$arg" in
    --tests) WITH_TESTS=1 ;;
    -h|--help) sed -n '2,22p' "$0"; exit 0 ;;
    *) echo "install.sh: unknown argument '$arg' (expected --tests)" >&2; exit 2 ;;
  esac
done

export PIP_ROOT_USER_ACTION=ignore
pip_install() { "$PYTHON" -m pip install --disable-pip-version-check -q "$@"; }
log() { printf '[install] %s\n' "$*"; }

# Exit status 0 when the pinned stack imports, mmcv's ops included.
stack_ok() {
  (cd / && "$PYTHON" - "$ROOT") <<'EOF' 2>/dev/null
import sys, re, pathlib
root = pathlib.Path(sys.argv[1])
want = {}
for name in ('torch.txt', 'openmmlab.txt'):
    for line in (root / 'requirements' / name).read_text().splitlines():
        m = re.match(r'^([A-Za-z0-9_.-]+)==([^\s#]+)', line)
        if m:
            want[m.group(1).lower()] = m.group(2)
from importlib.metadata import version
for pkg, ver in want.items():
    if version(pkg).split('+')[0] != ver:
        sys.exit(1)
import torch, torchvision, mmengine, mmseg, mmpretrain, matplotlib, lion_pytorch  # noqa: F401
import pkg_resources  # noqa: F401  (mmengine resolves `mmseg::` config bases with it)
from mmcv.ops import point_sample, sigmoid_focal_loss  # noqa: F401
EOF
}

test_packages_ok() {
  (cd / && "$PYTHON" -c "import pytest, timm, xdist, onnx, onnxruntime, onnxscript, gradio, selenium, flake8, isort, yapf, codespell_lib, pre_commit") 2>/dev/null
}

browser_ok() {
  command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1
}

tests_ok() {
  test_packages_ok && browser_ok
}

# Chromium and its driver from the system's packages, for the web demo's
# browser test (tests/test_tools/test_web_demo.py fails without them).
install_browser() {
  local sudo=""
  if [ "$(id -u)" != 0 ]; then
    if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
      sudo="sudo -n"
    else
      log "chromium / chromium-driver missing and neither root nor sudo: the web demo's browser test will fail"
      return 0
    fi
  fi
  if ! command -v apt-get >/dev/null 2>&1; then
    log "chromium / chromium-driver missing and no apt-get: the web demo's browser test will fail"
    return 0
  fi
  log "installing chromium and chromium-driver (apt-get)"
  $sudo apt-get update -qq >/dev/null
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null
  browser_ok || { echo "install.sh: chromium / chromedriver still not on PATH after apt-get" >&2; exit 1; }
}

project_ok() {
  # The editable install must point at *this* checkout (CI uses a fresh clone);
  # run from / so that the current directory does not shadow the install.
  (cd / && "$PYTHON" - "$ROOT") <<'EOF' 2>/dev/null
import sys, pathlib, importlib.metadata as md, mmseg_cbsa
md.distribution('mmsegmentation-cbsa')  # raises for an install made under the old name
sys.exit(pathlib.Path(mmseg_cbsa.__file__).resolve().parents[1] != pathlib.Path(sys.argv[1]).resolve())
EOF
}

build_or_reuse_mmcv() {
  local torch_ver cuda wheel_dir wheel
  torch_ver=$("$PYTHON" -c "import torch; print(torch.__version__.split('+')[0])")
  if [ -n "${MMCV_WITH_CUDA:-}" ]; then
    cuda=$MMCV_WITH_CUDA
  elif command -v nvcc >/dev/null 2>&1 && "$PYTHON" -c \
      "import torch, sys; sys.exit(not (torch.version.cuda and torch.cuda.is_available()))"; then
    cuda=1
  else
    cuda=0
  fi
  wheel_dir="$CACHE/wheels/torch-$torch_ver-$([ "$cuda" = 1 ] && echo cuda || echo cpu)"
  wheel=$(ls "$wheel_dir"/mmcv-2.1.0-*.whl 2>/dev/null | head -n1 || true)
  if [ -z "$wheel" ]; then
    log "building mmcv 2.1.0 with ops (torch $torch_ver, CUDA ops: $cuda); about 11 min on 2 cores"
    local tmp
    tmp=$(mktemp -d)
    "$PYTHON" -m pip download --disable-pip-version-check -q --no-deps --no-binary :all: \
      -d "$tmp" mmcv==2.1.0
    tar -xzf "$tmp"/mmcv-2.1.0.tar.gz -C "$tmp"
    # torch >= 2.14 headers need C++20; mmcv 2.1.0's setup.py hard-codes C++17.
    sed -i 's/-std=c++17/-std=c++20/g' "$tmp/mmcv-2.1.0/setup.py"
    mkdir -p "$wheel_dir"
    MMCV_WITH_OPS=1 FORCE_CUDA=$cuda MAX_JOBS=${MAX_JOBS:-$(nproc)} \
      "$PYTHON" -m pip wheel --disable-pip-version-check -q --no-build-isolation --no-deps \
      -w "$wheel_dir" "$tmp/mmcv-2.1.0"
    rm -rf "$tmp"
    wheel=$(ls "$wheel_dir"/mmcv-2.1.0-*.whl | head -n1)
  else
    log "reusing $wheel"
  fi
  pip_install --force-reinstall --no-deps "$wheel"
}

if stack_ok; then
  log "pinned OpenMMLab stack already importable"
else
  log "installing torch + torchvision"
  pip_install -r "$ROOT/requirements/torch.txt"
  # mmcv's setup.py imports torch and pkg_resources: build tools go first.
  pip_install "setuptools<70" wheel ninja mmengine==0.10.7 "numpy>=1.26" "opencv-python>=4.8"
  if ! "$PYTHON" -c "import mmcv, sys; from mmcv.ops import point_sample; sys.exit(mmcv.__version__ != '2.1.0')" 2>/dev/null; then
    build_or_reuse_mmcv
  fi
  log "installing mmsegmentation, mmpretrain and runtime extras"
  pip_install -r "$ROOT/requirements/runtime.txt"
  stack_ok || { echo "install.sh: the stack still does not import; run: $PYTHON -c 'from mmcv.ops import point_sample'" >&2; exit 1; }
fi

if [ "$WITH_TESTS" = 1 ] && ! tests_ok; then
  if ! test_packages_ok; then
    log "installing test requirements"
    pip_install -r "$ROOT/requirements/tests.txt"
  fi
  browser_ok || install_browser
fi

if ! project_ok; then
  # an install under the distribution's old name (mmseg_cbsa) would shadow the module's location
  "$PYTHON" -m pip uninstall -q -y mmseg_cbsa >/dev/null 2>&1 || true
  log "pip install -e $ROOT"
  pip_install --no-deps --no-build-isolation -e "$ROOT"
fi
log "done"
