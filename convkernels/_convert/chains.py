"""Fusing the chains real models contain, without renaming anything.

The chains: Conv2d -> BatchNorm2d [-> (+ residual)] [-> ReLU] (one :class:`FusedConv2d`),
LocalResponseNorm -> MaxPool2d and MaxPool2d -> LocalResponseNorm (one
:class:`~convkernels.nn.LRNMaxPool2d`), Upsample or ``F.interpolate`` -> Conv2d (one
:class:`~convkernels.nn.ResizeConv2d`).

They are matched on a module's flat call graph (:mod:`.trace`): its ``forward`` traced with
torch.fx, the calls of its Sequentials inlined (recursively) and of its child blocks (one
level), so a chain is found whether a Sequential lists it, a custom forward calls it, or it
runs from one into the other (``self.bn(self.features(x))``). Among the matched calls, the
ReLU may be a module called several times (torchvision's Bottleneck: only the call that
follows the BN is fused), ``F.relu``/``torch.relu``/``x.relu_()``, and the residual add is
``relu(bn(conv(x)) + identity)``.

The rewrite: the first call's slot (for Upsample -> Conv2d, the conv's) gets the fused module,
sharing the parameters of the module it replaces under the same names. Each other call of
the chain disappears: a BatchNorm's slot becomes a :class:`~convkernels.nn.FoldedBatchNorm2d`
(same parameters and buffers, identity forward); in a Sequential or a child block, any other
slot becomes an ``Identity``; in the forward being fused the call is removed, and torch.fx
regenerates that forward and stores it on the same instance (:class:`.trace.TracedForward`),
so classes, attributes and ``state_dict`` keys stay as they were. A pair or chain that is
not fused gets a report line saying why and what would make it fusable.

A container or block the chain crosses computes its part of the fused chain: the model as a
whole is the same function, but calling ``model.features`` alone after a chain that runs
from it into ``model.bn`` was fused gives the normalized output.
"""

from __future__ import annotations

import inspect
import operator
from dataclasses import dataclass
from typing import Optional

import torch
import torch.fx as fx
import torch.nn.functional as F

from ..nn import FusedConv2d
from ..nn.conv_bn_relu import BATCH_NORMS
from ..nn.folded import folded_twin
from .swaps import is_ours, own_forward
from .trace import TracedForward, View, bind_forward, views

# Models pickled before TracedForward moved to .trace name it here.
__all__ = ["TracedForward", "fuse", "match"]

_RELU_FUNCTIONS = {F.relu, torch.relu, torch.relu_}
_RELU_METHODS = {"relu", "relu_"}
_ADD_FUNCTIONS = {operator.add, operator.iadd, torch.add}
_ADD_METHODS = {"add", "add_"}
_CONTAINERS = (torch.nn.Sequential, torch.nn.ModuleList, torch.nn.ModuleDict)


def builtin_relu(bn: torch.nn.Module) -> Optional[bool]:
    """Whether ``bn`` applies a ReLU itself: False for torch's BatchNorm2d and SyncBatchNorm,
    True/False for timm's ``BatchNormAct2d`` with a ReLU/Identity activation and no dropout;
    None when ``bn`` computes something else (a subclass with its own forward)."""
    if own_forward(bn, torch.nn.BatchNorm2d) or own_forward(bn, torch.nn.SyncBatchNorm):
        return False
    if (type(bn).__name__ == "BatchNormAct2d" and type(bn).__module__.startswith("timm.")
            and isinstance(getattr(bn, "drop", None), torch.nn.Identity)):
        act = getattr(bn, "act", None)
        if isinstance(act, torch.nn.Identity) or _is_relu_module(act):
            return _is_relu_module(act)
    return None


def conv_bn_problem(conv: torch.nn.Module, bn: torch.nn.Module) -> Optional[str]:
    """Why ``conv`` -> ``bn`` cannot become one fused op (None: it can)."""
    if not own_forward(conv, torch.nn.Conv2d):
        return (f"{type(conv).__name__} overrides Conv2d.forward: only torch's own conv "
                "is fused (drop the override, or fold the BatchNorm into it by hand)")
    if builtin_relu(bn) is None:
        return (f"{type(bn).__name__} overrides BatchNorm2d.forward: only torch's BatchNorm2d/"
                "SyncBatchNorm (and timm's BatchNormAct2d with a ReLU) are folded")
    if bn.num_features != conv.out_channels:
        return f"BatchNorm2d({bn.num_features}) after a conv with {conv.out_channels} channels"
    return None


