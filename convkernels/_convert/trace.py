"""The call graph convert() matches chains on, and the forward it writes back.

A module's ``forward`` is traced with torch.fx, every child a leaf. Then the calls of its
children are inlined: a plain ``Sequential`` (torch's own forward) recursively, a child with
its own forward (a custom block) one level deep, each only where it is called once. The
*flat* graph shows a chain that a custom forward continues across ``self.features(x)`` and
``self.bn(x)``, a chain split across nested Sequentials, or one that starts inside a block
(timm's ``SeparableConv2d`` ends with its pointwise conv) and ends in the Sequential that
calls it. Each flat node remembers where it lives:

* ``origin[node]``: the node of the module's own (one-level) graph it copies; such a call can
  be rewritten by regenerating that forward;
* ``owner[node]``: the path of the Sequential or block that calls it; such a call can only be
  changed through the module in its slot (a fused module, a folded BatchNorm, an
  ``Identity``); a block's other operations (``custom``) cannot be changed at all.

The forward convert() writes back is generated from the one-level graph, so it still calls
``self.features``: hooks on the children keep firing and no module is bypassed. A block's own
chains are left to its own pass, when the walk reaches it.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from typing import Optional

import torch
import torch.fx as fx
from torch.fx.graph_module import _format_import_block, _forward_from_src
from torch.package import sys_importer

from .swaps import is_ours, own_forward


def is_plain_sequential(module: torch.nn.Module) -> bool:
    return own_forward(module, torch.nn.Sequential)


class _OneLevelTracer(fx.Tracer):
    """Every child module is a leaf: the graph shows this module's own forward only."""

    def is_leaf_module(self, m: torch.nn.Module, qualname: str) -> bool:
        return True


@dataclass
class View:
    """One flat graph of a module, for one ``self.training`` value (None: both modes)."""
    mode: Optional[bool]
    graph: Optional[fx.Graph]          # the one-level graph (None when the module is a Sequential)
    flat: fx.Graph
    origin: dict = field(default_factory=dict)    # flat node -> node of ``graph``
    owner: dict = field(default_factory=dict)     # flat node -> path of the module calling it
    custom: set = field(default_factory=set)      # flat nodes from a child's own forward
    inlined: list = field(default_factory=list)   # the Sequentials inlined, as modules

    def calls(self, target: str) -> int:
        return sum(1 for n in self.flat.nodes if n.op == "call_module" and n.target == target)


def _trace(module: torch.nn.Module, training: bool) -> fx.Graph:
    saved = module.training
    module.training = training   # this forward's own `if self.training` branches
    try:
        return _OneLevelTracer().trace(module)
    finally:
        module.training = saved


def views(module: torch.nn.Module) -> list[View]:
    """The flat graph(s) of ``module``: one for a plain Sequential (no trace needed), else
    one per ``self.training`` value, or one when the forward does not branch on it. Raises
    what torch.fx raises for a forward it cannot trace."""
    if is_plain_sequential(module):
        view = View(None, None, fx.Graph())
        value = view.flat.placeholder("input")
        view.flat.output(_inline(view, module, "", value))
        return [view]
    graphs = {mode: _trace(module, mode) for mode in (True, False)}
    if graphs[True].python_code("self").src == graphs[False].python_code("self").src:
        graphs = {None: graphs[True]}
    return [_flatten(module, mode, graph) for mode, graph in graphs.items()]


def _flatten(root: torch.nn.Module, mode: Optional[bool], graph: fx.Graph) -> View:
    view = View(mode, graph, fx.Graph())
    calls: dict[str, int] = {}
    for node in graph.nodes:
        if node.op == "call_module":
            calls[node.target] = calls.get(node.target, 0) + 1
    env: dict[fx.Node, fx.Node] = {}
    for node in graph.nodes:
        value = None
        # A child called twice (weights shared between two places) stays a leaf: its own
        # chains are fused when the walk reaches it, which is right for both calls.
        if node.op == "call_module" and calls[node.target] == 1 and not node.kwargs:
            value = _inline_call(view, root.get_submodule(node.target), node.target,
                                 [env[a] if isinstance(a, fx.Node) else a for a in node.args])
        if value is None:
            value = view.flat.node_copy(node, lambda n: env[n])
            view.origin[value] = node
        env[node] = value
    return view


def _inline_call(view: View, module: torch.nn.Module, path: str, args: list):
    """The flat value of ``module(*args)`` with its calls inlined (None: keep it a leaf)."""
    if not all(isinstance(a, fx.Node) for a in args):
        return None
    if is_plain_sequential(module):
        return _inline(view, module, path, args[0]) if len(module) and len(args) == 1 else None
    graph = _custom_graph(module, view.mode)
    return None if graph is None else _inline_custom(view, graph, path, args)


