#!/usr/bin/env bash
# The GPU session of issue 34 (and issue 31's GPU timings) in one device command:
#   bash benchmarks/device/session.sh --out $OUT [--budget-s 500]      (carry .data and .whl)
# 1. slots: cnn6, the chosen CNN, alone on the card for EPOCHS_SHARE epochs (gpu.jobs_per_device
#    1), then four cnn6 jobs (folds 1-4) started together with gpu.jobs_per_device 4, each taking
#    its slot through claim_gpu as the train rule does;
# 2. encoders: seconds per file on the GPU (benchmarks/encoders.py: the packaged encoders that
#    travelled, the hub's architectures at full size with random weights);
# 3. every torch model of config.yaml on fold 1, capped at EPOCHS_ALL epochs, in four groups side
#    by side (gpu.jobs_per_device 4; each group's feature kinds are its own), for the cost per
#    epoch and the peak memory from which the whole comparison's GPU time is projected
#    (benchmarks/device/summarise.py, run here on what comes back).
# Everything comes back as session.tar.gz; the budget counts from this script's start.
# A CPU check of the plumbing: PYTHON=.venv/bin/python SER_DEVICE_SITE=<folder holding an empty
# .installed> ACTORS="1 11 20 4 10 12" EPOCHS_SHARE=1 EPOCHS_ALL=1 session.sh --out DIR
set -uo pipefail
start=$(date +%s)
out=""; budget=500
while [ $# -gt 0 ]; do
    case "$1" in
        --out) out=$2; shift 2;;
        --budget-s) budget=$2; shift 2;;
        *) echo "usage: session.sh --out DIR [--budget-s S]" >&2; exit 2;;
    esac
done
[ -n "$out" ] || { echo "usage: session.sh --out DIR [--budget-s S]" >&2; exit 2; }
cd "$(dirname "$0")/../.."
EPOCHS_SHARE=${EPOCHS_SHARE:-12}; EPOCHS_ALL=${EPOCHS_ALL:-6}
work=/tmp/ser-session; res="$out/session"; mkdir -p "$work" "$res"
export SER_DEVICE_SITE=${SER_DEVICE_SITE:-/tmp/ser-site} OMP_NUM_THREADS=4 PYTHONUNBUFFERED=1
printf 'gpu: {jobs_per_device: 4, min_free_mb: 4000}\n' > "$work/slots4.yaml"
left() { echo $((budget - ($(date +%s) - start))); }
run() {  # NAME WORKDIR [run.py arguments]: one run.sh, its output in $res/NAME
    # killed 20 s after the budget (a last test or extraction), so that the archive is written
    local name=$1 wd=$2; shift 2; mkdir -p "$res/$name" "$wd"
    timeout $(( $(left) + 20 )) bash benchmarks/device/run.sh --started-at "$start" --out "$res/$name" --workdir "$wd" \
        --folds 1 ${ACTORS:+--actors $ACTORS} ${SEED:+--seed $SEED} "$@" > "$res/$name/stdout.log" 2>&1
}
linked() {  # a fresh workdir that reads the shards built in $work/share
    mkdir -p "$1"; ln -sfn "$work/share/features" "$1/features"; echo "$1"
}
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | tee "$res/gpu.txt"

echo "== 1. slots: cnn6 alone, then 4 side by side ($(left) s left)"
run warm "$work/share" --models cnn6 --epochs 1 --budget-s "$budget"
run one "$(linked "$work/one")" --models cnn6 --epochs "$EPOCHS_SHARE" --budget-s "$budget"
t4=$(date +%s); pids=()
for fold in 1 2 3 4; do
    run "four_$fold" "$(linked "$work/four_$fold")" --models cnn6 --folds "$fold" \
        --epochs "$EPOCHS_SHARE" --preset "$work/slots4.yaml" --budget-s "$budget" & pids+=($!)
done
wait "${pids[@]}"; echo "four side by side: $(( $(date +%s) - t4 )) s wall" | tee "$res/four_wall.txt"

echo "== 2. encoders on the GPU ($(left) s left)"
export PYTHONPATH="$SER_DEVICE_SITE"
timeout 60 "${PYTHON:-python3}" benchmarks/encoders.py --device cuda --files 20 --threads 4 \
    --corpus .data/ravdess-16k --out "$res/encoders_packaged.csv" > "$res/encoders.log" 2>&1
timeout 60 "${PYTHON:-python3}" benchmarks/encoders.py --device cuda --files 20 --threads 4 --hub \
    --corpus .data/ravdess-16k --out "$res/encoders_hub.csv" >> "$res/encoders.log" 2>&1
unset PYTHONPATH

echo "== 3. every torch model, fold 1, $EPOCHS_ALL epochs, 4 groups ($(left) s left)"
groups=("vgg19_bn_attn cnn14_attn cnnx cnn1d_lstm" "alexnet_attn resnet18 cnn6 kaggle_cnn1d"
        "cnn14 inception_resnet_v2 crepe_full_ft"
        "crepe_tiny_ws crepe_tiny_ft ge2e_ws crepe_full_ws wav2vec2_base_ws hubert_base_ws wavlm_base_plus_ws whisper_base_ws")
pids=()
for i in "${!groups[@]}"; do
    # shellcheck disable=SC2086  # the group is a list of model names
    wd="$work/all_$i"; [ "$i" -lt 2 ] && wd=$(linked "$wd")  # the log-mel shards of step 1
    run "all_$i" "$wd" --models ${groups[$i]} --epochs "$EPOCHS_ALL" \
        --preset "$work/slots4.yaml" --budget-s "$budget" & pids+=($!)
done
wait "${pids[@]}"
for f in "$res"/*/device.md; do echo "== $f"; cat "$f"; done
tail -3 "$res/encoders.log"
tar -czf "$out/session.tar.gz" -C "$out" session && rm -rf "$res"
echo "session: $(( $(date +%s) - start )) s"