def upsample_conv_problem(up: torch.nn.Module, conv: torch.nn.Module) -> Optional[str]:
    """Why ``Upsample -> Conv2d`` cannot become one ResizeConv2d (None: it can)."""
    for module, kind in ((up, torch.nn.Upsample), (conv, torch.nn.Conv2d)):
        if not own_forward(module, kind):
            return f"{type(module).__name__} overrides {kind.__name__}.forward"
    if up.mode not in ("nearest", "bilinear"):
        return (f"Upsample mode {up.mode!r} has no fused kernel (nearest and bilinear have "
                "one)")
    if up.size is not None:
        return (f"Upsample(size={up.size}): the fused kernel takes an integer scale_factor, "
                "not an output size")
    scales = up.scale_factor if isinstance(up.scale_factor, tuple) else (up.scale_factor,) * 2
    if len(set(scales)) != 1 or float(scales[0]) != int(scales[0]) or scales[0] < 1:
        return (f"scale_factor {up.scale_factor}: the fused kernel takes one integer scale for "
                "both axes")
    if up.recompute_scale_factor:
        return "recompute_scale_factor=True: the fused kernel takes a fixed integer scale"
    if (conv.groups != 1 or conv.dilation != (1, 1) or conv.padding_mode != "zeros"
            or isinstance(conv.padding, str)):
        return ("the conv has groups, dilation, a padding mode or string padding; the fused "
                "kernel implements groups=1, dilation=1, numeric zero padding")
    return None


def _is_relu_module(m) -> bool:
    return own_forward(m, torch.nn.ReLU)


def _plain_max_pool(m) -> bool:
    return own_forward(m, torch.nn.MaxPool2d) and not m.return_indices


def _bn_kind(bn: torch.nn.Module) -> str:
    return "SyncBatchNorm" if isinstance(bn, torch.nn.SyncBatchNorm) else "BatchNorm2d"


# ---- matching, on one flat graph -----------------------------------------------------------

@dataclass(frozen=True)
class Match:
    """A chain to fuse: ``anchor``'s slot gets the fused module; the calls in ``removed``
    (data-flow order) disappear."""
    kind: str                       # "conv_bn" | "lrn_pool" | "pool_lrn" | "upsample_conv"
    anchor: fx.Node
    removed: tuple
    residual: bool = False          # conv_bn: removed[1] is an add whose other operand
    relu: bool = False              # becomes the fused conv's second argument
    note: str = ""                  # for the report: a part of the chain left out, and why
    upsample: Optional[torch.nn.Upsample] = None   # what an F.interpolate call computes

    def key(self) -> tuple:
        return (self.kind, self.anchor.target, tuple((n.op, n.target) for n in self.removed),
                self.residual, self.relu, repr(self.upsample))


@dataclass(frozen=True)
class Miss:
    """A pair convert() recognized and did not fuse."""
    path: str                       # the module the report line is about
    source: str
    reason: str
    other: str                      # the partner module's path (its line refers here)
    nodes: tuple = ()               # the two calls


def _callee(root: torch.nn.Module, node, kind) -> Optional[torch.nn.Module]:
    if not isinstance(node, fx.Node) or node.op != "call_module":
        return None
    m = root.get_submodule(node.target)
    return m if isinstance(m, kind) and not is_ours(m) else None


def _describe(node: fx.Node) -> str:
    if node.op == "call_module":
        return f"self.{node.target}"
    if node.op == "call_method":
        return f".{node.target}()"
    if node.op == "output":
        return "the forward's return value"
    return getattr(node.target, "__name__", str(node.target))


def _sharing_problem(node: fx.Node, next_node: fx.Node, what: str) -> Optional[str]:
    """Why ``node``'s output cannot be handed to ``next_node`` inside a fused op."""
    others = [_describe(u) for u in node.users if u is not next_node]
    if others:
        return (f"the {what} output is also used by {', '.join(others)}; a fused op does not "
                f"expose it (feed that use from the output of the pair instead, or give it "
                f"its own {what})")
    return None


def _call_count_problem(view: View, *nodes: fx.Node) -> Optional[str]:
    for node in nodes:
        n = view.calls(node.target)
        if n != 1:
            return (f"self.{node.target} is called {n} times in the forward; its fused twin "
                    "would compute the whole pair at every call (use one module per call site)")
    return None


