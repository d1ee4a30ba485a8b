"""ops.fused_conv_bn_relu and ops.conv2d_affine against conv -> batch_norm -> (+res) -> relu."""

import pytest
import torch
import torch.nn.functional as F

from convkernels import ops
from harness import (
    SMALL_CASES,
    ConvCase,
    assert_within_rule,
    backend_params,
    pairwise_sum_bound,
)


def _bn_state(K, device, dtype=torch.float32, seed=1):
    g = torch.Generator().manual_seed(seed)
    mean = torch.randn(K, generator=g, dtype=torch.float64)
    var = torch.rand(K, generator=g, dtype=torch.float64) + 0.5
    gamma = torch.randn(K, generator=g, dtype=torch.float64)
    beta = torch.randn(K, generator=g, dtype=torch.float64)
    return [t.to(device, dtype) for t in (mean, var, gamma, beta)]


def _reference(x, w, b, mean, var, gamma, beta, case, training, relu, residual, momentum=0.1):
    y = F.conv2d(x, w, b, **case.kwargs())
    y = F.batch_norm(y, mean, var, gamma, beta, training, momentum, 1e-5)
    y = y + residual if residual is not None else y
    return y.relu() if relu else y


def _double(*ts):
    return [None if t is None else t.double() for t in ts]


EVAL_CASES = [SMALL_CASES[1], SMALL_CASES[2], SMALL_CASES[6], SMALL_CASES[7]]


@pytest.mark.parametrize("backend,device", backend_params())
@pytest.mark.parametrize("case", EVAL_CASES, ids=lambda c: c.name)
@pytest.mark.parametrize("relu", [True, False])
@pytest.mark.parametrize("with_residual", [False, True])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.bfloat16], ids=str)
def test_eval_matches_three_op_composition(backend, device, case, relu, with_residual, dtype):
    x, w, b = case.tensors(dtype, device)
    mean, var, gamma, beta = _bn_state(case.K, device)  # BN state stays fp32, as in AMP
    out_shape = F.conv2d(x, w, **case.kwargs()).shape
    res = torch.randn(out_shape, dtype=torch.float64).to(device, dtype) if with_residual else None
    ours = ops.fused_conv_bn_relu(x, w, b, mean, var, gamma, beta, **case.kwargs(),
                                  relu=relu, residual=res, backend=backend)
    ref = _reference(*_double(x, w, b, mean, var, gamma, beta), case, False, relu,
                     None if res is None else res.double())
    same = _reference(x, w, b, mean.to(dtype), var.to(dtype), gamma.to(dtype), beta.to(dtype),
                      case, False, relu, res)
    assert_within_rule(ours, same, ref, what=f"{case.name}/{backend}/{dtype}")


@pytest.mark.parametrize("backend,device", backend_params())
@pytest.mark.parametrize("affine", [True, False])
@pytest.mark.parametrize("with_bias", [True, False])
def test_eval_optional_parameters(backend, device, affine, with_bias):
    case = SMALL_CASES[1]
    x, w, b = case.tensors(device=device)
    mean, var, gamma, beta = _bn_state(case.K, device)
    b = b if with_bias else None
    gamma, beta = (gamma, beta) if affine else (None, None)
    ours = ops.fused_conv_bn_relu(x, w, b, mean, var, gamma, beta, **case.kwargs(),
                                  backend=backend)
    ref = _reference(*_double(x, w, b, mean, var, gamma, beta), case, False, True, None)
    same = _reference(x, w, b, mean, var, gamma, beta, case, False, True, None)
    assert_within_rule(ours, same, ref, what=f"affine={affine} bias={with_bias}")


