"""Values computed in the language: user functions, built-ins, comprehensions, slices, the
network's input shape, keywords and labels, recursive blocks.

Values are read back through a network parameter whose default is the expression
(`network N(x = EXPR)`, `net.settings["x"]`), so every case goes through `archlang.load`.
Built-ins are checked against Python's own functions on the same inputs.
"""

from __future__ import annotations

import math
import random

import pytest

import archlang
from archlang.errors import ArchError
from archlang.ir.builtins import BUILTINS


def value(expr: str, lets: str = ""):
    return archlang.load(f"{lets}network N(x = {expr}):\n    input(1, 8, 8)\n").settings["x"]


def error(source: str, **kw) -> ArchError:
    with pytest.raises(ArchError) as info:
        archlang.load(source, **kw)
    return info.value


def underlined(err: ArchError) -> str:
    """The text under the carets of the error's own line."""
    lines = err.format().splitlines()
    quoted, carets = lines[1], lines[2]
    start = carets.index("^")
    return quoted[start:start + carets.count("^")]


# ---- built-ins, against Python ------------------------------------------------------------------

NUMBERS = [0, 1, -1, 2.5, 3.5, -2.5, 0.5, 1.5, 7, 10**15, -(10**15), 1e-300, 123.456, 2.675, 99.99999]
PYTHON = {
    "ceil": math.ceil, "floor": math.floor, "round": round, "abs": abs, "int": int, "float": float,
    "sqrt": math.sqrt, "log": math.log,
}


@pytest.mark.parametrize("name", sorted(PYTHON))
def test_one_argument_builtins_agree_with_python(name):
    rng = random.Random(name)
    inputs = NUMBERS + [rng.uniform(-1000, 1000) for _ in range(40)] + [rng.randint(-10**6, 10**6) for _ in range(20)]
    for x in inputs:
        if name == "sqrt" and x < 0 or name == "log" and x <= 0:
            continue
        expected = PYTHON[name](x)
        got = value(f"{name}({x!r})")
        assert got == expected and type(got) is type(expected), (name, x, got, expected)


def test_round_is_pythons_half_to_even():
    # torchvision's RegNet rounds with Python's round (and torch.round): half to even
    assert [value(f"round({x})") for x in (0.5, 1.5, 2.5, -0.5, -1.5)] == [0, 2, 2, 0, -2]
    assert value("round(2.675, 2)") == round(2.675, 2)
    assert value("round(1234, -2)") == 1200


@pytest.mark.parametrize("args", [(8, 2), (1000, 10), (0.001, 10), (2.0, 0.5), (81, 3), (10**15, 7)])
def test_log_with_a_base(args):
    x, base = args
    assert value(f"log({x!r}, {base!r})") == math.log(x) / math.log(base)


@pytest.mark.parametrize("args", [(5,), (0,), (-3,), (2, 9), (9, 2), (0, 20, 3), (20, 0, -3), (-5, 5, 2), (3, 3)])
def test_range_agrees_with_python(args):
    assert value(f"range({', '.join(map(str, args))})") == list(range(*args))


@pytest.mark.parametrize("expr, expected", [
    ("sum([1, 2, 3.5])", 6.5), ("sum([])", 0), ("min(3, 1, 2)", 1), ("max([4, 9, 2])", 9), ("len([1, [2, 3]])", 2),
    ("len('abc')", 3), ("abs(-4)", 4), ("int(-7.9)", -7), ("float(3)", 3.0), ("ceil(2.000001)", 3), ("floor(-0.5)", -1),
])
def test_builtins(expr, expected):
    got = value(expr)
    assert got == expected and type(got) is type(expected)


# Every built-in refuses one argument too many and (where it needs one) one too few.
ARITY = {name: (fewest, most) for name, (_, fewest, most, _) in BUILTINS.items()}


@pytest.mark.parametrize("name", sorted(BUILTINS))
def test_builtins_refuse_extra_and_missing_arguments(name):
    fewest, most = ARITY[name]
    if most is not None:
        err = error(f"network N:\n    input(1, 8, 8) -> conv({name}({', '.join(['4'] * (most + 1))}))\n")
        assert err.code == "E303" and underlined(err) == name, err.format()
    err = error(f"network N:\n    input(1, 8, 8) -> conv({name}({', '.join(['4'] * (fewest - 1))}))\n")
    assert err.code == "E304" and underlined(err) == name, err.format()


