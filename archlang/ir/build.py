"""Choosing the network, resolving its parameters (defaults, aliases, `--set`),
and running elaboration and naming on it.
"""

from __future__ import annotations

import math

from archlang.errors import ArchError, Span, did_you_mean
from archlang.ir.elaborate import Elaborator, Limits
from archlang.ir.evaluate import MAX_LIST, MAX_VALUE, Evaluator, Overflow
from archlang.ir.graph import Scope, assign_names, check_module_names
from archlang.ir.loader import Program
from archlang.ir.values import Env, show, type_name
from archlang.syntax import ast
from archlang.syntax.parser import HOSTILE, parse_value


def pick_network(program: Program, name: str | None, ev: Evaluator | None = None) -> tuple[str, ast.NetworkDef, dict]:
    """The name asked for (by name, else the last network in the file), the definition
    that builds it (through aliases) and the aliases' bindings (evaluated by `ev`, whose
    step count bounds the work; a fresh one by default)."""
    ev = ev or Evaluator(program.blocks)
    if name is None:
        if not program.own_networks:
            raise ArchError("E205", f"{program.file} defines no network", Span(program.file, 1, 1, 1, 1),
                            hint="add `network Name(...):` followed by `input(...) -> ...`; blocks alone "
                                 "are a library to import")
        name = program.own_networks[-1]
    if name not in program.networks:
        raise ArchError("E206", f"no network `{name}` in {program.file}", None,
                        hint=did_you_mean(name, program.networks, "its networks are"))
    bindings: dict = {}
    node, seen = program.networks[name], set()
    while isinstance(node, ast.NetworkAlias):
        if node.name in seen:
            raise ArchError("E603", f"network `{node.name}` is defined in terms of itself", node.span)
        seen.add(node.name)
        base = program.networks.get(node.base)
        if base is None:
            raise ArchError("E206", f"unknown network `{node.base}`", node.span,
                            hint=did_you_mean(node.base, program.networks, "known networks are"))
        given = set()
        for arg in node.args:
            if not arg.name:
                raise ArchError("E302", "bind network parameters by name, like `VGG(depth = 16)`", arg.span)
            if arg.name in given:
                raise ArchError("E305", f"parameter `{arg.name}` of `{node.base}` given twice", arg.span)
            given.add(arg.name)
            bindings.setdefault(arg.name, (ev.eval(arg.value, program.globals, None), arg.span))
        node = base
    return name, node, bindings


def coerce(name: str, value, default, span: Span | None, text: bool = False):
    """Check a value against the parameter's default type. Only `text` from the command line
    (`--set NAME=TEXT`) is parsed: a string in a spec stays a string."""
    if text and isinstance(value, str) and not isinstance(default, str):
        text = value
        try:
            value = Elaborator({}, {}, Limits()).eval(parse_value(text, f"--set {name}"), Env({}), None)
        except ArchError:
            raise ArchError("E309", f"--set {name}={text}: not a value; {name} is {type_name(default)}", None,
                            hint=f"e.g. --set {name}={show(default)}") from None
    value = _plain(name, value, span, [MAX_LIST])
    if default is None:
        return value
    ok = (type(value) is type(default) or
          isinstance(default, float) and isinstance(value, int) and not isinstance(value, bool))
    if not ok:
        raise ArchError("E309", f"parameter `{name}` is {type_name(default)} (default {show(default)}), "
                                f"but was given {type_name(value)} ({show(value)})", span,
                        hint=f"e.g. --set {name}={show(default)}")
    return float(value) if isinstance(default, float) else value


