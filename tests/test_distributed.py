"""Fused layers under torch.distributed: SyncBatchNorm, DDP, FSDP2, torch.compile.

Two CPU processes on gloo, started once for the whole file (a process group costs seconds
to start here); each check runs in both and reports back, and each test asserts one check.

torch's own SyncBatchNorm refuses CPU tensors, so the synchronized checks compare with what
SyncBatchNorm is defined to compute: torch's modules on the concatenation of every process's
batch, run whole in each process. The DDP and FSDP checks compare with torch's modules under
the same wrapper and process group.
"""

from __future__ import annotations

import contextlib
import copy
import json
import os
import socket
import traceback
from datetime import timedelta

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
import torch.nn.functional as F
from torch import nn
from torch.nn.parallel import DistributedDataParallel as DDP

import convkernels
from convkernels.nn import ConvBNReLU2d, FoldedSyncBatchNorm

WORLD = 2
TOL = {"atol": 2e-5, "rtol": 1e-5}
CHECKS = {}
SHARED_DIR = ""   # a directory every process sees (set in each process)


def check(fn):
    CHECKS[fn.__name__] = fn
    return fn


def _triton_problem() -> str:
    """Why the Triton checks cannot run here ("" when they can: a GPU or the interpreter)."""
    from convkernels import triton as ck_triton
    ok, why = ck_triton.is_available()
    return "" if ok else f"triton unusable here: {why}"


# ---- helpers run inside the processes --------------------------------------------------------

def _shard(sizes, *shape, seed=0):
    """(the whole batch, this process's rows): every process draws the same whole batch."""
    gen = torch.Generator().manual_seed(seed)
    whole = torch.randn(sum(sizes), *shape, generator=gen)
    start = sum(sizes[:dist.get_rank()])
    return whole, whole[start:start + sizes[dist.get_rank()]]


def _summed_grads(module):
    """Gradients summed over the processes: the whole batch's gradients."""
    grads = {}
    for name, p in module.named_parameters():
        g = p.grad.clone() if p.grad is not None else torch.zeros_like(p)
        dist.all_reduce(g)
        grads[name] = g
    return grads


class Expect:
    """Collects mismatches and raises them at the end of a check. A check that stopped at its
    first mismatch would skip collectives the other process still makes, and every later
    check would fail on the desynchronized group."""

    def __init__(self):
        self.found = []

    def close(self, actual, expected, what: str, **tol):
        try:
            torch.testing.assert_close(actual, expected, **(tol or TOL))
        except AssertionError as e:
            self.found.append(f"{what}: {e}")

    def same_state(self, ours: dict, theirs: dict, **tol):
        for key, value in theirs.items():
            self.close(ours[key], value, key, **tol)

    def same_training_state(self, ours, theirs, **tol):
        """Parameters, buffers (running stats, num_batches_tracked) and gradients."""
        self.same_state(ours.state_dict(), theirs.state_dict(), **tol)
        theirs_params = dict(theirs.named_parameters())
        for name, p in ours.named_parameters():
            self.close(p.grad, theirs_params[name].grad, f"{name}.grad", **tol)

    def done(self):
        if self.found:
            raise AssertionError("\n".join(self.found))


class Block(nn.Module):
    """A residual block with its own forward: convert() fuses it through an FX trace."""

    def __init__(self, channels):
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(channels)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(channels)
        self.relu = nn.ReLU()

    def forward(self, x):
        y = self.relu(self.bn1(self.conv1(x)))
        return self.relu(self.bn2(self.conv2(y)) + x)


def small_net(seed=0):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.BatchNorm2d(4, momentum=None),
                         nn.ReLU(), Block(4), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                         nn.Linear(4, 3))


def _train_steps(model, batches, targets, steps=2, lr=0.1, scale=1.0):
    opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9)
    for _ in range(steps):
        opt.zero_grad()
        for i, (x, t) in enumerate(zip(batches, targets)):
            last = i == len(batches) - 1
            accumulate = isinstance(model, DDP) and not last
            with model.no_sync() if accumulate else contextlib.nullcontext():
                (scale * (model(x) * t).sum()).backward()
        opt.step()


