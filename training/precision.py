"""Float32 or bfloat16 arithmetic: whichever this CPU runs faster.

A CPU with native bfloat16 instructions (the `avx512_bf16` or `amx_bf16` flags: Intel Cooper
Lake, Sapphire Rapids and later, AMD Zen 4 and later) computes a convolution in bfloat16 faster
than in float32; Keras's `mixed_bfloat16` policy computes in bfloat16 and keeps the variables,
and so the weight updates, in float32 (no loss scaling is needed: bfloat16 has float32's
range). Without those instructions TensorFlow emulates bfloat16, which is reported to be far
slower, so `auto` keeps float32 there. `bench/train_speed.py` measures both on the machine at
hand.
"""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path

PRECISIONS = ("auto", "float32", "bfloat16")
# What each choice computes in, said once for --help and the reports.
PRECISION_NOTES = {
    "auto": "bfloat16 on a CPU with native bfloat16 instructions (avx512_bf16 or amx_bf16), "
            "float32 elsewhere, where bfloat16 would be emulated",
    "float32": "float32 throughout",
    "bfloat16": "Keras's mixed_bfloat16: float32 weights and updates, bfloat16 compute, a "
                "float32 softmax",
}
BF16_CPU_FLAGS = ("avx512_bf16", "amx_bf16")


def cpu_flags(cpuinfo: str | Path = "/proc/cpuinfo") -> frozenset[str]:
    """The CPU's feature flags as Linux lists them; empty where there is no such file."""
    try:
        text = Path(cpuinfo).read_text()
    except OSError:
        return frozenset()
    for line in text.splitlines():
        if line.startswith("flags"):
            return frozenset(line.split(":", 1)[1].split())
    return frozenset()


def resolve(precision: str = "auto", flags: frozenset[str] | None = None) -> str:
    """"float32" or "bfloat16": `precision` itself, or for "auto" bfloat16 exactly when the
    CPU (`flags`, default this one's) has native bfloat16 instructions."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}; got {precision!r}")
    if precision != "auto":
        return precision
    flags = cpu_flags() if flags is None else flags
    return "bfloat16" if any(flag in flags for flag in BF16_CPU_FLAGS) else "float32"


def policy_name(precision: str) -> str:
    """Keras's dtype policy for a resolved precision."""
    return "mixed_bfloat16" if precision == "bfloat16" else "float32"


@contextmanager
def compute_precision(precision: str):
    """Layers built inside compute in `precision` (resolved); the global policy is restored
    after, so later models (a float32 copy, another experiment) are unaffected."""
    import keras

    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(policy_name(resolve(precision)))
    try:
        yield
    finally:
        keras.config.set_dtype_policy(previous)