def _plain(name: str, value, span, budget: list):
    """A value given from Python, held to what a spec can write: numbers finite and at most 10^15,
    lists (a tuple becomes one) and dicts of at most MAX_LIST items in all."""
    budget[0] -= 1
    if budget[0] < 0:
        raise ArchError("E309", f"parameter `{name}` was given a list of more than {MAX_LIST:,} items", span)
    if isinstance(value, str) and HOSTILE.search(value):
        raise ArchError("E309", f"parameter `{name}` was given a string with the control character "
                                f"{HOSTILE.search(value).group()!r}", span, hint="strings hold printable text only")
    if isinstance(value, (list, tuple)):
        return [_plain(name, v, span, budget) for v in value]
    if isinstance(value, dict):
        return {k: _plain(name, v, span, budget) for k, v in value.items()}
    if isinstance(value, (int, float)) and not isinstance(value, bool) and \
            not (math.isfinite(value) and abs(value) <= MAX_VALUE):
        raise ArchError("E309", f"parameter `{name}` was given {value!r:.30}: numbers in a spec are finite and "
                                f"at most {MAX_VALUE:.0e}", span)
    return value


def resolve_params(program: Program, net: ast.NetworkDef, bindings: dict, overrides: dict,
                   ev: Evaluator | None = None) -> tuple[dict, dict]:
    """Returns (parameters, switches). `overrides`: name -> (value, whether it is --set text)."""
    ev = ev or Evaluator(program.blocks)
    names = [p.name for p in net.params]
    known = set(names) | program.switches
    for key in list(overrides) + list(bindings):
        if key not in known:
            span = bindings[key][1] if key in bindings and key not in overrides else None
            raise ArchError("E204", f"network `{net.name}` has no parameter `{key}`", span,
                            hint=did_you_mean(key, known, "its parameters are") or
                            f"`{net.name}` takes no parameters")
    params: dict = {}
    scope = Env(params, program.globals)  # one scope that grows: linear in the number of parameters
    for p in net.params:
        default = ev.eval(p.default, scope, None) if p.default else None
        if p.name in overrides:
            params[p.name] = coerce(p.name, overrides[p.name][0], default, None, text=overrides[p.name][1])
        elif p.name in bindings:
            params[p.name] = coerce(p.name, bindings[p.name][0], default, bindings[p.name][1])
        elif default is None:
            raise ArchError("E304", f"network `{net.name}` needs a value for `{p.name}`", p.span,
                            hint=f"give it a default here, or --set {p.name}=...")
        else:
            params[p.name] = default
    switches = {}
    for name in program.switches:
        if name in params:
            switches[name] = params[name]
        elif name in overrides or name in bindings:
            if name in overrides:
                switches[name] = coerce(name, overrides[name][0], True, None, text=overrides[name][1])
            else:
                switches[name] = coerce(name, bindings[name][0], True, bindings[name][1])
    return params, switches


def build(program: Program, network: str | None, texts: dict, values: dict, input_shape, limits: Limits):
    """`texts` are --set NAME=TEXT (parsed as values), `values` Python values of parameters."""
    # One elaborator from the file's values to the last layer: one count of the work done.
    overrides = {**{k: (v, True) for k, v in texts.items()}, **{k: (v, False) for k, v in values.items()}}
    elab = Elaborator(program.blocks, {}, limits, input_shape)
    net = None
    try:
        for let in program.lets:
            elab.define(let, program.globals, None)
        name, net, bindings = pick_network(program, network, elab)
        params, switches = resolve_params(program, net, bindings, overrides, elab)
        elab.switches = switches
        env = Env(dict(params), program.globals)
        for let in net.lets:
            elab.define(let, env, None)
        root = Scope("network", net.name, net.span, name="", path="")
        output = elab.network(net.body, env, root)
    except Overflow as o:  # calls nest deeper than Python's stack allows before a limit is met
        span, trace = o.args
        raise ArchError("E604", "calls nest too deeply to elaborate", span, trace=trace,
                        hint="bind inner parts with `let`, or flatten blocks and functions that only call "
                             "others") from None
    except RecursionError:  # deeply nested bodies without calls: rare, but not a crash
        raise ArchError("E604", "the network nests too deeply to elaborate", getattr(net, "span", None),
                        hint="bind inner parts with `let`, or flatten blocks that only call other blocks") from None
    if elab.nodes[0].layer.name != "input":
        raise ArchError("E404", "the network must start with `input(...)`", net.body.span)
    assign_names(root)
    check_module_names(root)
    return name, net, params, switches, elab, root, output