def _removable(view: View, node: fx.Node) -> bool:
    """A call can leave the chain: in the forward being rewritten it is removed from the
    code; in a Sequential or a child block its module's slot becomes an Identity, which is
    only right if nothing else calls it."""
    return node in view.origin or (node.op == "call_module" and view.calls(node.target) == 1)


def _is_relu_node(root, node: fx.Node) -> bool:
    if node.op == "call_module":
        return _is_relu_module(root.get_submodule(node.target))
    if node.op == "call_function" and node.target in _RELU_FUNCTIONS:
        return len(node.args) == 1
    return node.op == "call_method" and node.target in _RELU_METHODS and len(node.args) == 1


def _is_residual_add(node: fx.Node, bn_node: fx.Node) -> bool:
    """``bn_out + other`` (no alpha) with ``other`` another node."""
    is_add = ((node.op == "call_function" and node.target in _ADD_FUNCTIONS)
              or (node.op == "call_method" and node.target in _ADD_METHODS))
    if not is_add or len(node.args) != 2 or node.kwargs or bn_node not in node.args:
        return False
    a, b = node.args
    other = b if a is bn_node else a
    return isinstance(other, fx.Node) and other is not bn_node


def _conv_bn(root, view: View, bn_node: fx.Node, matches: list, misses: list) -> None:
    bn = _callee(root, bn_node, BATCH_NORMS)
    conv_node = bn_node.args[0] if bn is not None and bn_node.args else None
    conv = _callee(root, conv_node, torch.nn.Conv2d)
    if conv is None:
        return   # no conv before it (pre-activation): the BatchNorm's own line says so
    problem = (conv_bn_problem(conv, bn)
               or ("the BatchNorm is called with more than its input"
                   if len(bn_node.args) != 1 or bn_node.kwargs else None)
               or _sharing_problem(conv_node, bn_node, "conv")
               or _call_count_problem(view, conv_node, bn_node))
    if problem:
        misses.append(Miss(conv_node.target, f"Conv2d -> {_bn_kind(bn)}", problem,
                           bn_node.target, (conv_node, bn_node)))
        return
    if builtin_relu(bn):
        matches.append(Match("conv_bn", conv_node, (bn_node,), relu=True))
        return
    nxt = next(iter(bn_node.users)) if len(bn_node.users) == 1 else None
    if nxt is not None and _is_relu_node(root, nxt):
        if _removable(view, nxt):
            matches.append(Match("conv_bn", conv_node, (bn_node, nxt), relu=True))
        else:
            matches.append(Match("conv_bn", conv_node, (bn_node,), note=(
                "the ReLU stays separate: its module is also called elsewhere, or it is a "
                "function call inside a child's forward")))
        return
    if nxt is not None and _is_residual_add(nxt, bn_node) and len(nxt.users) == 1:
        relu = next(iter(nxt.users))
        if _is_relu_node(root, relu):   # a residual without a ReLU after it: conv+BN only
            in_forward = all(n in view.origin for n in (conv_node, bn_node, nxt))
            if in_forward and _removable(view, relu):
                matches.append(Match("conv_bn", conv_node, (bn_node, nxt, relu),
                                     residual=True, relu=True))
                return
            note = ("the residual add stays separate: the conv, BatchNorm or add runs inside "
                    "a Sequential or a child's forward, where no second input can be passed")
            matches.append(Match("conv_bn", conv_node, (bn_node,), note=note))
            return
    matches.append(Match("conv_bn", conv_node, (bn_node,)))


def _pair_kind(m: torch.nn.Module) -> Optional[str]:
    for kind, cls in (("lrn", torch.nn.LocalResponseNorm), ("pool", torch.nn.MaxPool2d),
                      ("up", torch.nn.Upsample), ("conv", torch.nn.Conv2d)):
        if isinstance(m, cls) and not is_ours(m):
            return kind
    return None


_PAIRS = {("lrn", "pool"): ("lrn_pool", "LocalResponseNorm -> MaxPool2d"),
          ("pool", "lrn"): ("pool_lrn", "MaxPool2d -> LocalResponseNorm"),
          ("up", "conv"): ("upsample_conv", "Upsample -> Conv2d")}


