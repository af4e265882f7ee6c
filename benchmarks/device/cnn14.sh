#!/usr/bin/env bash
# CNN-14 and CNN-14 + attention from scratch under emobox_6fold and dchung_4fold (issue 19, item 4),
# the runs side by side on the one GPU: one run alone keeps an H200 busy about half the time
# (batch 32, one Python process), and a session holds the machine for 15 minutes in all.
#   bash benchmarks/device/cnn14.sh --out $OUT [--budget-s 470] [--seed 0] [JOB ...]
# A JOB is PROTOCOL:MODEL or PROTOCOL:MODEL:FOLD, one process each; by default the four pairs
# below on every fold (cnn14_avg, dchung1209's plain CNN-14, exists under his preset).
# CUDA_VISIBLE_DEVICES=0 keeps claim_gpu from making each run wait for the card's lock. Each run
# gets its own wheel folder, workdir and 4 CPU threads; the result folders come back in one
# archive, cnn14_runs.tar.gz.
set -uo pipefail
usage="usage: cnn14.sh --out DIR [--budget-s S] [--seed N] [PROTOCOL:MODEL[:FOLD] ...]"
out=""; budget=470; seed=0; jobs=()
while [ $# -gt 0 ]; do
    case "$1" in
        --out) out=$2; shift 2;;
        --budget-s) budget=$2; shift 2;;
        --seed) seed=$2; shift 2;;
        *:*) jobs+=("$1"); shift;;
        *) echo "unknown argument $1; $usage" >&2; exit 2;;
    esac
done
[ -n "$out" ] || { echo "$usage" >&2; exit 2; }
[ ${#jobs[@]} -gt 0 ] || jobs=(emobox_6fold:cnn14_attn emobox_6fold:cnn14
                               dchung_4fold:cnn14_attn dchung_4fold:cnn14_avg)
cd "$(dirname "$0")/../.."
runs=(); pids=()
for job in "${jobs[@]}"; do
    IFS=: read -r protocol model fold <<< "$job"
    name="${protocol}_${model}${fold:+_fold$fold}"; mkdir -p "$out/runs/$name"
    extra=(--models "$model" --seed "$seed")
    [ "$protocol" = dchung_4fold ] && extra+=(--preset workflow/presets/dchung_4fold.yaml)
    [ -n "$fold" ] && extra+=(--folds "$fold")
    CUDA_VISIBLE_DEVICES=0 OMP_NUM_THREADS=4 SER_DEVICE_SITE="/tmp/ser-site-$name" \
        timeout $((budget + 110)) bash benchmarks/device/run.sh --out "$out/runs/$name" \
        --budget-s "$budget" --workdir "/tmp/ser-$name" "${extra[@]}" \
        > "$out/runs/$name/stdout.log" 2>&1 &
    runs+=("$name"); pids+=($!)
done
status=0
for i in "${!pids[@]}"; do
    wait "${pids[$i]}"; rc=$?; echo "${runs[$i]}: exit $rc"; [ $rc -eq 0 ] || status=1
done
for name in "${runs[@]}"; do
    echo "== $name"
    cat "$out/runs/$name/device.md" 2>/dev/null || tail -5 "$out/runs/$name/stdout.log"
done
tar -czf "$out/cnn14_runs.tar.gz" -C "$out" runs && rm -rf "$out/runs"
exit $status