class _ddp_allowing_cpu_sync_batch_norm:
    """DDP refuses a CPU module holding SyncBatchNorm layers, whose torch kernels are GPU-only.
    Ours run on the CPU, and this guard is all that stops DDP here: lift it while wrapping."""

    def __enter__(self):
        self.saved = DDP._passing_sync_batchnorm_handle
        DDP._passing_sync_batchnorm_handle = lambda ddp, module: None

    def __exit__(self, *exc):
        DDP._passing_sync_batchnorm_handle = self.saved
        return False


# ---- SyncBatchNorm --------------------------------------------------------------------------

def _sync_layer_matches_whole_batch(backend, sizes, residual, momentum, size=5, padding=1,
                                    channels_last=False):
    torch.manual_seed(1)
    ours = ConvBNReLU2d(3, 4, 3, padding=padding, momentum=momentum, backend=backend,
                        sync_batch_norm=True)
    conv, bn = copy.deepcopy(ours.conv), nn.BatchNorm2d(4, momentum=momentum)
    bn.load_state_dict(ours.bn.state_dict())
    out_size = size + 2 * padding - 2
    whole_x, x = _shard(sizes, 3, size, size, seed=2)
    whole_t, t = _shard(sizes, 4, out_size, out_size, seed=3)
    whole_r, r = _shard(sizes, 4, out_size, out_size, seed=4) if residual else (None, None)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    start = sum(sizes[:dist.get_rank()])
    here = slice(start, start + len(x))
    expect = Expect()
    for step in range(2):   # a second step reads running statistics the first one wrote
        x_ours, x_ref = x.clone().requires_grad_(), whole_x.clone().requires_grad_()
        r_ours = r.clone().requires_grad_() if residual else None
        r_ref = whole_r.clone().requires_grad_() if residual else None
        out = ours(x_ours, r_ours)
        ref = bn(conv(x_ref))
        ref = F.relu(ref + r_ref if residual else ref)
        expect.close(out, ref[here], f"step {step} output")
        if channels_last and not out.is_contiguous(memory_format=torch.channels_last):
            expect.found.append(f"step {step}: output is not channels_last")
        (out * t).sum().backward()
        (ref * whole_t).sum().backward()
        expect.close(x_ours.grad, x_ref.grad[here], f"step {step} input grad")
        if residual:
            expect.close(r_ours.grad, r_ref.grad[here], f"step {step} residual grad")
        summed = _summed_grads(ours)
        for name, p in [*(("conv." + n, p) for n, p in conv.named_parameters()),
                        *(("bn." + n, p) for n, p in bn.named_parameters())]:
            expect.close(summed[name], p.grad, f"step {step} {name}.grad")
        for name, buf in bn.named_buffers():
            expect.close(getattr(ours.bn, name), buf, f"step {step} bn.{name}")
        for module in (ours, conv, bn):
            module.zero_grad()
    # Eval uses the running statistics, with no collective (the processes may differ).
    ours.eval(), bn.eval()
    with torch.no_grad():
        expect.close(ours(x, r), F.relu(bn(conv(x)) + (r if residual else 0)), "eval output")
    expect.done()


@check
def sync_layer_torch_uneven_batches():
    _sync_layer_matches_whole_batch("torch", [3, 1], residual=True, momentum=0.1)


@check
def sync_layer_torch_empty_batch_cumulative_average():
    _sync_layer_matches_whole_batch("torch", [2, 0], residual=False, momentum=None)


@check
def sync_layer_torch_one_value_per_channel_here_channels_last():
    # One value per channel on a process is allowed when the group has more, as in torch.
    _sync_layer_matches_whole_batch("torch", [1, 2], residual=False, momentum=0.1, size=3,
                                    padding=0, channels_last=True)


@check
def sync_layer_triton_uneven_batches():
    _sync_layer_matches_whole_batch("triton", [2, 1], residual=True, momentum=0.1)


