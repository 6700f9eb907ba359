#!/usr/bin/env bash
# The accuracy gate of CPU `--precision auto` (device.py: CPU_AUTO_BF16_VALIDATED), on a CPU with native
# bf16 (AMX-BF16 / AVX512-BF16): every shipped model on its own degradation of real clips in fp32 and in
# bf16 (short legs, 8 frames of each clip), then the drift leg: the x4 default over 300 frames in one
# window (a recurrent network accumulates rounding over the propagation), and the random official layouts
# at toy size (gpu_check's precision section). The bar: every bf16 figure within 0.05 dB of fp32.
#
#   bash benchmarks/cpu_gate.sh CLIPS LONG_VIDEO LOG
set -u
clips=${1:?a folder of real videos}
long=${2:?a video of at least 300 frames}
log=${3:?a log file}
export PYTHONPATH=src${PYTHONPATH:+:$PYTHONPATH} PYTHONUNBUFFERED=1
exec > >(tee -a "$log") 2>&1

step() {  # step NAME COMMAND...: prints its status and duration
    local name=$1 t0
    shift
    t0=$(date +%s)
    echo "=== $name"
    "$@"
    echo "=== $name: rc=$? in $(($(date +%s) - t0)) s"
}

lscpu | grep -E "Model name"
grep -ow -E "amx_bf16|avx512_bf16" /proc/cpuinfo | sort -u | tr '\n' ' '; echo
for p in fp32 bf16; do
    bench=(python3 -m vsrcli benchmark "$clips" --device cpu --precision "$p" --max-frames 8 --baseline none
        --warmup 0)
    step "gate x4 $p" "${bench[@]}" --degrade bi -m vsrcli-x4 -m vsrcli-x4-c24n3 -m vsrcli-realx4 \
        -m vsrcli-realx4-c32
    step "gate denoise $p" "${bench[@]}" --degrade noise:25 -m vsrcli-denoise
    step "gate deblur $p" "${bench[@]}" --degrade blur:gauss:1.5 -m vsrcli-deblur
    step "gate decompress $p" "${bench[@]}" --degrade h264:35 -m vsrcli-decompress
done
for p in fp32 bf16; do
    step "drift x4 $p" python3 -m vsrcli benchmark "$long" --device cpu --precision "$p" --max-frames 300 \
        --baseline none --warmup 0 --degrade bi -m vsrcli-x4
done
step "random official layouts (toy size)" python3 benchmarks/gpu_check.py --device cpu --dry-run \
    --sections precision