def _inline(view: View, seq: torch.nn.Sequential, path: str, value: fx.Node) -> fx.Node:
    view.inlined.append(seq)
    for name, child in seq._modules.items():
        child_path = f"{path}.{name}" if path else name
        inlined = _inline_call(view, child, child_path, [value])
        if inlined is None:
            inlined = view.flat.call_module(child_path, (value,))
            view.owner[inlined] = path
        value = inlined
    return value


def _custom_graph(module: torch.nn.Module, mode: Optional[bool]) -> Optional[fx.Graph]:
    """The one-level graph of a child with its own forward (not torch's, not ours), when it
    can be inlined: traceable, and the same in both modes if the caller's graph is."""
    if (is_ours(module) or type(module).__module__.startswith("torch.")
            or isinstance(module, (torch.nn.ModuleList, torch.nn.ModuleDict))):
        return None
    try:
        graphs = [_trace(module, m) for m in ((True, False) if mode is None else (mode,))]
    except Exception:   # stays a leaf; its own pass reports why it cannot be traced
        return None
    return graphs[0] if len({g.python_code("self").src for g in graphs}) == 1 else None


def _inline_custom(view: View, graph: fx.Graph, path: str, args: list) -> Optional[fx.Node]:
    """Copy a child's one-level graph in place of its call. Its calls belong to the child
    (``owner``; ``custom``): convert() may replace the modules they call, never edit them."""
    placeholders = [n for n in graph.nodes if n.op == "placeholder"]
    (output,) = [n for n in graph.nodes if n.op == "output"]
    if (len(placeholders) != len(args) or any(p.target.startswith("*") for p in placeholders)
            or not isinstance(output.args[0], fx.Node)):
        return None
    env = dict(zip(placeholders, args, strict=True))
    for node in graph.nodes:
        if node.op in ("placeholder", "output"):
            continue
        new = view.flat.node_copy(node, lambda n: env[n])
        if node.op in ("call_module", "get_attr"):
            new.target = f"{path}.{node.target}"
        view.owner[new] = path
        view.custom.add(new)
        env[node] = new
    return env[output.args[0]]


# ---- the forward written back --------------------------------------------------------------

class TracedForward:
    """The forward convert() generated for one module instance from its FX graph(s): one, or
    one per ``self.training`` value. Stored in the instance's ``forward`` attribute.

    It keeps the generated source, not a bound method: ``torch.save``/``pickle`` and
    ``copy.deepcopy`` would turn a bound method into a lookup of ``forward`` on the restored
    object and silently run the class's own forward. This object pickles as its source
    (globals as import statements, as ``fx.GraphModule`` does) and recompiles on load; a
    global that cannot be imported makes pickling fail loudly."""

    def __init__(self, module: torch.nn.Module, graphs: dict):
        self.module = module
        self._sources = {}
        for mode, graph in graphs.items():
            code = graph.python_code("self")
            self._sources[mode] = (code.src, code.globals)
        self._compile()

    def _compile(self) -> None:
        self._functions = {mode: _forward_from_src(src, dict(scope))
                           for mode, (src, scope) in self._sources.items()}
        some = next(iter(self._functions.values()))
        params = list(inspect.signature(some).parameters.values())[1:]   # without self
        self.__signature__ = inspect.Signature(params)

    def _current(self):
        fns = self._functions
        return fns[None] if None in fns else fns[bool(self.module.training)]

    def __call__(self, *args, **kwargs):
        return self._current()(self.module, *args, **kwargs)

    @property
    def __code__(self):
        """The generated function's code object (torch.export reads ``forward.__code__``)."""
        return self._current().__code__

    def __getstate__(self):
        return {"module": self.module,
                "sources": {mode: (src, _format_import_block(scope, sys_importer))
                            for mode, (src, scope) in self._sources.items()}}

    def __setstate__(self, state):
        self.module = state["module"]
        self._sources = {}
        for mode, (src, imports) in state["sources"].items():
            scope: dict = {}
            exec(compile(imports, "<convkernels traced forward imports>", "exec"), scope)
            self._sources[mode] = (src, scope)
        self._compile()

    def __repr__(self) -> str:
        return f"<forward generated by convkernels.convert for {type(self.module).__name__}>"


def bind_forward(module: torch.nn.Module, graphs: dict) -> None:
    """Give ``module`` (this instance only) the forward generated from its graph(s)."""
    for graph in graphs.values():
        gm = fx.GraphModule(module, graph, class_name=type(module).__name__)
        for node in graph.nodes:   # constants the trace lifted onto the GraphModule
            if node.op == "get_attr" and not _has_path(module, node.target):
                setattr(module, node.target, getattr(gm, node.target))
    module.forward = TracedForward(module, graphs)


def _has_path(module: torch.nn.Module, target: str) -> bool:
    try:
        obj = module
        for part in target.split("."):
            obj = getattr(obj, part)
        return True
    except AttributeError:
        return False
