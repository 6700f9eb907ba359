#!/usr/bin/env bash
# Everything a lent GPU should check, in one call (issue 19): gpu_check.py's sections, the accuracy gate of
# CUDA `--precision auto` on the shipped (trained) models and real clips, the data-path tests on CUDA, and
# what `--codec h264_nvenc` does on the machine. Each step has its own time limit, so one hang cannot eat the
# lease; everything goes to one log.
#
#   bash benchmarks/gpu_session.sh CLIPS LOG
#
# CLIPS: a folder of real videos (ground truth for the gate: every shipped model is run on its degradation
# in fp32, bf16 and fp16). PyAV wheels in .whl/ are installed first where the machine lacks PyAV.
set -u
clips=${1:?a folder of videos}
log=${2:?a log file}
if ! python3 -c "import av" 2>/dev/null && ls .whl/*.whl >/dev/null 2>&1; then
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target /tmp/site .whl/*.whl
    export PYTHONPATH=/tmp/site
fi
export PYTHONPATH=src${PYTHONPATH:+:$PYTHONPATH} PYTHONUNBUFFERED=1
exec > >(tee -a "$log") 2>&1

step() {  # step NAME SECONDS COMMAND...: runs it under a limit, prints its status and duration
    local name=$1 limit=$2 t0
    shift 2
    t0=$(date +%s)
    echo "=== $name"
    timeout "$limit" "$@"
    echo "=== $name: rc=$? in $(($(date +%s) - t0)) s"
}

nvidia-smi -L
python3 -c "import torch, av; print('torch', torch.__version__, 'av', av.__version__)"
step gpu_check 330 python3 benchmarks/gpu_check.py
step "data-path tests" 120 python3 -m pytest -q -p no:cacheprovider tests/test_transfer.py \
    tests/test_networks_forward.py -k "cuda or device"
first=$(find "$clips" -maxdepth 1 -type f | sort | head -n 1)
step nvenc 60 python3 -m vsrcli upscale "$first" --model bicubic --codec h264_nvenc --end 12 \
    -o /tmp/nvenc-check.mp4 --overwrite
ls -la /tmp/nvenc-check.mp4 2>/dev/null
# Short legs (8 frames: SSIM runs on the CPU and dominates longer ones), then the drift leg: the x4 models
# over every frame of the first clip (the CPU gate asks for no drift over 300 frames).
for p in fp32 bf16 fp16; do
    bench=(python3 -m vsrcli benchmark "$clips" --device cuda --precision "$p" --max-frames 8 --baseline none)
    step "gate x4 $p" 45 "${bench[@]}" --degrade bi -m vsrcli-x4 -m vsrcli-x4-c24n3 -m vsrcli-realx4
    step "gate denoise $p" 45 "${bench[@]}" --degrade noise:25 -m vsrcli-denoise
    step "gate deblur $p" 45 "${bench[@]}" --degrade blur:gauss:1.5 -m vsrcli-deblur
done
for p in fp32 bf16 fp16; do
    step "drift x4 $p" 150 python3 -m vsrcli benchmark "$first" --device cuda --precision "$p" \
        --baseline none --degrade bi -m vsrcli-x4 -m vsrcli-realx4
done
