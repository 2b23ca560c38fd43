#!/usr/bin/env bash
# The GPU check: what to run first whenever a GPU is at hand (about 8 minutes on one GPU). It installs what the
# machine lacks from the checkout's .devwheels/, reads MNIST / Fashion-MNIST from .devdata/ (both written by
# benchmarks/prepare_gpu_check.sh, both git-ignored), then runs benchmarks/gpu_check.py: every experiment for 50
# generator steps in bf16-mixed + channels_last with its metrics, ours vs plain throughput at the papers' sizes in
# fp32 / bf16 / bf16 + compile with peak memory, trainer=ddp trainer.devices=1 and a resume; one markdown report.
#
#   bash benchmarks/gpu_check.sh [REPORT_DIR] [--device cuda|cpu] [--tiny] [--jobs N] [--work-dir DIR]
#
# REPORT_DIR defaults to outputs/gpu_check/ (the report is REPORT_DIR/gpu_check.md, with throughput.log beside it).
# Without a GPU, `--device cpu --tiny` runs the same path small in about 2 minutes (tests/test_gpu_check.py).
# Exit status: 0 when every check passed, 1 when one failed (the report says which), 2 when set-up failed.
#
# On this workplace's device tool, after benchmarks/prepare_gpu_check.sh here:
#   run(command='bash benchmarks/gpu_check.sh "$OUT"', carry=[".devwheels", ".devdata"], timeout_s=600)
# and, for issue 13's long runs (the seeds of one experiment side by side, stopped with SIGTERM at the budget):
#   run(command='bash benchmarks/gpu_check.sh "$OUT" --only reproduction --experiment catgan_mnist_100 --seeds 0,1,2
#       --budget-s 480', carry=[".devwheels", ".devdata"], timeout_s=600)
set -uo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
PY="${PYTHON:-python3}"
WHEELS="${GPU_CHECK_WHEELS:-$ROOT/.devwheels}"
SITE="${GPU_CHECK_SITE:-${TMPDIR:-/tmp}/gpu_check_site}"

# Packages: install every brought wheel whose distribution is not installed, into a side folder on PYTHONPATH (the
# system site-packages stay as they are; --no-deps: the wheels are the missing closure, see prepare_gpu_check.sh).
export PYTHONPATH="$SITE:$ROOT${PYTHONPATH:+:$PYTHONPATH}"
if [ -d "$WHEELS" ]; then
    missing=$("$PY" - "$WHEELS" <<'PY'
import importlib.metadata as md
import pathlib
import sys

for wheel in sorted(pathlib.Path(sys.argv[1]).glob("*.whl")):
    try:
        md.version(wheel.name.split("-")[0])
    except md.PackageNotFoundError:
        print(wheel)
PY
)
    if [ -n "$missing" ]; then
        echo "[gpu_check] installing into $SITE: $(echo $missing | xargs -n1 basename | tr '\n' ' ')"
        # shellcheck disable=SC2086
        "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target "$SITE" $missing \
            || { echo "error: installing the wheels of $WHEELS failed (see above)" >&2; exit 2; }
    fi
fi
"$PY" -c "import hydra, omegaconf, torch_fidelity, pytorch_lightning, torchvision" 2>/dev/null || {
    echo "error: hydra-core / omegaconf / torch-fidelity / pytorch-lightning / torchvision not importable; run" \
         "benchmarks/prepare_gpu_check.sh where pip works and bring .devwheels/ (GPU_CHECK_WHEELS=$WHEELS)" >&2
    exit 2
}

# Data: the caller's GAN_DATA_DIR when set, else a copy of .devdata/'s .gz files outside the checkout: torchvision
# extracts next to them, and extracted files left in .devdata/ would push the tree over the device tool's 64 MiB.
if [ -z "${GAN_DATA_DIR:-}" ] && [ -d "$ROOT/.devdata/MNIST/raw" ]; then
    export GAN_DATA_DIR="${GPU_CHECK_DATA_COPY:-${TMPDIR:-/tmp}/gpu_check_data}"
    mkdir -p "$GAN_DATA_DIR" && (cd "$ROOT/.devdata" && find . -name "*.gz" -exec cp --parents -u {} "$GAN_DATA_DIR" \;) \
        || { echo "error: copying .devdata/*.gz to GAN_DATA_DIR=$GAN_DATA_DIR failed" >&2; exit 2; }
fi
if [ -z "${GAN_DATA_DIR:-}" ] || ! ls "$GAN_DATA_DIR"/MNIST/raw/*.gz >/dev/null 2>&1; then
    echo "error: no MNIST/raw/*.gz in GAN_DATA_DIR='${GAN_DATA_DIR:-}' nor in .devdata/; run" \
         "benchmarks/prepare_gpu_check.sh, or set GAN_DATA_DIR to a writable folder holding MNIST/raw" >&2
    exit 2
fi
export WANDB_MODE="${WANDB_MODE:-disabled}" PYTHONUNBUFFERED=1
exec "$PY" "$ROOT/benchmarks/gpu_check.py" "$@"