@check
def sync_layer_triton_empty_batch():
    _sync_layer_matches_whole_batch("triton", [0, 2], residual=False, momentum=0.1)


@check
def sync_only_within_its_process_group():
    # A group of one process: local statistics, like SyncBatchNorm with a world size of 1.
    groups = [dist.new_group([r]) for r in range(WORLD)]   # every process creates every group
    torch.manual_seed(1)
    ours = ConvBNReLU2d(3, 4, 3, backend="torch", sync_batch_norm=True,
                        process_group=groups[dist.get_rank()])
    ref = nn.Sequential(copy.deepcopy(ours.conv), nn.BatchNorm2d(4), nn.ReLU())
    _, x = _shard([3, 2], 3, 5, 5)
    expect = Expect()
    expect.close(ours(x), ref(x), "output")
    expect.close(ours.bn.running_var, ref[1].running_var, "running_var")
    expect.done()


def _converted_sync_trains_like_whole_batch(order):
    original = small_net()
    if order == "sync_then_convert":
        model, _ = convkernels.convert(nn.SyncBatchNorm.convert_sync_batchnorm(
            copy.deepcopy(original)), backend="torch")
    else:
        model = nn.SyncBatchNorm.convert_sync_batchnorm(
            convkernels.convert(original, backend="torch")[0])
    with _ddp_allowing_cpu_sync_batch_norm():
        ddp = DDP(model)
    sizes = [3, 0]
    whole_x, x = _shard(sizes, 3, 6, 6, seed=5)
    whole_t, t = _shard(sizes, 3, seed=6)
    # DDP averages gradients over the processes: scale each process's loss by WORLD to get
    # the whole batch's gradients.
    _train_steps(ddp, [x], [t], scale=WORLD)
    _train_steps(original, [whole_x], [whole_t])
    assert all(isinstance(m, FoldedSyncBatchNorm) for name, m in model.named_modules()
               if name in ("1", "3.bn1", "3.bn2")), model
    expect = Expect()
    expect.same_training_state(model, original)
    expect.done()


@check
def convert_after_convert_sync_batchnorm_ddp():
    _converted_sync_trains_like_whole_batch("sync_then_convert")


@check
def convert_sync_batchnorm_after_convert_ddp():
    _converted_sync_trains_like_whole_batch("convert_then_sync")


# ---- DDP ------------------------------------------------------------------------------------

def _ddp_trains_like_torch(**ddp_options):
    original = small_net()
    converted, _ = convkernels.convert(original, backend="torch")
    theirs, ours = DDP(original, **ddp_options), DDP(converted, **ddp_options)
    batches = [_shard([3, 2], 3, 6, 6, seed=7 + i)[1] for i in range(2)]
    targets = [_shard([3, 2], 3, seed=9 + i)[1] for i in range(2)]
    for model in (theirs, ours):   # no_sync() on the first micro-batch of each step
        _train_steps(model, batches, targets)
    expect = Expect()
    expect.same_training_state(converted, original, atol=1e-6, rtol=1e-6)
    # Eval: with broadcast_buffers, DDP copies rank 0's running statistics in place before
    # each forward, and the fold must be computed from those; the second forward reuses it.
    theirs.eval(), ours.eval()
    with torch.no_grad():
        for i in range(2):
            expect.close(ours(batches[0]), theirs(batches[0]), f"eval output {i}",
                         atol=1e-6, rtol=1e-6)
    expect.done()


@check
def ddp_broadcast_buffers_no_sync_accumulation():
    _ddp_trains_like_torch(broadcast_buffers=True)


@check
def ddp_no_broadcast_buffers_find_unused_parameters():
    _ddp_trains_like_torch(broadcast_buffers=False, find_unused_parameters=True)


# ---- FSDP2 ----------------------------------------------------------------------------------

def _full_state(model) -> dict:
    """The whole (unsharded) state: a collective, so every process gathers it before any
    comparison can stop one of them."""
    return {k: v.full_tensor() if hasattr(v, "full_tensor") else v
            for k, v in model.state_dict().items()}


