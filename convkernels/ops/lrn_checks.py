"""The lrn family's argument checks."""

from __future__ import annotations

from .._checks import check_float_tensor


def check_lrn(op: str, input, size, alpha, beta, k) -> None:
    """torch's local_response_norm takes 3-D and larger inputs; the kernels take 4-D."""
    check_float_tensor(op, "input", input)
    if input.dim() != 4:
        raise ValueError(f"convkernels.{op}: expected a 4-D input [N, C, H, W] (ops take 3-D "
                         f"[N, C, L] too), got {input.dim()}-D input of shape "
                         f"{list(input.shape)}")
    if isinstance(size, bool) or not isinstance(size, int) or size <= 0:
        raise ValueError(f"convkernels.{op}: size must be a positive int, got {size!r}")
    for name, v in (("alpha", alpha), ("beta", beta), ("k", k)):
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise TypeError(f"convkernels.{op}: {name} must be a number, got {v!r}")
