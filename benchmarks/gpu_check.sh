#!/usr/bin/env bash
# The GPU check, in ONE call on a lent GPU machine (JAX, no TensorFlow; see README "Benchmarks"):
#   bash benchmarks/gpu/fetch_wheels.sh            # here, once: wheels into .whl/, data into .gpu/
#   device run (carry .whl .gpu): bash benchmarks/gpu_check.sh     -> $OUT/gpu_check.json
#   CPU smoke test (make test runs it):              bash benchmarks/gpu_check.sh --dry
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -d .whl ] && ! python3 -c "import keras" 2>/dev/null; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/pg-site .whl/*.whl
  export PYTHONPATH=/tmp/pg-site:$PWD
else
  export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH}
fi
export KERAS_BACKEND=jax PYTHONUNBUFFERED=1 TF_CPP_MIN_LOG_LEVEL=3
if [ -d .gpu/keras ]; then export KERAS_HOME=$PWD/.gpu/keras; fi
PY=python3
if [ -x .venv/bin/python ]; then PY=.venv/bin/python; fi
exec "$PY" -m benchmarks.gpu_check --out "${OUT:-build/gpu-check}" "$@"
