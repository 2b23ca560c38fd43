#!/usr/bin/env bash
# Prepare this checkout for benchmarks/gpu_check.sh on a GPU machine without internet (../shared/NOTES.md, "A GPU
# machine without internet"): run it HERE, where pip reaches a registry and ../shared/data holds MNIST.
#
#   benchmarks/prepare_gpu_check.sh        # writes .devwheels/ (Python 3.12 x86-64 wheels) and .devdata/ (.gz data)
#
# Both folders are git-ignored; the device tool carries them with `carry: [".devwheels", ".devdata"]`, and the GPU
# session runs `bash benchmarks/gpu_check.sh "$OUT"` there. The wheels are about 4 MB and MNIST + Fashion-MNIST
# 41 MB, inside the tool's 64 MiB for the whole tree. W&B is left out by default (its wheel alone is 20 MB, and the
# check runs logger=none; the package imports wandb only for logger=wandb): GPU_CHECK_WANDB=1 brings it and its
# dependencies, and then GPU_CHECK_DATA=MNIST (11 MB) keeps the tree under the limit, the Fashion-MNIST experiments
# failing for want of data.
#
# What the H200 image lacks (/work/.library/device/KINDS.md, its package list): the packages below, pinned to the
# versions this project is tested with, each with the dependencies the image does not have.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
PY="${PYTHON:-python3}"
SHARED="${GPU_CHECK_SHARED_DATA:-$ROOT/../shared/data}"
DATASETS="${GPU_CHECK_DATA:-MNIST FashionMNIST}"

# Needed by the check: the Hydra configs and the metrics.
CORE=(hydra-core==1.3.8 omegaconf==2.3.1 torch-fidelity==0.4.0)
# The SLURM launcher (not used by the check; small).
EXTRA=(submitit==1.5.4 hydra-submitit-launcher==1.2.0)
# W&B and what it needs that the image lacks (GPU_CHECK_WANDB=1).
WANDB=(wandb==0.31.0 pydantic==2.14.4 pydantic-core==2.50.5 annotated-types==0.8.0 typing-inspection==0.4.5
       platformdirs==4.14.9 sniffio==1.3.1 distro==1.9.0 googleapis-common-protos==1.76.0 cwevals==0.0.1b1
       opentelemetry-api==1.45.2 opentelemetry-sdk==1.45.2 opentelemetry-proto==1.45.2
       opentelemetry-semantic-conventions==0.66b2 opentelemetry-exporter-http-transport==0.66b2
       opentelemetry-exporter-otlp-common==0.66b2 opentelemetry-exporter-otlp-proto-common==1.45.2
       opentelemetry-exporter-otlp-proto-http==1.45.2)
PLATFORMS=(--platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64
           --platform manylinux2014_x86_64 --platform manylinux1_x86_64)

mkdir -p .devwheels
"$PY" -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp "${PLATFORMS[@]}" \
    -d .devwheels "${CORE[@]}" "${EXTRA[@]}"
if [ "${GPU_CHECK_WANDB:-0}" = 1 ]; then
    "$PY" -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp "${PLATFORMS[@]}" \
        -d .devwheels "${WANDB[@]}"
fi
# antlr4-python3-runtime 4.9.3 (what omegaconf 2.3 needs) is published as an sdist only: build its pure-Python wheel.
if ! ls .devwheels/antlr4_python3_runtime-4.9.3-*.whl >/dev/null 2>&1; then
    "$PY" -m pip wheel -q --no-deps -w .devwheels antlr4-python3-runtime==4.9.3
fi

for name in $DATASETS; do
    src="$SHARED/$name/raw"
    ls "$src"/*.gz >/dev/null 2>&1 || { echo "error: no $src/*.gz; set GPU_CHECK_SHARED_DATA to the folder holding $name/raw" >&2; exit 1; }
    mkdir -p ".devdata/$name/raw"
    cp "$src"/*.gz ".devdata/$name/raw/"   # the .gz only: torchvision extracts them there (the folder must be writable)
done
du -sh .devwheels .devdata
echo "ready: run on the GPU machine with carry [.devwheels, .devdata]: bash benchmarks/gpu_check.sh \"\$OUT\""
