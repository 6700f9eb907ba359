"""--precision parsing and the CPU bf16 detection behind `auto`."""

from __future__ import annotations

from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

import vsrcli.device as precision  # noqa: E402
from vsrcli.device import cpu_has_fast_bf16, read_cpu_flags, resolve_precision  # noqa: E402
from vsrcli.errors import DeviceError, UsageError  # noqa: E402

ZEN3_FLAGS = "fpu vme sse sse2 avx f16c fma avx2 sha_ni vaes"
SAPPHIRE_FLAGS = "fpu sse avx2 avx512f avx512bw avx512_bf16 amx_bf16 amx_tile amx_int8"


def _cpuinfo(tmp_path: Path, flags: str, key: str = "flags") -> Path:
    path = tmp_path / "cpuinfo"
    block = f"processor\t: 0\nmodel name\t: Some CPU\n{key}\t\t: {flags}\n\n"
    path.write_text(block * 2)
    return path


def test_reads_flags_from_cpuinfo(tmp_path):
    flags = read_cpu_flags(_cpuinfo(tmp_path, SAPPHIRE_FLAGS))
    assert flags is not None and {"amx_bf16", "avx512_bf16", "avx2"} <= flags


def test_missing_cpuinfo_is_unknown(tmp_path):
    assert read_cpu_flags(tmp_path / "nope") is None


@pytest.mark.parametrize(
    ("flags", "expected"),
    [(ZEN3_FLAGS, False), (SAPPHIRE_FLAGS, True), ("avx2 avx512f avx512_bf16", True), ("amx_bf16", True)],
)
def test_fast_bf16_from_flags(tmp_path, flags, expected):
    path = _cpuinfo(tmp_path, flags)
    assert cpu_has_fast_bf16(lambda: read_cpu_flags(path), lambda: "AMX") is expected


@pytest.mark.parametrize(
    ("capability", "expected"), [("AVX2", False), ("AVX512", False), ("AMX", True), (None, False)]
)
def test_fast_bf16_falls_back_to_torch_capability(capability, expected):
    assert cpu_has_fast_bf16(lambda: None, lambda: capability) is expected


def test_default_reader_is_monkeypatchable(monkeypatch, tmp_path):
    monkeypatch.setattr(precision, "read_cpu_flags", lambda: frozenset(SAPPHIRE_FLAGS.split()))
    assert cpu_has_fast_bf16() is True
    monkeypatch.setattr(precision, "read_cpu_flags", lambda: frozenset(ZEN3_FLAGS.split()))
    assert cpu_has_fast_bf16() is False
    monkeypatch.setattr(precision, "CPU_AUTO_BF16_VALIDATED", True)
    assert resolve_precision("auto", CPU) is torch.float32


def test_this_machine_is_reported_consistently():
    """Whatever the CPU is, the answer agrees with its /proc/cpuinfo flags when those exist."""
    flags = read_cpu_flags()
    if flags is None:
        pytest.skip("no /proc/cpuinfo")
    assert cpu_has_fast_bf16() is bool({"amx_bf16", "avx512_bf16"} & flags)


CPU = torch.device("cpu")
CUDA = torch.device("cuda")


@pytest.mark.parametrize("name", ["fp32", "FP32", "float32", " fp32 "])
def test_fp32_everywhere(name):
    assert resolve_precision(name, CPU) is torch.float32
    assert resolve_precision(name, CUDA, cuda_bf16_supported=lambda: True) is torch.float32


def test_auto_on_cpu_without_fast_bf16_is_float32():
    assert resolve_precision("auto", CPU, fast_bf16=lambda: False) is torch.float32


def test_auto_on_cpu_with_fast_bf16_waits_for_the_accuracy_bar(monkeypatch):
    monkeypatch.setattr(precision, "CPU_AUTO_BF16_VALIDATED", False)
    assert resolve_precision("auto", CPU, fast_bf16=lambda: True) is torch.float32
    monkeypatch.setattr(precision, "CPU_AUTO_BF16_VALIDATED", True)
    assert resolve_precision("auto", CPU, fast_bf16=lambda: True) is torch.bfloat16
    assert resolve_precision("auto", CPU, fast_bf16=lambda: False) is torch.float32


def test_explicit_bf16_on_cpu():
    assert resolve_precision("bf16", "cpu", fast_bf16=lambda: False) is torch.bfloat16


def test_fp16_on_cpu_is_a_usage_error():
    with pytest.raises(UsageError, match="fp16"):
        resolve_precision("fp16", CPU)


def test_unknown_precision_is_a_usage_error():
    with pytest.raises(UsageError, match="fp8"):
        resolve_precision("fp8", CPU)


def test_cuda_auto_stays_float32_until_half_precision_is_validated_on_a_gpu(monkeypatch):
    monkeypatch.setattr(precision, "CUDA_AUTO_HALF_VALIDATED", False)
    for bf16 in (True, False):
        assert resolve_precision("auto", CUDA, cuda_bf16_supported=lambda b=bf16: b) is torch.float32
    assert resolve_precision("bf16", CUDA, cuda_bf16_supported=lambda: True) is torch.bfloat16  # asked: given


def test_validated_cuda_auto_prefers_bf16_then_fp16(monkeypatch):
    monkeypatch.setattr(precision, "CUDA_AUTO_HALF_VALIDATED", True)
    assert resolve_precision("auto", CUDA, cuda_bf16_supported=lambda: True) is torch.bfloat16
    assert resolve_precision("auto", CUDA, cuda_bf16_supported=lambda: False) is torch.float16
    assert resolve_precision("fp16", CUDA, cuda_bf16_supported=lambda: True) is torch.float16


def test_cuda_bf16_without_support_is_a_device_error():
    with pytest.raises(DeviceError):
        resolve_precision("bf16", CUDA, cuda_bf16_supported=lambda: False)


# --- one device and precision rule for restore, batch, benchmark and train ------------------------------


def test_device_names_resolve_the_same_everywhere():
    from vsrcli.device import resolve_device

    assert resolve_device("auto") == torch.device("cuda" if torch.cuda.is_available() else "cpu")
    assert resolve_device(" CPU ") == CPU and resolve_device(CPU) == CPU
    with pytest.raises(UsageError):
        resolve_device("gpu")
    if not torch.cuda.is_available():
        with pytest.raises(DeviceError):
            resolve_device("cuda:0")


def test_benchmark_defaults_to_auto_and_records_what_it_resolved(tmp_path, capsys):
    import json

    from vsrcli.cli import run

    args = ["benchmark", "--speed-only", "--arch", "basicvsrpp", "--arch-args", "mid_channels=8,num_blocks=1"]
    assert (
        run([*args, "--size", "64x64", "--frames", "2", "--repeats", "1", "--warmup", "0", "--json", "-"])
        == 0
    )
    doc = json.loads(capsys.readouterr().out)
    expected = precision.precision_name(precision.resolve_precision("auto", precision.resolve_device("auto")))
    assert doc["precision"] == expected


def test_train_takes_auto_and_load_model_refuses_what_restore_refuses():
    from vsrcli.models.api import load_model
    from vsrcli.train.config import PRECISIONS

    assert PRECISIONS == precision.PRECISIONS
    with pytest.raises(UsageError, match="expected auto, cpu, cuda"):
        load_model("vsrcli-x4", device="gpu")