@pytest.mark.parametrize("expr, code", [
    ("abs(-4, 99)", "E303"), ("round(1.5, 2, 3)", "E303"), ("sum(1, 2)", "E303"), ("sqrt(-1)", "E312"),
    ("log(0)", "E312"), ("log(-2)", "E312"), ("log(8, 1)", "E312"), ("log(8, 0)", "E312"), ("range(0, 5, 0)", "E312"),
    ("range(1.5)", "E306"), ("range(true)", "E306"), ("ceil('a')", "E306"), ("sum([1, 'a'])", "E306"),
    ("round(1.5, 99)", "E306"), ("range(2000000)", "E605"), ("range(-10 ** 15, 10 ** 15)", "E605"),
    ("len(range(10 ** 15))", "E605"), ("sum([10 ** 15, 1])", "E605"), ("min([])", "E306"), ("abs(x = 1)", "E302"),
    ("[1, 2, 3][::0]", "E312"), ("[1, 2][0.5:]", "E306"), ("5[1:]", "E306"), ("[i for i in 5]", "E306"),
    ("[i for i in [1, 2] if i]", "E306"),
])
def test_builtin_and_value_errors(expr, code):
    err = error(f"network N:\n    input(1, 8, 8) -> conv(len([{expr}]))\n")
    assert err.code == code and err.span.line == 2, err.format()


# ---- comprehensions and slices, against Python ---------------------------------------------------

@pytest.mark.parametrize("expr", [
    "[i * i for i in range(6)]", "[i for i in range(20) if i % 3 == 0]", "[[i, j] for i in range(3)]",
    "[x + 1 for x in [1, 2, 3] if x != 2]", "[[j for j in range(i)] for i in range(4)]", "[1, 2, 3, 4, 5][1:4]",
    "[1, 2, 3, 4, 5][::-1]", "[1, 2, 3, 4, 5][-2:]", "[1, 2, 3, 4, 5][:-2]", "[1, 2, 3, 4, 5][1::2]", "'abcdef'[2:4]",
    "[1, 2, 3][5:]", "sum([3, 4, 9, 3][:2])", "[sum([3, 3, 9, 3][:i]) for i in range(4)]",
])
def test_comprehensions_and_slices_agree_with_python(expr):
    # `[[i, j] for i in ...]` reads j from the scope around it, in both languages
    assert value(expr, "let j = 0\n") == eval(expr, {"sum": sum, "range": range, "j": 0})


def test_a_comprehension_variable_stays_inside():
    err = error("network N:\n    let xs = [i for i in range(3)]\n    input(1, 8, 8) -> conv(i)\n")
    assert err.code == "E202" and underlined(err) == "i"


# ---- user functions ---------------------------------------------------------------------------