@check
def fsdp2_shards_trains_and_checkpoints():
    import torch.distributed.checkpoint as dcp
    from torch.distributed.checkpoint.state_dict import get_model_state_dict, set_model_state_dict
    from torch.distributed.fsdp import fully_shard

    def sharded(model):
        for block in [m for m in model.modules() if isinstance(m, Block)]:
            fully_shard(block)
        return fully_shard(model)

    def synced(seed):
        model = nn.SyncBatchNorm.convert_sync_batchnorm(small_net(seed))
        return sharded(convkernels.convert(model, backend="torch")[0])

    # torch's modules and the converted ones, sharded alike, train alike.
    original = small_net()
    ours = sharded(convkernels.convert(original, backend="torch")[0])
    theirs = sharded(original)
    whole_x, x = _shard([3, 2], 3, 6, 6, seed=11)
    whole_t, t = _shard([3, 2], 3, seed=12)
    _train_steps(theirs, [x], [t])
    _train_steps(ours, [x], [t])
    expect = Expect()
    expect.same_state(_full_state(ours), _full_state(theirs), atol=1e-6, rtol=1e-6)

    # Synchronized statistics: the whole batch's training, and the same buffers in every
    # process, so the checkpoint (written once per tensor) holds everything.
    model, whole_batch = synced(seed=0), small_net()
    _train_steps(model, [x], [t], scale=WORLD)   # FSDP averages gradients over processes
    _train_steps(whole_batch, [whole_x], [whole_t])
    trained = _full_state(model)
    expect.same_state(trained, whole_batch.state_dict())
    checkpoint_dir = os.path.join(SHARED_DIR, "checkpoint")
    dcp.save(get_model_state_dict(model), checkpoint_id=checkpoint_dir)
    restored = synced(seed=1)
    state = get_model_state_dict(restored)
    dcp.load(state, checkpoint_id=checkpoint_dir)   # in place, into the sharded tensors
    set_model_state_dict(restored, state)
    expect.same_state(_full_state(restored), trained, atol=0, rtol=0)
    restored.eval(), model.eval()
    with torch.no_grad():
        expect.close(restored(x), model(x), "eval output after restoring", atol=0, rtol=0)
    expect.done()


# ---- torch.compile --------------------------------------------------------------------------

@check
def compiled_under_ddp_without_graph_breaks():
    # fullgraph=True raises at any graph break. The compiled model goes inside DDP: compiling
    # the DDP wrapper itself breaks at DDP's own bookkeeping in this torch, with torch's
    # modules as much as with ours.
    import torch._dynamo
    from torch._dynamo.testing import CompileCounterWithBackend
    whole_x, x = _shard([3, 2], 3, 6, 6, seed=13)
    whole_t, t = _shard([3, 2], 3, seed=14)
    expect = Expect()
    for sync in (False, True):
        original = small_net()
        original[1].momentum = 0.1   # momentum=None reads a count on the host (a graph break
        model = convkernels.convert(original, backend="torch")[0]   # in torch's BN as well)
        if sync:   # replaced after convert, adopted by converting again
            model = nn.SyncBatchNorm.convert_sync_batchnorm(model)
            model = convkernels.convert(model, inplace=True)[0]
        torch._dynamo.reset()
        counter = CompileCounterWithBackend("aot_eager")
        with _ddp_allowing_cpu_sync_batch_norm():
            ddp = DDP(torch.compile(model, backend=counter, fullgraph=True))
        out = ddp(x)
        (WORLD * (out * t).sum()).backward()
        if counter.frame_count != 1:
            expect.found.append(f"sync={sync}: {counter.frame_count} graphs")
        if sync:   # and it computes the whole batch's statistics
            ref = original(whole_x)
            (ref * whole_t).sum().backward()
            start = sum([3, 2][:dist.get_rank()])
            expect.close(out, ref[start:start + len(x)], "output")
            expect.same_training_state(model, original)
    expect.done()


