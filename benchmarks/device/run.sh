#!/usr/bin/env bash
# The device command (benchmarks/device/README.md): install the carried wheels, then run the
# benchmark. The budget counts from before the install. Arguments go to run.py.
set -euo pipefail
start=$(date +%s)
cd "$(dirname "$0")/../.."
python=${PYTHON:-python3}
site=${SER_DEVICE_SITE:-/tmp/ser-site}
for need in .whl .data/ravdess-16k; do
    [ -d "$need" ] || { echo "$need is missing: run benchmarks/device/prepare.py and carry .data and .whl" >&2; exit 2; }
done
# once per site folder: runs started after the first one (session.sh) reuse it
if [ ! -f "$site/.installed" ]; then
    "$python" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
        --target "$site" .whl/*.whl && touch "$site/.installed"
fi
export PYTHONPATH="$site${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
exec "$python" benchmarks/device/run.py --started-at "$start" "$@"