def make_divisible(v, divisor=8, min_value=None):  # torchvision.models._utils._make_divisible
    min_value = min_value or divisor
    new_v = max(min_value, int(v + divisor / 2) // divisor * divisor)
    return new_v + divisor if new_v < 0.9 * v else new_v


MAKE_DIVISIBLE = ("let bump(n, v, d) = n + d if n < 0.9 * v else n\n"
                  "let make_divisible(v, d = 8, least = d) = bump(max(least, int(v + d / 2) // d * d), v, d)\n")


@pytest.mark.parametrize("v, d", [(v, d) for v in (3, 8, 9.6, 15.9, 32 * 1.1, 37.5, 100, 96 * 1.4, 1000.1, 7)
                                  for d in (4, 8, 16)])
def test_make_divisible_as_a_function(v, d):
    assert value(f"make_divisible({v!r}, {d})", MAKE_DIVISIBLE) == make_divisible(v, d)
    assert value(f"make_divisible({v!r}, d = {d}, least = 2)", MAKE_DIVISIBLE) == make_divisible(v, d, 2)


def test_functions_in_blocks_and_networks_and_arguments():
    spec = (MAKE_DIVISIBLE +
            "block expand(t) =\n"
            "    let cin = in.c\n"
            "    let width(m) = make_divisible(cin * m)\n"
            "    conv(width(t), 1)\n"
            "network N(scale = 1.4):\n"
            "    let twice(f, x) = f(f(x))\n"
            "    let grow(c) = make_divisible(c * scale)\n"
            "    input(3, 8, 8) -> conv(grow(32)) -> expand(6) -> conv(twice(grow, 16))\n")
    assert [n.shape[0] for n in archlang.load(spec).layers] == [make_divisible(32 * 1.4), make_divisible(48 * 6),
                                                                 make_divisible(make_divisible(16 * 1.4) * 1.4)]


def test_recursive_functions_within_the_bound():
    fib = "let fib(n) = n if n < 2 else fib(n - 1) + fib(n - 2)\n"
    assert value("fib(15)", fib) == 610
    depth = "let count(n) = 0 if n == 0 else 1 + count(n - 1)\n"
    assert value("count(255)", depth) == 255  # 256 calls, one inside the other
    err = error(depth + "network N(x = count(256)):\n    input(1, 8, 8)\n")
    assert err.code == "E603" and "more than 256 deep" in err.message
    assert "call of function `count`" in err.format()


@pytest.mark.parametrize("source, code, text", [
    ("let f(x) = x\nnetwork N:\n    input(1, 8, 8) -> conv(f(1, 2))\n", "E303", "f"),
    ("let f(x) = x\nnetwork N:\n    input(1, 8, 8) -> conv(f())\n", "E304", "f"),
    ("let f(x) = x\nnetwork N:\n    input(1, 8, 8) -> conv(f(y = 1))\n", "E302", "y"),
    ("let f(x) = x\nnetwork N:\n    input(1, 8, 8) -> conv(f(1, x = 2))\n", "E305", "x"),
    ("let f(x, x) = x\nnetwork N:\n    input(1, 8, 8)\n", "E208", "x"),
    ("let f(x) = in.c\nnetwork N:\n    input(1, 8, 8)\n", "E313", "in.c"),
    ("let f(x, y = in.h) = x\nnetwork N:\n    input(1, 8, 8)\n", "E313", "in.h"),
    ("let f(x) = conv(x)\nnetwork N:\n    input(1, 8, 8) -> conv(f(1))\n", "E311", "f"),
    ("let f(x) = x\nnetwork N:\n    input(1, 8, 8) -> f(4)\n", "E310", "f"),
    ("let f(x) = x\nnetwork N:\n    input(1, 8, 8) -> conv(4, padding = f)\n", "E311", "f"),
    ("let conv(x) = x\nnetwork N:\n    input(1, 8, 8)\n", "E203", "conv"),
    ("let f(x) = x\nblock f() = relu\nnetwork N:\n    input(1, 8, 8)\n", "E203", "f"),
    ("let f(x) = x // 0\nnetwork N:\n    input(1, 8, 8) -> conv(f(3))\n", "E308", "0"),
    # the network's input shape
    ("network N:\n    let h = input.h\n    input(1, 8, 8)\n", "E404", "input.h"),
    ("network N(h = input.h):\n    input(1, 8, 8)\n", "E404", "input.h"),
    ("network N:\n    input(1, 8, 8) -> conv(input.depth)\n", "E202", "input.depth"),
    ("network N:\n    input(8) -> fc(input.h)\n", "E306", "input.h"),
    ("network N:\n    input(1, 8, 8) -> conv(shape.h)\n", "E202", "shape.h"),
])
def test_function_and_input_errors(source, code, text):
    err = error(source)
    assert err.code == code and underlined(err) == text, err.format()


def test_an_error_inside_a_function_shows_the_calls():
    source = ("let inner(x) = x // 0\n"
              "let outer(x) = inner(x) + 1\n"
              "block b(c) = conv(outer(c))\n"
              "network N:\n    input(1, 8, 8) -> b(4)\n")
    text = error(source).format()
    assert "note: reached through these calls (innermost last):" in text
    assert text.index("call of block `b`") < text.index("call of function `outer`") < \
        text.index("call of function `inner`")


def test_file_level_values_and_functions_across_imports(tmp_path):
    (tmp_path / "lib.arch").write_text(MAKE_DIVISIBLE + "let widths = [16, 24, 40]\n", encoding="utf-8")
    main = tmp_path / "main.arch"
    main.write_text('import "lib.arch"\nnetwork N(scale = 1.1):\n    input(3, 8, 8)\n'
                    "    -> [conv(make_divisible(widths[i] * scale))] * len(widths) as i\n", encoding="utf-8")
    assert [n.shape[0] for n in archlang.load(main).layers] == [make_divisible(w * 1.1) for w in (16, 24, 40)]


# ---- the network's input shape ----------------------------------------------------------------

def test_input_shape_in_blocks_and_chains():
    spec = ("block head(classes) = conv(classes, 1) -> adaptive_avgpool([input.h, input.w])\n"
            "network N:\n"
            "    let restore = adaptive_avgpool([input.height, input.width])\n"
            "    input(3, 32, 24) -> conv(8, stride = 2) -> maxpool -> restore -> conv(input.c) -> maxpool -> head(5)\n")
    net = archlang.load(spec)
    assert [n.shape for n in net.layers][-5:] == [(8, 32, 24), (3, 32, 24), (3, 16, 12), (5, 16, 12), (5, 32, 24)]
    assert archlang.load(spec, input_shape="3x64x48").output_shape == (5, 64, 48)
    assert archlang.load("network N:\n    input(10) -> fc(input.features)\n").output_shape == (10,)


# ---- `in` in the arguments of a block call: the shape entering the call ----------------------------

def test_in_in_a_block_call_argument_is_the_calls_input():
    spec = ("block se(squeeze) =\n"
            "    let c = in.c\n"
            "    mul(identity, global_avgpool -> conv(squeeze, 1) -> relu -> conv(c, 1) -> sigmoid)\n"
            "block unit(t) =\n"
            "    let cin = in.c\n"
            "    conv(cin * t, 1) -> se(in.c // 4) -> se(cin // 4)\n"
            "network N:\n    input(16, 8, 8) -> unit(6)\n")
    squeezes = [n.shape[0] for n in archlang.load(spec).layers if n.type == "conv" and n.shape[0] < 96]
    assert squeezes == [24, 4]  # `in.c` there is the 96 channels entering that call; `cin` the block's 16


# ---- keywords and labels ----------------------------------------------------------------------

@pytest.mark.parametrize("source, word", [
    ("network N(block = 2):\n    input(1, 8, 8)\n", "block"),
    ("network N:\n    let in = 3\n    input(1, 8, 8)\n", "in"),
    ("let for = 1\nnetwork N:\n    input(1, 8, 8)\n", "for"),
    ("block let(c) = conv(c)\nnetwork N:\n    input(1, 8, 8)\n", "let"),
    ("network N:\n    input(1, 8, 8) -> conv(4, block = 2)\n", "block"),
    ("network N:\n    input(1, 8, 8) -> conv(network)\n", "network"),
    ("network import:\n    input(1, 8, 8)\n", "import"),
    ("block b(c, as) = conv(c)\nnetwork N:\n    input(1, 8, 8)\n", "as"),
    ("network N:\n    input(1, 8, 8) -> [relu] * 2 as true\n", "true"),
])
def test_a_keyword_used_as_a_name(source, word):
    err = error(source)
    assert err.code == "E109" and f"`{word}` is a keyword" in err.message and underlined(err) == word, err.format()
    assert "rename it" in err.hint


def test_keywords_that_are_labels():
    net = archlang.load("block unit(c) = block: conv(c) -> let: relu\n"
                        "network N:\n    input(1, 8, 8) -> network: unit(4) -> add(block: conv(4), let: identity)\n")
    assert [n.path for n in net.layers] == ["network.block", "network.let", "block.conv1", "add1"]


@pytest.mark.parametrize("body, paths", [
    ("(small: conv(4)) if c else (big: conv(8))", ["small"]),
    ("conv(4) if not c else (big: conv(8) -> relu)", ["big", "relu1"]),
    ("[small: conv(4)] if c else [big: conv(8)]", ["small"]),
    ("head: (conv(4) if c else conv(8))", ["head"]),
])
def test_labels_in_the_arms_of_if(body, paths):
    net = archlang.load(f"network N(c = true):\n    input(1, 8, 8) -> {body}\n")
    assert [n.path for n in net.layers] == paths


# ---- recursive blocks ---------------------------------------------------------------------------

UNET = """
block double_conv(c) = conv(c, 3) -> relu -> conv(c, 3) -> relu
block up(c) = adaptive_avgpool([in.h * 2, in.w * 2]) -> conv(c, 1)
block level(c, depth) =
    double_conv(c)
    -> [concat(identity, maxpool(2) -> level(2 * c, depth - 1) -> up(c)) -> double_conv(c)] ? depth > 0
network UNet(depth = 4):
    input(1, 64, 64) -> level(8, depth) -> conv(2, 1)
"""


def unet_params(c_in, c, depth):
    """Parameters of UNET above, counted the way the paper's figure is read."""
    conv = lambda i, o, k: i * o * k * k + o  # noqa: E731
    double = conv(c_in, c, 3) + conv(c, c, 3)
    if depth == 0:
        return double
    return double + unet_params(c, 2 * c, depth - 1) + conv(2 * c, c, 1) + conv(2 * c, c, 3) + conv(c, c, 3)


@pytest.mark.parametrize("depth", [0, 1, 2, 4])
def test_a_recursive_block(depth):
    net = archlang.load(UNET, depth=depth)
    assert net.params == unet_params(1, 8, depth) + 8 * 2 + 2
    assert net.output_shape == (2, 64, 64)
    assert sum(1 for n in net.layers if n.type == "maxpool") == depth
    deepest = max(n.path.count("level") for n in net.layers)
    assert deepest == depth + 1


def test_a_recursion_that_does_not_stop():
    err = error("block f(c, n) = conv(c) -> f(c, n + 1) ? n > 0\nnetwork N:\n    input(1, 8, 8) -> f(4, 3)\n")
    assert err.code == "E603" and "calls itself more than 64 deep" in err.message
    err = error("block a(n) = b(n)\nblock b(n) = a(n)\nnetwork N:\n    input(1, 8, 8) -> a(1)\n")
    assert err.code == "E603" and err.message.startswith("block `")


def test_a_recursive_block_against_a_recursive_torch_module():
    torch = pytest.importorskip("torch")
    nn = torch.nn

    class Level(nn.Module):  # the paper's level, written the way a PyTorch user would
        def __init__(self, c_in, c, depth):
            super().__init__()
            self.down = nn.Sequential(nn.Conv2d(c_in, c, 3, padding=1), nn.ReLU(), nn.Conv2d(c, c, 3, padding=1),
                                      nn.ReLU())
            self.depth = depth
            if depth:
                self.inner = Level(c, 2 * c, depth - 1)
                self.up = nn.Conv2d(2 * c, c, 1)
                self.out = nn.Sequential(nn.Conv2d(2 * c, c, 3, padding=1), nn.ReLU(), nn.Conv2d(c, c, 3, padding=1),
                                         nn.ReLU())

        def forward(self, x):
            x = self.down(x)
            if not self.depth:
                return x
            y = self.inner(nn.functional.max_pool2d(x, 2))
            y = self.up(nn.functional.adaptive_avg_pool2d(y, (2 * y.shape[2], 2 * y.shape[3])))
            return self.out(torch.cat([x, y], 1))

    torch.manual_seed(0)
    reference = nn.Sequential(Level(1, 8, 3), nn.Conv2d(8, 2, 1)).eval()
    model = archlang.load(UNET, depth=3).to_torch().eval()
    archlang.transfer_weights(reference, model)
    x = torch.randn(2, 1, 64, 64)
    with torch.no_grad():
        assert torch.allclose(model(x), reference(x), atol=1e-5)


def test_calls_deeper_than_python_allows_end_in_a_spanned_error():
    # 250 calls, each 190 operators deep: past Python's own stack before the call limit
    err = error("let f(n) = 0 if n == 0 else " + "- " * 190 + "f(n - 1)\nnetwork N(x = f(250)):\n    input(1, 8, 8)\n")
    assert err.code == "E604" and err.span.line == 1 and underlined(err) == "f"
    assert "call of function `f`" in err.format()
