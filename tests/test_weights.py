"""archlang.transfer_weights by name: renaming, the 1×1-convolution rule, and errors
that name both sides and leave the destination unchanged. (By position, and
against torchvision's models, in test_torch_backend.py and test_parity*.py.)"""

from __future__ import annotations

import copy

import pytest

torch = pytest.importorskip("torch")
from torch import nn  # noqa: E402

import archlang  # noqa: E402

# One network written with its branches in two orders: the same names, other positions.
AB = "network N:\n  input(3, 8, 8) -> add(a: conv(4, 1), b: conv(4, 3) -> bn)\n"
BA = "network N:\n  input(3, 8, 8) -> add(b: conv(4, 3) -> bn, a: conv(4, 1))\n"


def randomised(model: nn.Module) -> nn.Module:
    with torch.no_grad():
        for t in model.state_dict().values():
            if t.is_floating_point():
                t.uniform_(0.5, 1.5)
    return model


def same_state(a: nn.Module, b: nn.Module) -> bool:
    sb = b.state_dict()
    return all(torch.equal(t, sb[k]) for k, t in a.state_dict().items())


def test_by_name_pairs_entries_whatever_their_order():
    src, dst = randomised(archlang.compile(AB)), archlang.compile(BA)
    with pytest.raises(archlang.ArchError, match="weights differ at entry 1: `a.conv1.weight` is 4×3×1×1"):
        archlang.transfer_weights(src, dst)  # by position: a's weight meets b's
    archlang.transfer_weights(src, dst, by="name")
    assert same_state(src, dst)
    x = torch.randn(2, 3, 8, 8)
    assert torch.equal(src.eval()(x), dst.eval()(x))


@pytest.mark.parametrize("rename", [
    {r"^0\.": "head.", r"^1\.": "out."},  # regular expressions, the first match rewrites
    {r"^(\d)\.": lambda m: ["head.", "out."][int(m[1])]},  # a replacement computed from the match
    lambda name: name.replace("0.", "head.").replace("1.", "out."),  # or any function of the name
])
def test_rename_maps_source_names_to_destination_names(rename):
    src = randomised(nn.Sequential(nn.Linear(6, 5), nn.Linear(5, 2)))
    dst = archlang.compile("network N:\n  input(6) -> head: fc(5) -> out: fc(2)\n")
    archlang.transfer_weights(src, dst, by="name", rename=rename)
    x = torch.randn(3, 6)
    assert torch.equal(dst(x), src(x))


def test_only_the_first_matching_pattern_rewrites_a_name():
    src = randomised(nn.Sequential(nn.Linear(6, 5)))
    dst = archlang.compile("network N:\n  input(6) -> a: fc(5)\n")
    archlang.transfer_weights(src, dst, by="name", rename={r"^0\.": "a.", r"^a\.": "wrong."})
    assert torch.equal(dst.a.weight, src[0].weight)


def test_a_linear_weight_fills_a_1x1_convolution_when_asked():
    # torchvision's ConvNeXt applies nn.Linear to channels-last maps: a 1×1 convolution
    src = randomised(nn.Sequential(nn.Linear(4, 8)))
    dst = archlang.compile("network N:\n  input(4, 3, 3) -> conv(8, 1)\n")
    with pytest.raises(archlang.ArchError) as info:
        archlang.transfer_weights(src, dst)
    assert "linear_as_1x1=True" in info.value.hint
    archlang.transfer_weights(src, dst, linear_as_1x1=True)
    x = torch.randn(2, 4, 3, 3)
    expected = src(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)
    torch.testing.assert_close(dst(x), expected)
    back = archlang.transfer_weights(dst, nn.Sequential(nn.Linear(4, 8)), linear_as_1x1=True)  # the reverse
    assert torch.equal(back[0].weight, src[0].weight)


# ---- errors: E702 names both sides; nothing is copied

def refused(src, dst, match: str, **options) -> archlang.ArchError:
    before = copy.deepcopy(dst.state_dict())
    with pytest.raises(archlang.ArchError, match=match) as info:
        archlang.transfer_weights(src, dst, **options)
    assert info.value.code == "E702"
    assert all(torch.equal(before[k], v) for k, v in dst.state_dict().items())
    return info.value


def test_a_destination_entry_without_a_source_is_named():
    src = randomised(archlang.compile(AB))
    dst = archlang.compile(AB.replace("a:", "c:"))
    err = refused(src, dst, r"`c.conv1.weight` 4×3×1×1 in the destination has no source entry", by="name")
    assert "`a.conv1.weight`" in err.hint  # did you mean


def test_an_unused_source_entry_is_named_with_its_new_name():
    src = randomised(nn.Sequential(nn.Linear(6, 5), nn.Linear(5, 2)))
    dst = archlang.compile("network N:\n  input(6) -> head: fc(5)\n")
    refused(src, dst, r"`1.weight` 2×5 in the source \(renamed `out.weight`\) has no counterpart in the "
                      r"destination \(2 source entries unused\)", by="name", rename={r"^0\.": "head.", r"^1\.": "out."})


def test_two_source_entries_renamed_alike_are_refused():
    src = randomised(nn.Sequential(nn.Linear(6, 5), nn.Linear(5, 2)))
    dst = archlang.compile("network N:\n  input(6) -> head: fc(5)\n")
    refused(src, dst, r"`0.weight` and `1.weight` in the source are both renamed `head.weight`", by="name",
            rename={r"^\d\.": "head."})


def test_a_shape_mismatch_names_both_sides():
    src = randomised(nn.Sequential(nn.Linear(6, 4)))
    dst = archlang.compile("network N:\n  input(6) -> head: fc(5)\n")
    refused(src, dst, r"weights differ at `head.weight`: it is 4×6 in the source \(renamed from `0.weight`\) "
                      r"but 5×6 in the destination", by="name", rename={r"^0\.": "head."})


def test_options_are_checked():
    src, dst = archlang.compile(AB), archlang.compile(AB)
    with pytest.raises(ValueError, match="by="):
        archlang.transfer_weights(src, dst, by="order")
    with pytest.raises(ValueError, match="rename="):
        archlang.transfer_weights(src, dst, rename={"a": "b"})