@pytest.mark.parametrize("backend,device", backend_params())
@pytest.mark.parametrize("case", [SMALL_CASES[1], SMALL_CASES[5]], ids=lambda c: c.name)
@pytest.mark.parametrize("with_residual", [False, True])
def test_training_outputs_running_stats_and_gradients(backend, device, case, with_residual):
    x, w, b = case.tensors(device=device)
    mean, var, gamma, beta = _bn_state(case.K, device)
    out_shape = F.conv2d(x, w, **case.kwargs()).shape
    res = torch.randn(out_shape, dtype=torch.float64).to(device, x.dtype) if with_residual \
        else None

    def run(fn, dtype, *, ours):
        leaves = [t.to(dtype).clone().requires_grad_() for t in (x, w, b, gamma, beta)]
        r = None if res is None else res.to(dtype).clone().requires_grad_()
        rm, rv = mean.to(dtype).clone(), var.to(dtype).clone()
        if ours:
            out = ops.fused_conv_bn_relu(leaves[0], leaves[1], leaves[2], rm, rv, leaves[3],
                                         leaves[4], **case.kwargs(), training=True,
                                         momentum=0.3, residual=r, backend=backend)
        else:
            out = _reference(leaves[0], leaves[1], leaves[2], rm, rv, leaves[3], leaves[4],
                             case, True, True, r, momentum=0.3)
        gy = torch.randn(out.shape, generator=torch.Generator().manual_seed(3),
                         dtype=torch.float64).to(device, dtype)
        out.backward(gy)
        grads = [t.grad for t in leaves] + ([r.grad] if r is not None else [])
        return out, rm, rv, grads

    ours = run(None, torch.float32, ours=True)
    same = run(None, torch.float32, ours=False)
    ref = run(None, torch.float64, ours=False)
    assert_within_rule(ours[0], same[0], ref[0], what="training output")
    assert_within_rule(ours[1], same[1], ref[1], what="running_mean")
    assert_within_rule(ours[2], same[2], ref[2], what="running_var (unbiased)")
    # gamma's and beta's gradients are sums over N*P*Q terms |gy * xhat| and |gy| (a superset
    # of the ReLU-masked terms, so the bound is an upper bound): see pairwise_sum_bound.
    y64 = F.conv2d(x.double().cpu(), w.double().cpu(), b.double().cpu(), **case.kwargs())
    var64, mean64 = torch.var_mean(y64, dim=(0, 2, 3), correction=0, keepdim=True)
    xhat64 = (y64 - mean64) / torch.sqrt(var64 + 1e-5)
    gy = torch.randn(out_shape, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    count = y64.numel() // y64.shape[1]
    bounds = {"gamma": pairwise_sum_bound((gy * xhat64).abs().sum((0, 2, 3)), count,
                                          torch.float32),
              "beta": pairwise_sum_bound(gy.abs().sum((0, 2, 3)), count, torch.float32)}
    for name, a, s, r in zip(["x", "w", "b", "gamma", "beta", "residual"], ours[3], same[3],
                             ref[3]):
        if name == "b":
            # BN removes any per-channel constant: the bias gradient is 0 up to rounding.
            assert a.abs().max() < 1e-4, f"grad b should vanish, got {a.abs().max()}"
            continue
        assert_within_rule(a, s, r, what=f"grad {name}", reduction_bound=bounds.get(name, 0.0))


@pytest.mark.parametrize("backend,device", backend_params())
def test_training_without_running_stats(backend, device):
    case = SMALL_CASES[1]
    x, w, b = case.tensors(device=device)
    _, _, gamma, beta = _bn_state(case.K, device)
    ours = ops.fused_conv_bn_relu(x, w, b, None, None, gamma, beta, **case.kwargs(),
                                  training=True, backend=backend)
    ref = _reference(*_double(x, w, b), None, None, gamma.double(), beta.double(), case, True,
                     True, None)
    same = _reference(x, w, b, None, None, gamma, beta, case, True, True, None)
    assert_within_rule(ours, same, ref, what="training, no running stats")


@pytest.mark.parametrize("backend,device", backend_params())
def test_eval_gradients_reach_bn_affine_parameters(backend, device):
    """Fine-tuning with frozen statistics: gamma and beta still get gradients in eval."""
    case = SMALL_CASES[2]
    x, w, b = case.tensors(device=device)
    mean, var, gamma, beta = _bn_state(case.K, device)
    grads = []
    for dtype, fn in ((torch.float32, "ours"), (torch.float32, "torch"),
                      (torch.float64, "torch")):
        leaves = [t.to(dtype).clone().requires_grad_() for t in (x, w, gamma, beta)]
        if fn == "ours":
            out = ops.fused_conv_bn_relu(leaves[0], leaves[1], b, mean, var, leaves[2],
                                         leaves[3], **case.kwargs(), backend=backend)
        else:
            out = _reference(leaves[0], leaves[1], b.to(dtype), mean.to(dtype), var.to(dtype),
                             leaves[2], leaves[3], case, False, True, None)
        out.sum().backward()
        grads.append([t.grad for t in leaves])
    for name, a, s, r in zip(["x", "w", "gamma", "beta"], *grads):
        assert_within_rule(a, s, r, what=f"eval grad {name}")


@pytest.mark.parametrize("backend,device", backend_params())
def test_conv2d_affine_partial_epilogues(backend, device):
    case = SMALL_CASES[0]
    x, w, b = case.tensors(device=device)
    scale = torch.rand(case.K, device=device) + 0.5
    raw = F.conv2d(x.double(), w.double())
    for s, t in ((scale, None), (None, b), (None, None)):
        ours = ops.conv2d_affine(x, w, s, t, backend=backend)
        ref = raw * (s.double().view(1, -1, 1, 1) if s is not None else 1) \
            + (t.double().view(1, -1, 1, 1) if t is not None else 0)
        assert_within_rule(ours, ref.float(), ref, what=f"scale={s is not None} "
                                                         f"shift={t is not None}")


def test_fold_batch_norm_formula():
    mean, var, gamma, beta = _bn_state(6, "cpu", torch.float64)
    bias = torch.randn(6, dtype=torch.float64)
    scale, shift = ops.fold_batch_norm(bias, mean, var, gamma, beta, 1e-5, dtype=torch.float64)
    y = torch.randn(4, 6, 3, 3, dtype=torch.float64)
    expect = F.batch_norm(y + bias.view(1, -1, 1, 1), mean, var, gamma, beta, False, 0.0, 1e-5)
    torch.testing.assert_close(y * scale.view(1, -1, 1, 1) + shift.view(1, -1, 1, 1), expect)


def test_training_needs_more_than_one_value_per_channel():
    x, w, b = ConvCase("1", 1, 3, 3, 3, 4, 3, 3).tensors()
    with pytest.raises(ValueError, match="more than 1 value per channel"):
        ops.fused_conv_bn_relu(x, w, b, None, None, None, None, training=True)


@pytest.mark.parametrize("backend,device", backend_params())
def test_training_with_an_empty_batch_is_empty_as_in_torch(backend, device):
    """torch returns the empty output and leaves the running statistics alone."""
    x, w = torch.randn(0, 3, 6, 6, device=device), torch.randn(4, 3, 3, 3, device=device)
    mean, var = torch.zeros(4, device=device), torch.ones(4, device=device)
    out = ops.fused_conv_bn_relu(x, w, None, mean, var, None, None, padding=1, training=True,
                                 backend=backend)
    assert out.shape == (0, 4, 6, 6)
    assert torch.equal(mean, torch.zeros(4, device=device))
    assert torch.equal(var, torch.ones(4, device=device))
    from convkernels.nn import ConvBNReLU2d
    m = ConvBNReLU2d(3, 4, 3, padding=1, backend=backend).to(device).train()
    assert m(x).shape == (0, 4, 6, 6)
