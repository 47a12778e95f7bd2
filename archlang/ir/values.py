"""Run-time values of the language besides numbers, strings, lists and dicts.

A block or layer named without arguments is a `BlockRef`/`LayerRef`, so that
blocks can be passed to blocks (`stage(basic, 64, 2, 1)`). A function
(`let f(x) = ...`) is a `FuncRef`, with the scope it was defined in. An element written
where a value is expected (`conv_bn(64, 3)`, `conv -> relu`) becomes a
`Closure`: the element and its environment, elaborated where it is used, so
`in.channels` inside it sees the shape at that place.
"""

from __future__ import annotations

from dataclasses import dataclass

from archlang.syntax import ast


class Env:
    """Lexical scope: a block sees its parameters and lets, then the file's definitions."""

    __slots__ = ("vars", "parent")

    def __init__(self, vars: dict, parent: "Env | None" = None):
        self.vars, self.parent = vars, parent

    def lookup(self, name: str):
        env = self
        while env is not None:
            if name in env.vars:
                return env.vars[name]
            env = env.parent
        raise KeyError(name)

    def get(self, name: str, default=None):
        """`lookup` without the exception: elaboration asks for every layer name, which is rarely bound."""
        env = self
        while env is not None:
            vars = env.vars
            if name in vars:
                return vars[name]
            env = env.parent
        return default

    def names(self) -> set[str]:
        out, env = set(), self
        while env is not None:
            out |= set(env.vars)
            env = env.parent
        return out


@dataclass(frozen=True)
class BlockRef:
    defn: ast.BlockDef
    globals: Env


@dataclass(frozen=True)
class LayerRef:
    name: str


@dataclass(frozen=True, eq=False)
class FuncRef:
    defn: ast.FuncDef
    env: Env


@dataclass(frozen=True)
class Closure:
    node: ast.Node
    env: Env


def type_name(value) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a dict"
    if isinstance(value, BlockRef):
        return f"the block `{value.defn.name}`"
    if isinstance(value, LayerRef):
        return f"the layer `{value.name}`"
    if isinstance(value, FuncRef):
        return f"the function `{value.defn.name}`"
    return "a layer chain"


def show(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return f'"{value}"' if len(value) <= 60 else f'"{value[:50]}..." ({len(value):,} characters)'
    if isinstance(value, list):
        return "[" + ", ".join(show(v) for v in value[:8]) + (", ..." if len(value) > 8 else "") + "]"
    return type_name(value)


def spec_text(value) -> str | None:
    """`value` written as spec text that evaluates to it, or None where a spec cannot write it."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        text = repr(value)
        return text if "inf" not in text and "nan" not in text else None
    if isinstance(value, str):
        return next((f"{q}{value}{q}" for q in "\"'" if q not in value and "\n" not in value), None)
    if isinstance(value, LayerRef):
        return value.name
    if isinstance(value, (BlockRef, FuncRef)):
        return value.defn.name
    if isinstance(value, (list, dict)):
        pairs = value.items() if isinstance(value, dict) else ((None, v) for v in value)
        parts = []
        for key, item in pairs:
            texts = [spec_text(item)] if key is None else [spec_text(key), spec_text(item)]
            if None in texts:
                return None
            parts.append(": ".join(texts))
        return ("[%s]" if isinstance(value, list) else "{%s}") % ", ".join(parts)
    return None