def _pair_problem(first: torch.nn.Module, second: torch.nn.Module, kind: str) -> Optional[str]:
    if kind == "upsample_conv":
        return upsample_conv_problem(first, second)
    lrn, pool = (first, second) if kind == "lrn_pool" else (second, first)
    if not own_forward(lrn, torch.nn.LocalResponseNorm):
        return f"{type(lrn).__name__} overrides LocalResponseNorm.forward"
    if not own_forward(pool, torch.nn.MaxPool2d):
        return f"{type(pool).__name__} overrides MaxPool2d.forward"
    if pool.return_indices:
        return "MaxPool2d(return_indices=True): the fused op returns no indices"
    return None


def _interpolate(node: fx.Node) -> tuple[Optional[torch.nn.Upsample], Optional[str]]:
    """For an ``F.interpolate`` call: the ``nn.Upsample`` it computes, or why there is none
    convert() can use (an argument computed in the forward, antialias)."""
    try:
        bound = inspect.signature(F.interpolate).bind(*node.args, **node.kwargs)
    except TypeError:
        return None, "F.interpolate called with arguments it does not take"
    bound.apply_defaults()
    args = dict(bound.arguments)
    del args["input"]
    computed = [k for k, v in args.items() if any(isinstance(a, fx.Node) for a in
                                                  (v if isinstance(v, (tuple, list)) else (v,)))]
    if computed:
        return None, (f"F.interpolate's {', '.join(computed)} is computed in the forward; the "
                      "fused kernel takes a fixed integer scale_factor")
    if args.pop("antialias"):
        return None, "F.interpolate(antialias=True) has no fused kernel"
    return torch.nn.Upsample(**args), None


def _pair(root, view: View, node: fx.Node, claimed: set, matches: list, misses: list) -> None:
    upsample = interpolate_problem = None
    if node.op == "call_function" and node.target is F.interpolate:
        upsample, interpolate_problem = _interpolate(node)
        first, first_kind = upsample, "up"
    else:
        first = _callee(root, node, torch.nn.Module)
        first_kind = _pair_kind(first) if first is not None else None
    if first_kind is None:
        return
    for user in node.users:
        second = _callee(root, user, torch.nn.Module)
        pair = _PAIRS.get((first_kind, _pair_kind(second) if second is not None else None))
        if pair is None:
            continue
        kind, source = pair
        anchor, removed = (user, node) if kind == "upsample_conv" else (node, user)
        if node.op == "call_function":
            source = "interpolate -> Conv2d"
        problem = (interpolate_problem or _pair_problem(first, second, kind)
                   or ("the conv is fused with the BatchNorm after it; Upsample -> Conv2d -> "
                       "BatchNorm2d has no single fused op" if user in claimed else None)
                   or (f"self.{user.target} is called with more than one input"
                       if len(user.args) != 1 or user.kwargs else None)
                   or _sharing_problem(node, user, source.split(" ")[0])
                   or _call_count_problem(view, anchor)
                   or (None if _removable(view, removed) else
                       f"self.{removed.target} is called elsewhere too; it cannot become an "
                       "Identity where it is"))
        if problem:
            path = user.target if node.op == "call_function" else node.target
            misses.append(Miss(path, source, problem, user.target, (node, user)))
        else:
            matches.append(Match(kind, anchor, (removed,), upsample=upsample))
        return


def match(root: torch.nn.Module, view: View) -> tuple[list[Match], list[Miss]]:
    """The chains of one flat graph (a call belongs to one chain at most; Conv2d ->
    BatchNorm2d chains first), and the pairs recognized but not fusable."""
    matches: list[Match] = []
    misses: list[Miss] = []
    for node in list(view.flat.nodes):
        _conv_bn(root, view, node, matches, misses)
    claimed = {n for m in matches for n in (m.anchor,) + m.removed}
    for node in list(view.flat.nodes):
        if node not in claimed:
            found = len(matches)
            _pair(root, view, node, claimed, matches, misses)
            claimed.update(n for m in matches[found:] for n in (m.anchor,) + m.removed)
    return matches, misses


# ---- the pass over one module --------------------------------------------------------------

