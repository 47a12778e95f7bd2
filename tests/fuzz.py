"""Fuzzing archlang: every input must end as a valid graph or a spanned error.

Three sources of inputs:

- a **grammar-aware generator** (`SpecGen`): random but mostly plausible specs
  built from the grammar and the layer registry: networks with parameters,
  lets, chains of layers with random arguments, repeats, `?` switches and
  conditions, `if`/`else`, add/concat/mul branches, labels, blocks calling
  blocks, aliases, with random layout (line breaks, comments, tabs, CRLF);
- a **mutation fuzzer** (`mutate`): the specs in `specs/*.arch`, with tokens
  deleted, duplicated or inserted, numbers swapped for 0, -1, huge values,
  NaN and strings, lines dropped or repeated, bytes that are not UTF-8, ...;
- a **hostile-file family** (tests/fuzz_hostile.py): imports of special files
  (a FIFO, /dev/zero, symbolic-link loops, huge files, import chains), bombs
  (calls that multiply, recursions without end, big lists and ranges), and
  hostile text (control characters, escapes, quotes) in every place text goes.

A case passes when `archlang.load` returns a network (whose `summary()`,
`to_dict()` and `repr` then work) or raises an `ArchError` with a known code,
a span and a message that formats; every tenth case also runs `archlang check`
in-process, which must exit 0 or 1 with `error[E...]` and no traceback. Anything
else is a crash; a case over the time limit (CPU seconds, so that a busy machine
does not fail a case) is a hang. Elaboration's own work limit (`--max-steps`,
counted steps) bounds each case.

    python -m tests.fuzz --cases 5000 [--seed S] [--jobs 2] [--time-limit 5] [--max-steps N]
    python -m tests.fuzz --seed S --case 1234 --show     # rerun one case, print its input

Cases run in worker processes, so a case that hangs (even inside C code) is
killed and reported rather than stopping the run. Case `i` of seed `S` is
always the same input. The exit status is non-zero on any crash or hang.
The in-suite part (tests/test_fuzz.py) drives the same generator from
hypothesis.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import multiprocessing
import os
import random
import re
import shutil
import signal
import sys
import tempfile
import time
import traceback
from collections import Counter
from dataclasses import dataclass, field
from multiprocessing.connection import wait
from pathlib import Path

try:
    from tests import fuzz_hostile
except ImportError:  # run with tests/ itself on sys.path
    import fuzz_hostile

ROOT = Path(__file__).resolve().parents[1]
SPECS = sorted((ROOT / "specs").glob("*.arch"))
MAX_STEPS = 200_000  # elaboration steps of one case (archlang's default is 2,000,000)

# ---------------------------------------------------------------------------
# the grammar-aware generator


def _registry():
    from archlang.layers import REGISTRY

    canonical = sorted({cls.name: cls for cls in REGISTRY.values()}.items())
    return dict(canonical), {alias: cls.name for alias, cls in REGISTRY.items()}


# Layers that keep a C×H×W map a C×H×W map, and layers for vectors; a layer this
# table does not know (a new one in the registry) is drawn now and then anywhere.
MAP_LAYERS = {"conv": 8, "bn": 3, "relu": 4, "maxpool": 2, "avgpool": 1, "lrn": 1, "relu6": 1, "sigmoid": 1,
              "tanh": 1, "silu": 1, "hardswish": 1, "hardsigmoid": 1, "leaky_relu": 1, "elu": 1, "gelu": 1,
              "dropout": 1, "identity": 1, "channel_shuffle": 1, "chunk": 1, "adaptive_avgpool": 1,
              "adaptive_maxpool": 1, "softmax": 0.3, "log_softmax": 0.3}
TO_VECTOR = {"flatten": 2, "global_avgpool": 2, "global_maxpool": 1}
VECTOR_LAYERS = {"fc": 6, "relu": 3, "dropout": 2, "bn": 1, "sigmoid": 1, "tanh": 1, "softmax": 0.5,
                 "log_softmax": 0.5, "identity": 0.5, "gelu": 0.5}

# Odd values for any argument or count: the limits and type checks must catch them.
EVIL_VALUES = ["0", "-1", "1000000000000000", "999999999999999999999", "1e15", "1e308", "1e999", "2 ** 100",
               "10 ** 15 * 10", "0.5", "-0.0", "1e-300", "NaN", "inf", '"x"', '""', "true", "false", "[]",
               "[1, 2, 3]", "[[1]]", "{1: 2}", "{}", "in.shape", "relu", "conv(3)", "1 / 0", "2 ** -1",
               "(-8) ** 0.5", "len([])", "[0] * 1000000", "-(10 ** 15)", "min([])", "in.features", "in.q",
               "1e15 ** 64", "0.5 ** -5000", '"x" * 1000000', "[[0] * 1000] * 1000", "{1: 2, 'a': 3}", "x",
               "sum([1e15, 1e15])", "int(1e15) * 2", "max(in.shape)", "in.shape[5]", "[1, 2][true]", "[conv(3)]",
               "[relu, 1]", "{1: relu -> relu}", "{1: 2}[[1]]", "{1: 2}[relu]", "[in.c] * 2", "(1, 2)"]


class SpecGen:
    """Builds one random spec from `rng` (a `random.Random`, or hypothesis's `randoms()`)."""

    def __init__(self, rng: random.Random, evil: float = 0.04):
        self.rng = rng
        self.evil = evil
        self.layers, _ = _registry()
        self.blocks: list[tuple[str, list[str]]] = []  # name, parameter names
        self.networks: list[tuple[str, dict]] = []
        self.labels = 0

    # ---- small helpers
    def roll(self) -> float:
        """A number in (0, 1]. Decisions take their rare branch for small rolls; hypothesis draws
        (and shrinks towards) 0.0 for a simplest random(), so 1 - random() makes the simplest
        spec the plain one, and a failing spec shrinks towards plain layers."""
        return 1.0 - self.rng.random()

    def chance(self, p: float) -> bool:
        return self.roll() <= p

    def pick(self, weights: dict):
        names = [n for n in weights if n in self.layers]  # (a table entry the registry lost: skipped)
        return self.rng.choices(names, [weights[n] for n in names])[0]

    def label(self) -> str:
        self.labels += 1
        return self.rng.choice(["stem", "body", "head", "main", "skip", "stage", "extra", "proj"]) + (
            "" if self.chance(0.3) else str(self.labels))

    # ---- values
    def int_expr(self, scope: dict, lo: int = 1, hi: int = 64) -> str:
        if self.chance(self.evil):
            return self.rng.choice(EVIL_VALUES)
        ints = [n for n, kind in scope.items() if kind == "int"]
        r = self.roll()
        if ints and r < 0.3:
            name = self.rng.choice(ints)
            return self.rng.choice([name, f"{name} * 2", f"max({name}, 1)", f"{name} // 2 + 1", f"({name} + 1)"])
        if r < 0.4 and scope.get("$map"):
            return self.rng.choice(["in.c", "in.channels", "in.c * 2", "max(in.c // 4, 1)"])
        if r < 0.45 and any(kind == "list" for kind in scope.values()):
            name = self.rng.choice([n for n, kind in scope.items() if kind == "list"])
            return self.rng.choice([f"{name}[0]", f"{name}[-1]", f"len({name})", f"max({name})", f"sum({name})"])
        if r < 0.5:
            return self.rng.choice(["2 ** 3", "min(16, 32)", "3 * 4", "int(7.9)", "round(2.5)", "abs(-4)",
                                    "16 if true else 8"])
        return str(self.rng.randint(lo, hi))

    def bool_expr(self, scope: dict) -> str:
        if self.chance(self.evil):
            return self.rng.choice(EVIL_VALUES)
        bools = [n for n, kind in scope.items() if kind == "bool"]
        ints = [n for n, kind in scope.items() if kind == "int"]
        r = self.roll()
        if bools and r < 0.35:
            name = self.rng.choice(bools)
            return self.rng.choice([name, f"not {name}"])
        if ints and r < 0.7:
            name = self.rng.choice(ints)
            op = self.rng.choice(["<", "<=", "==", "!=", ">", ">="])
            return f"{name} {op} {self.rng.randint(0, 4)}" + (f" and {name} >= 0" if self.chance(0.2) else "")
        if r < 0.8 and "$map" in scope:
            return self.rng.choice(["in.c != 8", "in.h >= 4", "in.w > 2 or in.c == 1", "0 <= in.c < 100"])
        return self.rng.choice(["true", "false", "TRUE", "not false", "1 < 2"])

    def default(self) -> tuple[str, str]:
        """A parameter default and its kind."""
        r = self.roll()
        if r > 0.45:
            return str(self.rng.choice([1, 2, 3, 4, 8, 16, 32, 64])), "int"
        if r > 0.25:
            return self.rng.choice(["true", "false"]), "bool"
        if r > 0.1:
            return "[" + ", ".join(str(self.rng.randint(1, 4)) for _ in range(self.rng.randint(1, 4))) + "]", "list"
        if r > 0.03:
            return self.rng.choice(["0.5", "1e-3", "2.0"]), "float"
        return self.rng.choice(["relu", "(conv(8) -> relu)", "identity", "b0"]), "chain"  # a layer as a value

    def arg_value(self, field: str, default, scope: dict) -> str:
        """A plausible value for a layer argument, by its name, else by its default's type."""
        rng = self.rng
        if self.chance(self.evil):
            return rng.choice(EVIL_VALUES)
        table = {
            "out_channels": lambda: self.int_expr(scope, 1, 64), "channels": lambda: self.int_expr(scope, 1, 8),
            "out_features": lambda: self.int_expr(scope, 1, 100),
            "kernel_size": lambda: rng.choice(["1", "2", "3", "3", "5", "7", "[3, 1]", "[1, 3]"]),
            "stride": lambda: rng.choice(["1", "1", "2", "[2, 1]"]),
            "padding": lambda: rng.choice(["0", "1", "2", '"same"', '"valid"', "[1, 0]", "k // 2"
                                           if "k" in scope else "1"]),
            "dilation": lambda: rng.choice(["1", "2"]), "groups": lambda: rng.choice(["1", "2", "4", "in.c"]),
            "chunks": lambda: rng.choice(["2", "2", "4"]), "index": lambda: rng.choice(["0", "1"]),
            "output_size": lambda: rng.choice(["1", "2", "7", "[2, 3]"]),
            "p": lambda: rng.choice(["0.0", "0.1", "0.5", "1"]), "dim": lambda: rng.choice(["1", "-1", "0"]),
            "approximate": lambda: rng.choice(['"none"', '"tanh"', '"exact"']),
            "eps": lambda: rng.choice(["1e-5", "0.001"]), "momentum": lambda: rng.choice(["0.1", "0.9"]),
            "height": lambda: str(rng.choice([8, 16, 28, 32])), "width": lambda: str(rng.choice([8, 16, 28, 32])),
        }
        if field in table:
            return table[field]()
        if isinstance(default, bool):
            return rng.choice(["true", "false"])
        if isinstance(default, float):
            return rng.choice(["0.1", "1.0", "0.75", "2", "1e-4"])
        if isinstance(default, int):
            return self.int_expr(scope, 1, 8)
        if isinstance(default, str):
            return f'"{default}"'
        return self.int_expr(scope, 1, 16)

    def layer_call(self, name: str, scope: dict) -> str:
        cls = self.layers.get(name)
        if cls is None:  # a name from the tables that the registry lacks
            return name
        fields = cls.Args.model_fields
        required = [f for f, info in fields.items() if info.is_required()]
        optional = [f for f in fields if f not in required]
        chosen = list(required)
        if self.chance(0.08) and required:  # a missing argument
            chosen.pop(self.rng.randrange(len(chosen)))
        chosen += [f for f in optional if self.chance(0.3)]
        if self.chance(0.03):
            chosen.append(self.rng.choice(["bogus", "kernal", "strides", "out"]))
        if not chosen and not self.chance(0.4):
            return name.upper() if self.chance(0.2) else name
        order = list(fields)
        positional = True
        parts = []
        for f in sorted(chosen, key=lambda f: order.index(f) if f in order else len(order)):
            info = fields.get(f)
            value = self.arg_value(f, None if info is None or info.is_required() else info.default, scope)
            # positional while no argument was skipped (now and then one is: a shifted argument)
            in_place = f in order and (order.index(f) == len(parts) or self.chance(0.03))
            positional = positional and in_place and not self.chance(0.3)
            if positional:
                parts.append(value)
            else:
                alias = [a for a, target in cls.arg_aliases.items() if target == f]
                key = self.rng.choice(alias) if alias and self.chance(0.3) else f
                parts.append(f"{key} = {value}")
        return f"{name}({', '.join(parts)})"

    # ---- elements and chains, following the grammar: a label may start an element of a chain
    # (not the first of an argument's chain), a group `[label: ...]` or a branch `label: ...`.
    def base(self, scope: dict, depth: int, phase: str) -> str:
        """An element without label or `?`: a layer, block call, group, repeat, merge, name."""
        rng = self.rng
        r = self.roll()
        inner = dict(scope, **{"$map": phase == "map"})
        if depth < 3 and r < 0.14:  # a group, repeated
            count = rng.choice(["0", "1", "2", "3", "2", "N"]) if "N" in scope else str(rng.randint(0, 3))
            if self.chance(0.03):
                count = rng.choice(["1000001", "-1", "1.5", "true", '"2"', "100000", "N * 1000"])
            index = self.chance(0.4)
            body_scope = dict(inner, i="int") if index else inner
            label = f"{self.label()}: " if self.chance(0.15) else ""
            body = self.chain(body_scope, depth + 1, phase, rng.randint(1, 3), top=not label)
            return f"[{label}{body}] * {count}" + (" as i" if index else "")
        if depth < 3 and r < 0.22 and phase == "map":
            return self.merge(inner, depth)
        if r < 0.28 and self.blocks and phase == "map":
            name, params = rng.choice(self.blocks)
            return self.block_call(name, params, inner)
        if depth < 3 and r < 0.31:
            return f"({self.chain(scope, depth + 1, phase, rng.randint(1, 2), top=False)})"
        if depth < 3 and r < 0.33:
            return f"[{self.chain(scope, depth + 1, phase, rng.randint(1, 2), top=True)}]"
        if r < 0.36:
            return f"{self.layer(inner, phase)} * {rng.randint(0, 3)}"
        lets = [n for n, kind in scope.items() if kind == "chain"]
        if lets and r < 0.4:
            return rng.choice(lets)
        return self.layer(inner, phase)

    def option(self, scope: dict, depth: int, phase: str) -> str:
        """An element with its `?` switch, `? condition` or `if`/`else`."""
        item = self.base(scope, depth, phase)
        cond = dict(scope, **{"$map": phase == "map"})
        r = self.roll()
        if r < 0.08:
            return f"{item}?"
        if r < 0.16:
            return f"{item} ? {self.bool_expr(cond)}"
        if depth < 3 and r < 0.2:
            return f"{item} if {self.bool_expr(cond)} else {self.base(scope, depth + 1, phase)}"
        return item

    def layer(self, scope: dict, phase: str) -> str:
        if self.chance(0.02):  # a layer the registry holds that the tables do not
            return self.layer_call(self.rng.choice(sorted(self.layers)), scope)
        if self.chance(0.01):
            return self.rng.choice(["cnov(8)", "input(3, 8, 8)", "relu(1)", "3", '"relu"', "in.c", "[]",
                                    "fc(10)(3)", "add()", "pool(2, 2, 2, 2, 2)"])
        return self.layer_call(self.pick(MAP_LAYERS if phase == "map" else VECTOR_LAYERS), scope)

    def chain(self, scope: dict, depth: int, phase: str, length: int, top: bool) -> str:
        """`top`: a chain of a body or group, whose first element may carry a label."""
        items = []
        for k in range(length):
            item = self.option(scope, depth, phase)
            if (top or k > 0) and self.chance(0.08):
                item = f"{self.label()}: {item}"
            items.append(item)
        return self.join(items)

    def join(self, items: list[str]) -> str:
        out = items[0]
        for item in items[1:]:
            sep = self.rng.choices([" -> ", "\n        -> ", " ->\n        "], [6, 2, 1])[0]
            out += sep + item
        return out

    def merge(self, scope: dict, depth: int) -> str:
        rng = self.rng
        kind = rng.choice(["add", "add", "concat", "concat", "mul", "cat"])
        if kind == "mul" and not self.chance(0.3):  # squeeze-and-excitation: C×H×W times C×1×1
            return "mul(identity, global_avgpool -> sigmoid)" if not self.chance(0.5) else \
                "mul(identity, global_avgpool -> conv(in.c, 1) -> sigmoid)"
        branches = []
        for _ in range(rng.randint(1, 3)):
            if kind in ("add", "mul") and self.chance(0.4):
                body = rng.choice(["identity", "relu", "bn", "conv(in.c, 3) -> bn", "conv(in.c, 1)"])
            else:
                body = self.chain(scope, depth + 1, "map", rng.randint(1, 3), top=False)
            label = f"{self.label()}: " if self.chance(0.3) else ""
            branches.append(label + body)
        return f"{kind}({', '.join(branches)})"

    def block_call(self, name: str, params: list[str], scope: dict) -> str:
        args = [self.int_expr(scope, 1, 32) for _ in params[:1]]
        if self.chance(0.3) and len(params) > 1:
            args.append(f"{params[1]} = {self.int_expr(scope, 1, 3)}")
        if self.chance(0.03):
            args.append(self.rng.choice(["1", "bogus = 2", "s: relu"]))
        return f"{name}({', '.join(args)})"

    # ---- definitions
    def block(self, index: int) -> str:
        rng = self.rng
        name = rng.choice(["unit", "conv_bn", "stage"]) + str(index) if self.chance(0.1) else f"b{index}"
        params = ["c"]
        extra = rng.sample(["k = 3", "stride = 1", "n = 2", "flag = true"], rng.randint(0, 2))
        params += extra
        scope = {"c": "int", "$map": True}
        for p in extra:
            pname, value = (s.strip() for s in p.split("="))
            scope[pname] = "bool" if value == "true" else "int"
        lets = []
        if self.chance(0.3):
            lets.append(f"    let half = max(c // 2, 1)")
            scope["half"] = "int"
        if self.chance(0.15):
            lets.append(f"    let body = {self.chain(dict(scope), 1, 'map', 2, top=False)}")
            scope["body"] = "chain"
        if self.chance(0.02):  # a block calling itself
            self.blocks.append((name, ["c"]))
        body = self.chain(scope, 1, "map", rng.randint(1, 3), top=True)
        if not any(n == name for n, _ in self.blocks):
            self.blocks.append((name, [p.split("=")[0].strip() for p in params]))
        head = f"block {name}({', '.join(params)}) ="
        return "\n".join([head, *lets, "    " + body])

    def network(self, index: int) -> str:
        rng = self.rng
        name = rng.choice(["ResNet", "VGG", "Tiny", "N"]) if self.chance(0.2) else f"Net{index}"
        params, scope = [], {}
        for pname in rng.sample(["width", "N", "depth", "classes", "use_bn", "pool", "sizes", "rate"],
                                rng.randint(0, 4)):
            value, kind = self.default()
            if pname == "N":
                value, kind = str(rng.randint(0, 3)), "int"
            params.append(f"{pname} = {value}")
            scope[pname] = kind
        head = f"network {name}" + (f"({', '.join(params)})" if params or not self.chance(0.5) else "") + ":"
        lets = []
        for lname in rng.sample(["w", "mid", "feat", "block_body"], rng.randint(0, 2)):
            if lname == "block_body":
                lets.append(f"    let {lname} = {self.chain(dict(scope, **{'$map': True}), 1, 'map', 2, top=False)}")
                scope[lname] = "chain"
            else:
                lets.append(f"    let {lname} = {self.int_expr(scope, 1, 32)}")
                scope[lname] = "int"
        if not self.chance(0.15):
            shape = rng.choice(["3, 32, 32", "1, 28, 28", "3, 64, 64", "1, 8, 8", "3, 224, 224", "16, 4, 4"])
            vector = False
        else:
            shape, vector = str(rng.choice([10, 64, 784])), True
        if self.chance(0.02):
            shape = rng.choice(["0, 8, 8", "3, 8", "-1", "3, 1000000000000000, 1000000000000000", "1e3"])
        items = [f"input({shape})"]
        if not vector:
            items += [self.chain(scope, 0, "map", 1, top=True) for _ in range(rng.randint(1, 6))]
            if not self.chance(0.25):
                items.append(self.layer_call(self.pick(TO_VECTOR), scope))
                vector = True
        if vector or self.chance(0.2):
            items += [self.chain(scope, 0, "vector", 1, top=True) for _ in range(rng.randint(0, 3))]
            items.append(f"fc({self.rng.choice(['classes', '10']) if 'classes' in scope else 10})")
        self.networks.append((name, scope))
        return "\n".join([head, *lets, "    " + self.join(items)])

    def module(self) -> str:
        rng = self.rng
        parts = [self.block(i) for i in range(rng.randint(0, 3))]
        parts += [self.network(j) for j in range(rng.randint(0, 2) if self.chance(0.15) else 1)]
        if self.networks and self.chance(0.08):
            base, scope = rng.choice(self.networks)
            args = [f"{n} = {self.rng.randint(1, 4)}" for n, kind in scope.items() if kind == "int"][:2]
            parts.append(f"network Alias = {base}({', '.join(args)})")
        if self.chance(0.05):
            rng.shuffle(parts)
        if self.chance(0.05):  # the sandbox (see Sandbox) holds specs/, a folder dir.arch, and this case.arch
            parts.insert(0, 'import "%s"' % rng.choice(["lenet5.arch", "resnet.arch", "missing.arch", "case.arch",
                                                       "dir.arch", "notes.txt"]))
        if self.chance(0.01):  # block calls nested about as deep as allowed
            depth = rng.randint(50, 80)
            parts.insert(0, "block d0(c) = conv(c)\n" + "".join(f"block d{i}(c) = d{i - 1}(c) -> relu\n"
                                                                for i in range(1, depth)))
            parts.append(f"network Deep:\n    input(3, 8, 8) -> d{depth - 1}(4)")
        text = "\n\n".join(parts) + "\n"
        return self.layout(text)

    def layout(self, text: str) -> str:
        rng = self.rng
        if self.chance(0.15):
            text = "# a generated spec\n" + text.replace("\n    ", "\n    # a comment\n    ", 1)
        if self.chance(0.1):
            text = text.replace("    ", "\t")
        if self.chance(0.1):
            text = text.replace("\n", "\r\n")
        if self.chance(0.05):
            text = text.replace(" -> ", " \\\n    -> ", 1)
        if self.chance(0.05):
            text = "\ufeff" + text
        return text


def generate(rng: random.Random) -> str:
    return SpecGen(rng).module()


# ---------------------------------------------------------------------------
# the mutation fuzzer

_TOKEN = re.compile(r"""\s+|\#[^\n]*|"[^"\n]*"|'[^'\n]*'|(?:\d+\.\d*|\.\d+|\d+)(?:[eE][+-]?\d+)?|[A-Za-z_]\w*
                        |->|\*\*|//|==|!=|<=|>=|.""", re.S | re.X)
_NUMBER = re.compile(r"(?:\d+\.\d*|\.\d+|\d+)(?:[eE][+-]?\d+)?")
NUMBER_SWAPS = ["0", "-1", "1", "2", "1000000", "1000000000000000", "1000000000000001", "99999999999999999999",
                "1e15", "1e16", "1e308", "1e999", "1.5", "0.0", ".5", "1e-300", "NaN", "nan", "inf", '"7"', "true",
                "[1, 2]", "2 ** 1000", "-0", "(1 / 0)", "in.c", "10 ** 15 * 10", "0 ** -1", "-(2 ** 63)"]
INSERTS = ["->", "(", ")", "[", "]", "{", "}", ",", ":", "=", "?", "*", "**", "//", "/", "%", "+", "-", "==", "<",
           " as ", "i", " if ", " else ", " not ", " and ", " or ", "in", "in.c", ".", " let x = 3\n", "block",
           "network", 'import "x.arch"\n', 'import "lenet5.arch"\n', "\n", "\n    ", "\t", "\\\n", "#", "0", "-1",
           "1e999", "10 ** 15", "NaN", "true", '"same"', "'s'", "relu", "conv(8)", "input(3, 8, 8)", "identity",
           "add(identity, relu)", "[relu] * 3", "[relu] * 1000000", "x: ", "é", "×", "\x00", "\ufeff", "\r", "🙂",
           "$", "@", ";", "`", '"', "'", "\\", "\u2028"]
BAD_BYTES = [b"\xff", b"\xe9", b"\xc3", b"\x80", b"\xf0\x9f", b"\xed\xa0\x80"]


def tokens(text: str) -> list[str]:
    return _TOKEN.findall(text)


def mutate(text: str, rng: random.Random, rounds: int | None = None) -> bytes:
    """1-4 random edits of `text`; the result is bytes (it may not be UTF-8)."""
    toks = tokens(text)
    bad_bytes: list[tuple[int, bytes]] = []
    for _ in range(rounds or rng.choice([1, 1, 1, 2, 2, 3, 4])):
        solid = [i for i, t in enumerate(toks) if not t.isspace()] or [0]
        numbers = [i for i, t in enumerate(toks) if _NUMBER.fullmatch(t)]
        names = [i for i, t in enumerate(toks) if t[:1].isalpha() or t[:1] == "_"]
        op = rng.choices(["number", "name", "delete", "duplicate", "insert", "line", "swap_lines", "truncate",
                          "bytes", "layout", "span"], [12, 6, 10, 6, 10, 5, 2, 1, 1, 2, 3])[0]
        if op == "delete" and toks:
            del toks[rng.choice(solid)]
        elif op == "duplicate" and toks:
            i = rng.choice(solid)
            toks.insert(i, toks[i])
        elif op == "insert":
            toks.insert(rng.randint(0, len(toks)), rng.choice(INSERTS))
        elif op == "number" and numbers:
            toks[rng.choice(numbers)] = rng.choice(NUMBER_SWAPS)
        elif op == "name" and names:
            from archlang.layers import REGISTRY

            pool = [toks[i] for i in names] + sorted(REGISTRY)[:: max(1, len(REGISTRY) // 12)]
            toks[rng.choice(names)] = rng.choice(pool + ["x", "N", "c", "input", "network", "block", "let"])
        elif op in ("line", "swap_lines", "truncate", "layout"):
            lines = "".join(toks).split("\n")
            i, j = rng.randrange(len(lines)), rng.randrange(len(lines))
            if op == "line":
                if rng.random() < 0.5:
                    del lines[i]
                else:
                    lines.insert(i, lines[i])
            elif op == "swap_lines":
                lines[i], lines[j] = lines[j], lines[i]
            elif op == "truncate":
                lines = lines[: i + 1]
                lines[-1] = lines[-1][: rng.randint(0, len(lines[-1]))]
            else:
                choice = rng.randrange(4)
                if choice == 0:
                    lines = [line + "\r" for line in lines]
                elif choice == 1:
                    lines = [re.sub(r"^ +", "\t", line) for line in lines]
                elif choice == 2:
                    lines = [" ".join(lines)]
                else:
                    lines = [line + "  # comment" if line.strip() else line for line in lines]
            toks = tokens("\n".join(lines))
        elif op == "span" and toks:  # repeat a stretch of tokens: nesting, duplicates, long chains
            a = rng.randrange(len(toks))
            b = min(len(toks), a + rng.randint(1, 40))
            toks[b:b] = toks[a:b] * rng.choice([1, 2, 5, 60])
        elif op == "bytes":
            bad_bytes.append((rng.randint(0, len(toks)), rng.choice(BAD_BYTES)))
    out = [t.encode("utf-8", "surrogatepass") for t in toks]
    for at, raw in sorted(bad_bytes, reverse=True):
        out.insert(at, raw)
    return b"".join(out)


# ---------------------------------------------------------------------------
# cases and running them


# Parameters set from outside, as `--set NAME=TEXT` does (text) or `load(path, NAME=value)` (values).
OVERRIDE_NAMES = ["width", "N", "depth", "classes", "use_bn", "pool", "sizes", "rate", "bogus", "relu", "extra"]
OVERRIDE_TEXT = ["3", "0", "-1", "true", "False", "2.5", "[1, 2]", "[]", "x", "", "1e999", "10 ** 20", "(", "in.c",
                 "relu", "[0] * 1000000", '"s"', "{1: 2}", "1e15", "2 ** 49", " 7 "]
OVERRIDE_VALUES = [3, 0, -1, True, 2.5, [1, 2], [], "x", None, 10**20, float("nan"), float("inf"), -float("inf"),
                   1e300, [float("nan")], {"a": 1}, (1, 2), [[0] * 1000] * 1000, object()]


def make_case(seed: int, index: int) -> tuple[str, bytes | str, str | None, dict]:
    """Case `index` of `seed`: (kind, input, the spec it mutates, overrides). Deterministic."""
    rng = random.Random(f"archlang-fuzz:{seed}:{index}")
    r = rng.random()
    if r < 0.1:
        source, overrides = fuzz_hostile.hostile(rng)
        return "hostile", source, None, overrides
    if r < 0.45:
        kind, source, spec = "generated", generate(rng), None
    elif r < 0.9:
        spec = rng.choice(SPECS)
        kind, source = "mutated", mutate(spec.read_text(encoding="utf-8"), rng)
    else:
        kind, source, spec = "generated+mutated", mutate(generate(rng), rng), None
    overrides = {}
    if rng.random() < 0.15:
        for name in rng.sample(OVERRIDE_NAMES, rng.randint(1, 2)):
            overrides[name] = rng.choice(OVERRIDE_TEXT if rng.random() < 0.6 else OVERRIDE_VALUES)
    return kind, source, spec, overrides


@dataclass
class Outcome:
    kind: str  # valid | error | crash | hang
    code: str | None = None
    seconds: float = 0.0  # CPU time of the case: what it costs, however busy the machine is
    detail: str = ""
    wall: float = 0.0
    steps: int = 0  # elaboration steps of a valid graph (archlang's own count of its work)


class CaseTimeout(BaseException):
    """Raised by the alarm inside a case that runs too long (a BaseException, so that no
    `except Exception` in archlang swallows it)."""


@contextlib.contextmanager
def time_limit(seconds: float | None):
    """Interrupt the block after `seconds` of CPU time (main thread, POSIX; a no-op elsewhere).
    CPU time, not wall time: other work on a busy machine must not make a case fail."""
    if not seconds or not hasattr(signal, "setitimer"):
        yield
        return

    def on_alarm(signum, frame):
        raise CaseTimeout(f"over {seconds} s")

    try:
        old = signal.signal(signal.SIGPROF, on_alarm)
    except ValueError:  # not the main thread
        yield
        return
    signal.setitimer(signal.ITIMER_PROF, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_PROF, 0)
        signal.signal(signal.SIGPROF, old)


OUTSIDE_CODES = {"E204", "E309"}  # the only errors without a place in the file: --set NAME=VALUE
_RAW = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
_QUOTED = re.compile(r"\s*(\d+)? \| ")


def check_error(err, formatted: str, text: str | None = None, file: str | None = None,
                outside: bool = False) -> str | None:
    """What is wrong with an ArchError raised for an input, or None. With the input's `text` and
    `file` name: an error in that file must quote its line."""
    from archlang.errors import CODES

    if err.code not in CODES:
        return f"unknown code {err.code}"
    if err.span is None and outside and err.code in OUTSIDE_CODES:
        return None  # about a --set value or a parameter name given from outside: no place in the file
    if err.span is None:
        return f"error[{err.code}] has no span: {err.message}"
    if not formatted.startswith(f"{err.span}: error[{err.code}]: "):
        return "the formatted error does not start with FILE:LINE:COL: error[CODE]"
    raw = _RAW.search(formatted)
    if raw:
        return f"the message prints the raw character {raw.group()!r} (a terminal would act on it)"
    own = [line for line in formatted.splitlines() if not _QUOTED.match(line)]  # not the quoted source
    if sum(map(len, own)) > 5_000 + 2 * len(err.span.file):
        return f"the message is too long ({sum(map(len, own))} characters besides the quoted source)"
    if text is not None and err.span.file == file:
        lines = text.splitlines()
        if 1 <= err.span.line <= len(lines) and f"    {err.span.line} | " not in formatted:
            return "the message does not quote the line of its span"
        if not 1 <= err.span.line <= max(1, len(lines) + 1):
            return f"the span's line {err.span.line} is outside the file ({len(lines)} lines)"
    return None


def run_source(source: bytes | str, path: Path, *, as_text: bool = False, cli: bool = False,
               limit: float | None = None, overrides: dict | None = None, max_steps: int | None = None) -> Outcome:
    """Load one input (written to `path`, or given as text) and judge the result."""
    import archlang
    from archlang.errors import ArchError

    if isinstance(source, str):
        data = source.encode("utf-8", "surrogatepass")
    else:
        data = source
    if not as_text:
        path.write_bytes(data)
    start, cpu = time.perf_counter(), time.process_time()
    try:
        with time_limit(limit):
            try:
                if as_text:
                    net = archlang.load(data.decode("utf-8", "replace"), overrides=overrides, max_steps=max_steps)
                else:
                    net = archlang.load(path, overrides=overrides, max_steps=max_steps)
                net.summary()
                json.dumps(net.to_dict())
                repr(net)
                outcome = Outcome("valid", steps=net.work["steps"])
            except ArchError as e:
                formatted = e.format()
                text = data.decode("utf-8", "replace").removeprefix("\ufeff")
                problem = check_error(e, formatted, text, "<string>" if as_text else str(path), bool(overrides))
                outcome = Outcome("crash", e.code, detail=problem + "\n" + formatted) if problem else \
                    Outcome("error", e.code)
            if cli and not as_text and all(isinstance(v, str) for v in (overrides or {}).values()):
                problem = run_cli(path, outcome, overrides, max_steps)
                if problem:
                    outcome = Outcome("crash", outcome.code, detail=problem)
    except CaseTimeout:
        outcome = Outcome("hang", detail=f"interrupted after {limit} s of CPU time")
        outcome.seconds = limit
    except RecursionError as e:
        outcome = Outcome("crash", detail="RecursionError: " + str(e)[:200])
    except Exception:
        outcome = Outcome("crash", detail=traceback.format_exc(limit=-8))
    outcome.seconds = max(outcome.seconds, time.process_time() - cpu)
    outcome.wall = time.perf_counter() - start
    return outcome


def run_cli(path: Path, outcome: Outcome, overrides: dict | None = None, max_steps: int | None = None) -> str | None:
    """`archlang check FILE` in-process: exit 0 (valid) or 1 with error[E...] and no traceback."""
    from archlang.cli import main

    err, out = io.StringIO(), io.StringIO()
    sets = [f"--set={name}={value}" for name, value in (overrides or {}).items()]
    steps = [f"--max-steps={max_steps}"] if max_steps else []
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(out):
        try:
            code = main(["check", "-q", str(path), *sets, *steps])
        except SystemExit as e:  # argparse
            code = e.code
    text = err.getvalue()
    expected = 0 if outcome.kind == "valid" else 1
    if code != expected:
        return f"archlang check exited {code}, expected {expected}\n{text}"
    if "Traceback" in text or "internal error" in text:
        return f"archlang check printed a traceback\n{text}"
    if code == 1 and f"error[{outcome.code}]" not in text:
        return f"archlang check did not print error[{outcome.code}]\n{text}"
    return None


class Sandbox:
    """A scratch folder holding a copy of specs/, so that mutated specs find their imports."""

    def __init__(self):
        self.dir = Path(tempfile.mkdtemp(prefix="archlang-fuzz-"))
        for spec in SPECS:
            shutil.copy(spec, self.dir / spec.name)
        (self.dir / "dir.arch").mkdir()  # a folder where a file should be
        fuzz_hostile.make_special_files(self.dir)
        self.case = self.dir / "case.arch"

    def close(self):
        shutil.rmtree(self.dir, ignore_errors=True)


def run_case(seed: int, index: int, sandbox: Sandbox, limit: float | None, max_steps: int | None = None) -> Outcome:
    kind, source, _, overrides = make_case(seed, index)
    as_text = index % 7 == 3 and isinstance(source, str)  # some inputs go to load() as text
    return run_source(source, sandbox.case, as_text=as_text, cli=index % 10 == 0, limit=limit, overrides=overrides,
                      max_steps=max_steps)


# ---- worker processes: a case that hangs in C code is killed from outside


def _worker(conn, seed: int, limit: float, max_steps: int | None):
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    sandbox = Sandbox()
    try:
        while True:
            index = conn.recv()
            if index is None:
                break
            conn.send((index, run_case(seed, index, sandbox, limit, max_steps)))
    finally:
        sandbox.close()


class _Worker:
    def __init__(self, ctx, seed: int, limit: float, max_steps: int | None = None):
        self.conn, child = ctx.Pipe()
        self.proc = ctx.Process(target=_worker, args=(child, seed, limit, max_steps), daemon=True)
        self.proc.start()
        child.close()
        self.index: int | None = None
        self.started = 0.0

    def give(self, index: int):
        self.index, self.started = index, time.monotonic()
        self.conn.send(index)

    def stop(self, kill: bool = False):
        try:
            if kill:
                self.proc.kill()
            else:
                self.conn.send(None)
        except (OSError, BrokenPipeError):
            pass
        self.proc.join(5)
        if self.proc.is_alive():
            self.proc.kill()


@dataclass
class Report:
    seed: int
    cases: int = 0
    kinds: Counter = field(default_factory=Counter)
    valid: int = 0
    errors: Counter = field(default_factory=Counter)
    failures: list = field(default_factory=list)  # (index, outcome)
    slowest: tuple[float, int] = (0.0, -1)
    most_steps: tuple[int, int] = (0, -1)  # the most elaboration steps of a valid graph
    seconds: float = 0.0

    def add(self, index: int, outcome: Outcome, limit: float):
        self.cases += 1
        if outcome.kind == "valid":
            self.valid += 1
        elif outcome.kind == "error":
            self.errors[outcome.code] += 1
        if outcome.kind in ("crash", "hang") or outcome.seconds > limit:
            self.failures.append((index, outcome))
        if outcome.seconds > self.slowest[0]:
            self.slowest = (outcome.seconds, index)
        if outcome.steps > self.most_steps[0]:
            self.most_steps = (outcome.steps, index)

    @property
    def crashes(self) -> int:
        return sum(1 for _, o in self.failures if o.kind == "crash")

    @property
    def hangs(self) -> int:
        return sum(1 for _, o in self.failures if o.kind != "crash")

    def text(self, limit: float) -> str:
        out = [f"archlang fuzz: seed {self.seed}, {self.cases} cases in {self.seconds:.1f} s "
               f"({', '.join(f'{n} {k}' for k, n in sorted(self.kinds.items()))})",
               f"  valid graphs:     {self.valid}",
               f"  errors:           {sum(self.errors.values())}, {len(self.errors)} distinct codes"]
        for code, n in sorted(self.errors.items()):
            out.append(f"    {code}  {n:6d}")
        out += [f"  crashes:          {self.crashes}",
                f"  over {limit:g} s / hung: {self.hangs}",
                f"  slowest case:     {self.slowest[0]:.3f} s CPU (case {self.slowest[1]})",
                f"  most work:        {self.most_steps[0]:,} steps of a valid graph (case {self.most_steps[1]})"]
        for index, outcome in self.failures[:20]:
            out.append(f"\nFAIL case {index} ({outcome.kind}, {outcome.seconds:.2f} s CPU): rerun with "
                       f"`python -m tests.fuzz --seed {self.seed} --case {index} --show`")
            out += ["    " + line[:300] for line in outcome.detail.strip().splitlines()[-14:]]
        return "\n".join(out)


def run(cases: int, seed: int, jobs: int, limit: float, progress: bool = False, start: int = 0,
        max_steps: int | None = None) -> Report:
    report = Report(seed)
    hard = limit * 4 + 10  # wall seconds: the worker's own alarm fires first; this catches hangs in C code
    ctx = multiprocessing.get_context("fork" if hasattr(os, "fork") else "spawn")
    workers = [_Worker(ctx, seed, limit, max_steps) for _ in range(max(1, jobs))]
    todo = iter(range(start, start + cases))
    began = time.perf_counter()
    try:
        while True:
            for i, w in enumerate(workers):
                if w.index is None:
                    index = next(todo, None)
                    if index is not None:
                        report.kinds[make_case(seed, index)[0]] += 1
                        w.give(index)
            busy = [w for w in workers if w.index is not None]
            if not busy:
                break
            ready = wait([w.conn for w in busy], timeout=0.2)
            for w in busy:
                if w.conn in ready:
                    try:
                        index, outcome = w.conn.recv()
                    except EOFError:  # the worker died (e.g. out of memory)
                        index, outcome = w.index, Outcome("crash", detail="the worker process died")
                        workers[workers.index(w)] = _Worker(ctx, seed, limit, max_steps)
                    report.add(index, outcome, limit)
                    w.index = None
                    if progress and report.cases % 500 == 0:
                        print(f"  ... {report.cases} cases, {len(report.failures)} failures", file=sys.stderr)
                elif time.monotonic() - w.started > hard:
                    report.add(w.index, Outcome("hang", seconds=time.monotonic() - w.started,
                                                detail="killed: no answer in time"), limit)
                    w.stop(kill=True)
                    workers[workers.index(w)] = _Worker(ctx, seed, limit, max_steps)
    finally:
        for w in workers:
            w.stop(kill=w.index is not None)
    report.seconds = time.perf_counter() - began
    return report


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m tests.fuzz", description=__doc__.split("\n\n")[0])
    p.add_argument("--cases", type=int, default=1000, help="how many cases (default 1000)")
    p.add_argument("--seed", type=int, default=0, help="case i of a seed is always the same input")
    p.add_argument("--jobs", type=int, default=min(2, os.cpu_count() or 1), help="worker processes")
    p.add_argument("--time-limit", type=float, default=5.0, help="CPU seconds one case may take (default 5)")
    p.add_argument("--max-steps", type=int, default=MAX_STEPS,
                   help=f"elaboration steps one case may take (default {MAX_STEPS:,}: a bomb ends in a fraction "
                        "of a second; tests/test_limits.py checks archlang's own, higher limit)")
    p.add_argument("--case", type=int, help="run only this case")
    p.add_argument("--show", action="store_true", help="with --case: print the input")
    args = p.parse_args(argv)
    if args.case is not None:
        kind, source, spec, overrides = make_case(args.seed, args.case)
        if args.show:
            print(f"# case {args.case} of seed {args.seed}: {kind}" + (f" from {spec}" if spec else "") +
                  (f", overrides {overrides!r:.300}" if overrides else ""))
            print(source if isinstance(source, str) else source.decode("utf-8", "backslashreplace"))
        sandbox = Sandbox()
        try:
            outcome = run_case(args.seed, args.case, sandbox, args.time_limit, args.max_steps)
        finally:
            sandbox.close()
        print(f"{outcome.kind} {outcome.code or ''} {outcome.seconds:.3f} s CPU, {outcome.wall:.3f} s\n"
              f"{outcome.detail}")
        return 0 if outcome.kind in ("valid", "error") and outcome.seconds <= args.time_limit else 1
    report = run(args.cases, args.seed, args.jobs, args.time_limit, progress=True, max_steps=args.max_steps)
    print(report.text(args.time_limit))
    return 1 if report.failures else 0


if __name__ == "__main__":
    sys.exit(main())
