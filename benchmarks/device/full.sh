#!/usr/bin/env bash
# Full recipes on every fold on the GPU: cnn6's six folds as six jobs and CREPE tiny's two heads
# (all folds, one job), seven jobs on the card at once (gpu.jobs_per_device 16: room for a
# second call); one archive back (runs.tar.gz, for summarise.py --folds / --registry). The
# 2026-12-04 call, as a script:
#   bash benchmarks/device/full.sh --out $OUT [--seed 0] [--budget-s 260]   (carry .data and .whl)
# --only cnn6 (or crepe, or ge2e: GE2E's LSTM fine-tuned and from random init, issue 42) runs
# one group; two calls with other seeds may share the card (work folders are per seed).
set -uo pipefail
out=""; seed=0; budget=260; only=""
usage="usage: full.sh --out DIR [--seed N] [--budget-s S] [--only cnn6|crepe|ge2e]"
while [ $# -gt 0 ]; do
    case "$1" in
        --out) out=$2; shift 2;;
        --seed) seed=$2; shift 2;;
        --budget-s) budget=$2; shift 2;;
        --only) only=$2; shift 2;;
        *) echo "$usage" >&2; exit 2;;
    esac
done
[ -n "$out" ] || { echo "$usage" >&2; exit 2; }
cd "$(dirname "$0")/../.."
export SER_DEVICE_SITE=${SER_DEVICE_SITE:-/tmp/ser-site} OMP_NUM_THREADS=2 PYTHONUNBUFFERED=1
printf 'gpu: {jobs_per_device: 16, min_free_mb: 4000}\n' > /tmp/slots16.yaml
# one wheel install before the jobs start, not seven racing into the same folder
bash benchmarks/device/run.sh --help > /dev/null
start=$(date +%s)
job() {  # NAME [run.py arguments]
    local name=$1; shift
    timeout $((budget + 30)) bash benchmarks/device/run.sh --started-at "$start" \
        --out "$out/r/$name" --workdir "/tmp/r/s$seed-$name" --preset /tmp/slots16.yaml \
        --seed "$seed" --budget-s "$budget" "$@" > /dev/null 2>&1
}
if [ -z "$only" ] || [ "$only" = cnn6 ]; then
    for f in 1 2 3 4 5 6; do job "cnn6_$f" --models cnn6 --folds "$f" & done
fi
if [ -z "$only" ] || [ "$only" = crepe ]; then job crepe --models crepe_tiny_ws crepe_tiny_ft & fi
if [ "$only" = ge2e ]; then job ge2e --models ge2e_ft ge2e_scratch & fi
wait
cat "$out"/r/*/device.md | grep -E "^\| (cnn6|crepe|ge2e)|UTC"
tar -czf "$out/runs.tar.gz" -C "$out" r && rm -rf "$out/r"
echo "wall $(( $(date +%s) - start )) s"