def _reachable_kinds(module: torch.nn.Module) -> set:
    """The pair kinds among the calls the flat graph of ``module`` can show (its children,
    theirs through containers, and one level into child blocks): tracing every module of a
    big model is not free."""
    kinds, stack = set(), [(child, False) for child in module.children()]
    while stack:
        child, in_block = stack.pop()
        if isinstance(child, BATCH_NORMS):
            kinds.add("bn")
        kinds.add(_pair_kind(child))
        block = not (is_ours(child) or type(child).__module__.startswith("torch."))
        if isinstance(child, _CONTAINERS) or (block and not in_block):
            stack.extend((c, in_block or block) for c in child.children())
    return kinds


def _local(view: View, nodes) -> bool:
    """All ``nodes`` in one Sequential or block: a rewrite is right whatever calls that."""
    owners = {view.owner.get(n) for n in nodes}
    return len(owners) == 1 and None not in owners


def _inside_a_block(view: View, nodes) -> bool:
    """All ``nodes`` from one child block's forward: its own pass sees them."""
    return _local(view, nodes) and any(n in view.custom for n in nodes)


def fuse(module: torch.nn.Module, prefix: str, ctx) -> list[torch.nn.Module]:
    """Fuse the chains among the calls of ``module``; return the Sequentials whose calls
    were covered (the walk does not look at them again).

    A trace freezes Python-level branches, ``if self.training`` included, so a forward is
    traced in both modes: when the two graphs differ, both are rewritten and the bound
    forward picks one by ``self.training``; a chain is fused only if both modes have it
    (or it lies inside one Sequential, which computes the same whatever calls it)."""
    kinds = _reachable_kinds(module)
    if "conv" not in kinds and not {"lrn", "pool"} <= kinds:
        return []   # every chain has a conv, or an LRN and a MaxPool2d
    try:
        all_views = views(module)
    except Exception as e:   # data-dependent control flow, unsupported Python, ...
        if not any(pair <= kinds for pair in ({"conv", "bn"}, {"lrn", "pool"},
                                              {"up", "conv"})):
            return []   # a conv alone: only an F.interpolate pair was possible; say nothing
        ctx.report.skip(prefix.rstrip("."), f"{type(module).__name__}.forward",
                        f"not traceable by torch.fx ({type(e).__name__}: {str(e)[:120]}); "
                        "the chains among its calls stay unfused (layers are still swapped "
                        "one by one; chains inside its Sequentials are fused)")
        return []
    found = [match(module, view) for view in all_views]
    by_anchor = [{m.anchor.target: m for m in matches} for matches, _ in found]
    chosen: dict[str, tuple[View, Match]] = {}
    seen_misses = set()
    for view, (matches, misses) in zip(all_views, found, strict=True):
        for miss in misses:
            if _inside_a_block(view, miss.nodes):
                continue
            if (miss.path, miss.source) not in seen_misses and ctx.wants(prefix + miss.path):
                seen_misses.add((miss.path, miss.source))
                ctx.report.skip(prefix + miss.path, miss.source, miss.reason)
                ctx.explained[prefix + miss.other] = (f"not fused with {prefix + miss.path} "
                                                      "(that line says why)")
        for m in matches:
            target, nodes = m.anchor.target, (m.anchor,) + m.removed
            if target in chosen or not ctx.wants(prefix + target) or _inside_a_block(view, nodes):
                continue
            others = [b.get(target) for b in by_anchor]
            if all(o is not None and o.key() == m.key() for o in others) or (
                    _local(view, nodes) and all(o is None or o.key() == m.key() for o in others)):
                chosen[target] = (view, m)
            elif (prefix + target, m.kind) not in seen_misses:
                seen_misses.add((prefix + target, m.kind))
                ctx.report.skip(prefix + target, _source(module, m), "the forward differs "
                                "between train and eval mode around this chain")
    rewritten = False
    for view, by in zip(all_views, by_anchor, strict=True):
        for target in chosen:
            if target in by and view.graph is not None:
                rewritten |= _rewrite_forward(view, by[target])
        if view.graph is not None:
            view.graph.lint()
    for view, m in chosen.values():
        _replace_modules(module, prefix, view, m, ctx)
    if rewritten:
        bind_forward(module, {view.mode: view.graph for view in all_views})
    return [seq for view in all_views for seq in view.inlined]


def _source(root: torch.nn.Module, m: Match) -> str:
    if m.upsample is not None:
        return "interpolate -> Conv2d"
    if m.kind != "conv_bn":
        return {kind: source for kind, source in _PAIRS.values()}[m.kind]
    bn = root.get_submodule(m.removed[0].target)
    return (f"Conv2d -> {_bn_kind(bn)}" + (" -> +residual" if m.residual else "")
            + (" -> ReLU" if m.relu else ""))


