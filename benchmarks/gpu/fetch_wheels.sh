#!/usr/bin/env bash
# Download the wheels of benchmarks/gpu/wheels.txt for the GPU machine's Python (3.12, manylinux x86_64) into
# .whl/, and copy what the check reads (the four reference datasets, the MobileNet(alpha=0.75) weights) into
# .gpu/. Both folders are git-ignored and travel with the working tree (64 MiB in all: about 41 MB here).
set -euo pipefail
cd "$(dirname "$0")/../.."
PY=${PYTHON:-.venv/bin/python}
mkdir -p .whl
grep -v '^\s*#' benchmarks/gpu/wheels.txt | grep -v '^\s*$' | while read -r spec; do
  "$PY" -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64 \
    --platform manylinux2014_x86_64 --platform manylinux1_x86_64 -d .whl "$spec"
done
SHARED=${SHARED:-../shared}
mkdir -p .gpu/datasets .gpu/keras/models
for d in iconic200 fashion200 tinyimagenet200 cifar10; do
  rm -rf ".gpu/datasets/$d" && cp -r "$SHARED/datasets/$d" .gpu/datasets/
done
cp "$SHARED/keras/models/mobilenet_7_5_224_tf_no_top.h5" .gpu/keras/models/
du -sh .whl .gpu