# ---- one process, no process group ---------------------------------------------------------

@pytest.mark.parametrize("order", ["sync_then_convert", "convert_then_sync"])
def test_convert_fuses_sync_batch_norm_in_either_order(order):
    # Without a process group SyncBatchNorm is BatchNorm2d (torch runs it on the CPU then).
    original = nn.SyncBatchNorm.convert_sync_batchnorm(small_net())
    if order == "sync_then_convert":
        model, report = convkernels.convert(original)
        fused = [r.source for r in report.swapped if "SyncBatchNorm" in r.source]
        assert len(fused) == 3, report
    else:
        model, _ = convkernels.convert(small_net())
        model = nn.SyncBatchNorm.convert_sync_batchnorm(model)
    x = torch.randn(3, 3, 6, 6)
    for training in (True, False):
        model.train(training), original.train(training)
        torch.testing.assert_close(model(x), original(x), atol=1e-6, rtol=1e-6)
    for name in ("1", "3.bn1", "3.bn2"):   # adopted by the first forward, state shared
        assert isinstance(model.get_submodule(name), FoldedSyncBatchNorm), name
    assert model.state_dict().keys() == original.state_dict().keys()
    for key, value in original.state_dict().items():
        torch.testing.assert_close(model.state_dict()[key], value, atol=1e-6, rtol=1e-6)


def test_a_fused_batch_norm_replaced_by_something_else_fails_loudly():
    model, _ = convkernels.convert(small_net())
    model[3].bn1 = nn.GroupNorm(2, 4)
    with pytest.raises(RuntimeError, match="'3.bn1' was replaced by GroupNorm"):
        model(torch.randn(2, 3, 6, 6))


def test_process_group_needs_sync_batch_norm():
    with pytest.raises(ValueError, match="sync_batch_norm=True"):
        ConvBNReLU2d(3, 4, 3, process_group=object())
    layer = ConvBNReLU2d(3, 4, 3, sync_batch_norm=True)
    assert isinstance(layer.bn, nn.SyncBatchNorm) and layer.bn.process_group is None
    assert layer.state_dict().keys() == ConvBNReLU2d(3, 4, 3).state_dict().keys()


# ---- the processes --------------------------------------------------------------------------

def _worker(rank, port, out_dir):
    global SHARED_DIR
    SHARED_DIR = out_dir
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank,
                            world_size=WORLD, timeout=timedelta(seconds=60))
    torch.set_num_threads(1)
    results = {}
    skip_triton = bool(_triton_problem())
    for name, fn in CHECKS.items():
        if skip_triton and "triton" in name:
            continue
        try:
            fn()
            results[name] = None
        except Exception:
            results[name] = f"rank {rank}: {traceback.format_exc()}"
        with open(os.path.join(out_dir, f"rank{rank}.json"), "w") as f:
            json.dump(results, f)   # after each check: a later hang loses no result
        dist.barrier()
    dist.destroy_process_group()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory):
    out_dir = str(tmp_path_factory.mktemp("distributed"))
    try:
        mp.spawn(_worker, args=(_free_port(), out_dir), nprocs=WORLD)
        ended = "did not run"
    except Exception as e:   # a process died or a collective timed out: keep what finished
        ended = f"did not finish: the processes ended with {type(e).__name__}: {e}"
    per_rank = []
    for rank in range(WORLD):
        path = os.path.join(out_dir, f"rank{rank}.json")
        if os.path.exists(path):
            with open(path) as f:
                per_rank.append(json.load(f))
        else:
            per_rank.append({})
    return {name: [r.get(name, f"rank {rank}: {ended}") for rank, r in enumerate(per_rank)]
            for name in CHECKS}


@pytest.mark.parametrize("name", list(CHECKS))
def test_distributed(outcomes, name):
    if "triton" in name and _triton_problem():
        pytest.skip(_triton_problem())
    errors = [e for e in outcomes[name] if e]
    assert not errors, "\n".join(errors)
