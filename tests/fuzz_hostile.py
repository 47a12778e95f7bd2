"""The hostile-file family of the fuzzer (tests/fuzz.py): inputs written to exhaust or to
deceive, not to be plausible.

- **special files**: imports of a FIFO, /dev/zero, a loop of symbolic links, a folder, a file
  over the size limit, a chain of imports deeper than allowed, more files than allowed;
- **bombs**: blocks, functions, `let`s and list comprehensions that each use the one before
  twice (ending in nothing: `identity`, a switched-off `X?`, `x`), recursions that do not stop,
  big lists and ranges rebuilt in repeats, long strings;
- **hostile strings** in every place text can go: string literals (layer arguments, parameter
  defaults, alias arguments), comments, labels, import paths, `--set` values: control
  characters, escapes, bidirectional overrides, line separators, quotes, `\"\"\"`, backslashes.

Each must end as a valid graph or a spanned error, within the limits.

Hostile *data* files for `archlang train --data` (bombs, lies, special files) are the other
half of the family: tests/hostile_data.py writes them and tests/fuzz_data.py reads them
under a memory limit (`make fuzz` runs both).
"""

from __future__ import annotations

import os
import random
from pathlib import Path

HOSTILE_TEXT = ["\x00", "\x1b[2J", "\x1b]0;x\x07", "\x07", "\x08", "\t", "\x7f", "\x85", "\x9b", "\u202e", "\u2066",
                "\u2028", "\u2029", "\ufeff", '"""', "'''", "\\", "\\n", "${HOME}", "$(id)", "`id`", "<!--<script>",
                "</script>", "&amp;", "é", "🙂", "\x0c", "\x0b", "\r"]
CHAIN = 40  # c0.arch imports c1.arch ... (the limit is 32 deep)
MANY = 300  # many.arch imports m0.arch ... (the limit is 256 files)
SPECIAL_IMPORTS = ["fifo.arch", "devzero.arch", "loop.arch", "dir.arch", "big.arch", "c0.arch", "many.arch",
                   "dangling.arch"]


def make_special_files(folder: Path) -> None:
    """The special files the family imports, in the sandbox `folder`."""
    if hasattr(os, "mkfifo"):
        os.mkfifo(folder / "fifo.arch")
    if Path("/dev/zero").exists():
        (folder / "devzero.arch").symlink_to("/dev/zero")
    (folder / "loop.arch").symlink_to("loop.arch")
    (folder / "dangling.arch").symlink_to("nowhere.arch")
    (folder / "big.arch").write_text("# " + "x" * (1 << 20) + "\n", encoding="utf-8")
    for i in range(CHAIN):
        (folder / f"c{i}.arch").write_text(f'import "c{i + 1}.arch"\n', encoding="utf-8")
    (folder / f"c{CHAIN}.arch").write_text("block deep_end(c) = conv(c)\n", encoding="utf-8")
    for i in range(MANY):
        (folder / f"m{i}.arch").write_text(f"block m{i}() = relu\n", encoding="utf-8")
    (folder / "many.arch").write_text("".join(f'import "m{i}.arch"\n' for i in range(MANY)), encoding="utf-8")


def _net(body: str, head: str = "network N:") -> str:
    return f"{head}\n    input(3, 8, 8) -> {body}\n"