def _rewrite_forward(view: View, m: Match) -> bool:
    """Remove the chain's calls from the module's own forward; the conv of a residual chain
    is called, with the residual, where the add was. Returns whether the graph changed."""
    graph, origin = view.graph, view.origin
    nodes = [origin[n] for n in m.removed if n in origin]
    passes_on = {node: 0 for node in nodes}   # the operand each removed call passes on
    if m.residual:
        conv, bn, add = (origin[n] for n in (m.anchor,) + m.removed[:2])
        passes_on[add] = add.args.index(bn)
        residual = add.args[1 - passes_on[add]]
        with graph.inserting_before(add):
            fused = graph.call_module(conv.target, conv.args + (residual,), dict(conv.kwargs))
        conv.replace_all_uses_with(fused)
        graph.erase_node(conv)
    for node in nodes:
        node.replace_all_uses_with(node.args[passes_on[node]])
        graph.erase_node(node)
    return bool(nodes) or m.residual


# ---- the modules that replace the chain's ---------------------------------------------------

def _replace_modules(root: torch.nn.Module, prefix: str, view: View, m: Match, ctx) -> None:
    first = root.get_submodule(m.anchor.target)
    second = m.upsample or root.get_submodule(m.removed[0].target)
    removed = []
    for node in m.removed:
        if node in view.owner and not isinstance(root.get_submodule(node.target), BATCH_NORMS):
            root.set_submodule(node.target, torch.nn.Identity())
            removed.append(f"{prefix + node.target} -> Identity")
        elif node.op == "call_module" and node in view.origin:
            removed.append(f"{prefix + node.target} call removed")
            ctx.absorbed.add(prefix + node.target)
        elif node.op == "call_function":
            removed.append(f"{node.target.__name__} call removed")
    if m.kind == "conv_bn":
        _fuse_conv_bn(root, prefix, m, ctx)
        return
    if m.kind == "upsample_conv":
        new, what = _resize_conv(second, first, ctx), f"mode={second.mode!r}"
    else:
        from ..nn import LRNMaxPool2d
        lrn, pool = (first, second) if m.kind == "lrn_pool" else (second, first)
        order = m.kind
        new, what = LRNMaxPool2d(lrn, pool, order, backend=ctx.backend), f"order={order!r}"
    root.set_submodule(m.anchor.target, new)
    ctx.report.add(prefix + m.anchor.target, _source(root, m),
                   f"{type(new).__name__} ({'; '.join([what] + removed)})", backend=ctx.backend)


def _resize_conv(up: torch.nn.Upsample, conv: torch.nn.Conv2d, ctx) -> torch.nn.Module:
    """A ResizeConv2d that never materializes the upsampled tensor, holding the conv's
    parameters (the same Parameters, under the same names: it is a Conv2d)."""
    from ..nn import ResizeConv2d
    scale = up.scale_factor[0] if isinstance(up.scale_factor, tuple) else up.scale_factor
    new = ResizeConv2d(conv.in_channels, conv.out_channels, conv.kernel_size, int(scale),
                       up.mode, conv.stride, conv.padding, conv.bias is not None,
                       align_corners=bool(up.align_corners), backend=ctx.backend,
                       device="meta")
    new.weight, new.bias = conv.weight, conv.bias
    return new.train(conv.training)


def _fuse_conv_bn(root: torch.nn.Module, prefix: str, m: Match, ctx) -> None:
    conv_name, bn_name = m.anchor.target, m.removed[0].target
    conv, bn = root.get_submodule(conv_name), root.get_submodule(bn_name)
    folded = folded_twin(bn, folded_into=prefix + conv_name)
    bn_parent, _, bn_attr = bn_name.rpartition(".")
    fused = FusedConv2d.from_modules(conv, folded, relu=m.relu, backend=ctx.backend,
                                     bn_name=prefix + bn_name,
                                     bn_slot=(root.get_submodule(bn_parent), bn_attr))
    root.set_submodule(conv_name, fused)
    root.set_submodule(bn_name, folded)
    ctx.report.add(prefix + conv_name, _source(root, m), f"FusedConv2d (+ "
                   f"{type(folded).__name__} at {prefix + bn_name})", reason=m.note,
                   backend=ctx.backend)
