#!/usr/bin/env bash
# Held-out benchmarks of the shipped restoration models, as quoted in the README and the model cards.
# Six clips that never train: DAVIS blackswan, car-roundabout, parkour (first 10 frames) and the Vimeo-90K-T
# septuplets 00002/0004, 0007, 0008, linked into scratch/heldout from the shared data folder.
#   benchmarks/restore_heldout.sh [denoise|deblur|decompress|all]     (THREADS=2, OUT=scratch/bench, DATA=...)
set -euo pipefail
cd "$(dirname "$0")/.."
data=${DATA:-../shared/data}
out=${OUT:-scratch/bench}
held=scratch/heldout
mkdir -p "$held" "$out"
for c in blackswan car-roundabout parkour; do
  ln -sfn "$(realpath "$data/DAVIS2016_val_480p/JPEGImages/$c")" "$held/$c"
done
for c in 0004 0007 0008; do
  ln -sfn "$(realpath "$data/Vimeo90K_septuplet_sample/sequences/00002/$c")" "$held/vimeo-00002-$c"
done
what=${1:-all}
common=("$held" --max-frames 10 --threads "${THREADS:-2}")
if [[ $what == all || $what == denoise ]]; then
  for s in 25 50; do
    vsrcli benchmark "${common[@]}" --degrade "noise:$s" --model "${DENOISE_MODEL:-vsrcli-denoise}" --nlm \
      --json "$out/denoise-$s.json" | tee "$out/denoise-$s.txt"
  done
fi
if [[ $what == all || $what == deblur ]]; then
  for d in blur:gauss:1.5 blur:motion:9 blur:temporal:5; do
    vsrcli benchmark "${common[@]}" --degrade "$d" --model "${DEBLUR_MODEL:-vsrcli-deblur}" \
      --json "$out/deblur-${d//:/_}.json" | tee "$out/deblur-${d//:/_}.txt"
  done
fi
if [[ $what == all || $what == decompress ]]; then
  vsrcli benchmark "${common[@]}" --degrade h264:35 --model "${DECOMPRESS_MODEL:-vsrcli-decompress}" \
    --crops "$out/crops-h264-35" --json "$out/decompress-35.json" | tee "$out/decompress-35.txt"
fi