def bomb(rng: random.Random) -> str:
    levels = rng.randint(18, 60)
    kind = rng.choice(["block", "switch", "function", "let", "comprehension", "recursion", "mutual", "function_rec",
                       "list", "range", "string", "group"])
    if kind in ("block", "switch", "group"):
        end = {"block": "identity", "switch": "relu?", "group": "[identity]"}[kind]
        wrap = "[{}]" if kind == "group" else "{}"
        blocks = "".join(f"block b{i}() = " + wrap.format(f"b{i - 1}() -> b{i - 1}()") + "\n"
                         for i in range(1, levels))
        return f"block b0() = {end}\n{blocks}" + _net(f"b{levels - 1}()", "network N(relu = false):")
    if kind == "function":
        funcs = "".join(f"let f{i}(x) = f{i - 1}(x) + f{i - 1}(x)\n" for i in range(1, levels))
        return f"let f0(x) = x\n{funcs}" + _net(f"conv(f{levels - 1}(1) % 8 + 1)")
    if kind == "let":
        lets = "".join(f"    let a{i} = a{i - 1} -> a{i - 1}\n" for i in range(1, levels))
        return f"network N:\n    let a0 = identity\n{lets}    input(3, 8, 8) -> a{levels - 1}\n"
    if kind == "comprehension":
        funcs = "".join(f"let f{i}(n) = sum([f{i - 1}(n) for j in range(n)])\n" for i in range(1, levels // 4))
        return f"let f0(n) = n\n{funcs}" + _net(f"conv(f{levels // 4 - 1}({rng.randint(2, 50)}) % 8 + 1)")
    if kind == "recursion":
        step = rng.choice(["n + 1", "n", "n * 2", "n - 0"])
        return f"block f(c, n) = conv(c) -> f(c, {step}) ? n > 0\n" + _net("f(4, 3)")
    if kind == "mutual":
        return "block a(n) = b(n) -> relu\nblock b(n) = a(n + 1)\n" + _net("a(1)")
    if kind == "function_rec":
        return f"let f(n) = 0 if n == 0 else 1 + f(n - 1)\n" + _net(f"conv(f({rng.choice([100, 255, 256, 10**6])}) "
                                                                   f"% 8 + 1)")
    if kind == "list":
        return _net(f"conv(len({'[' * rng.randint(1, 4)}0{'] * 1000' * rng.randint(2, 4)}) % 8 + 1)")
    if kind == "range":
        return f"let big = range({rng.choice([10**5, 10**6, 10**7])})\n" + _net(
            f"[relu ? {rng.choice(['sum(big) > 0', 'big == big', 'max(big) > 0', 'len(big[1:]) > 0'])}] * 100000")
    size = rng.choice([10**5, 10**6, 10**7])
    return _net(f'conv(len("x" * {size} + "y" * {size}) % 8 + 1)')


def hostile_string(rng: random.Random) -> str:
    return "".join(rng.choice(HOSTILE_TEXT + ["a", "same", " "]) for _ in range(rng.randint(1, 6)))


def strings(rng: random.Random) -> tuple[str, dict]:
    """A spec with hostile text in one place (and now and then a --set value)."""
    text = hostile_string(rng)
    quote = rng.choice(['"', "'"])
    literal = f"{quote}{text}{quote}"
    place = rng.choice(["argument", "default", "alias", "comment", "label", "import", "name", "override", "text"])
    overrides: dict = {}
    if place == "argument":
        source = _net(f"conv(4, padding = {literal})")
    elif place == "default":
        source = _net("conv(4) -> gelu(approximate = act)", f"network N(act = {literal}):")
    elif place == "alias":
        source = _net("conv(4)", 'network A(act = "none"):') + f"network B = A(act = {literal})\n"
    elif place == "comment":
        source = f"# {text}\n" + _net(f"conv(4)  # {text}")
    elif place == "label":
        source = _net(f"{text}: conv(4)")
    elif place == "import":
        source = f"import {quote}{text}.arch{quote}\n" + _net("relu")
    elif place == "name":
        source = f"network N{text}:\n    input(3, 8, 8)\n"
    elif place == "override":
        source = _net("conv(4) -> gelu(approximate = act)", 'network N(act = "none"):')
        overrides = {"act": text}
    else:
        source = _net("relu") + text
    return source, overrides


def hostile(rng: random.Random) -> tuple[str, dict]:
    """One hostile case: (spec text, overrides)."""
    r = rng.random()
    if r < 0.3:
        name = rng.choice(SPECIAL_IMPORTS)
        return f'import "{name}"\n' + _net(rng.choice(["relu", "deep_end(4)", "m1()"])), {}
    if r < 0.65:
        return bomb(rng), {}
    return strings(rng)
