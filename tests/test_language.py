"""The language, feature by feature, through `archlang.load` on small specs."""

import pytest

import archlang
from archlang import ArchError


def load(text, **kw):
    return archlang.load(text if text.endswith("\n") else text + "\n", **kw)


def names(net):
    return [n.path for n in net.layers]


def types(net):
    return [n.type for n in net.layers]


def test_chain_shapes_params_macs():
    net = load("network N:\n  input(3, 8, 8) -> conv(4) -> relu -> maxpool -> fc(10)")
    assert [n.shape for n in net.layers] == [(4, 8, 8), (4, 8, 8), (4, 4, 4), (64,), (10,)]
    assert net.params == 3 * 4 * 9 + 4 + 64 * 10 + 10
    assert net.macs == 4 * 8 * 8 * 3 * 9 + 64 * 10


def test_literature_defaults_and_case_insensitive_names():
    net = load("network N:\n  INPUT(3, 32, 32) -> CONV(8) -> Relu -> POOL -> FC(10)")
    conv, _, pool, flatten, fc = net.layers
    assert conv.shape == (8, 32, 32)  # 3x3 "same"
    assert pool.shape == (8, 16, 16) and pool.type == "maxpool"  # 2x2 max, stride 2
    assert flatten.implicit and flatten.type == "flatten"  # FC flattens, visibly
    assert fc.shape == (10,)


def test_repeat_with_index_and_nested_repeats():
    net = load("network N:\n  input(1, 32, 32) -> [[conv(8 * (i + 1)) -> relu] * 2 -> pool] * 3 as i")
    convs = [n for n in net.layers if n.type == "conv"]
    assert [c.shape[0] for c in convs] == [8, 8, 16, 16, 24, 24]
    assert names(net)[:3] == ["conv1", "relu1", "conv2"]


def test_switch_default_on_and_off_by_override():
    spec = "network N:\n  input(1, 16, 16) -> [conv(4) -> pool?] * 2"
    assert types(load(spec)).count("maxpool") == 2
    assert types(load(spec, pool=False)).count("maxpool") == 0


def test_labelled_switch_is_named_by_its_label():
    spec = "network N:\n  input(1, 16, 16) -> conv(4) -> extra: [conv(4) -> relu]? -> relu"
    assert len(load(spec).layers) == 4
    assert types(load(spec, extra=False)) == ["conv", "relu"]


def test_conditional_element_sees_repeat_index():
    net = load("network N:\n  input(1, 32, 32) -> [conv(4) -> pool ? i < 2] * 3 as i")
    assert types(net) == ["conv", "maxpool", "conv", "maxpool", "conv"]


def test_let_expressions_lists_dicts_and_builtins():
    net = load("network N(depth = 13):\n"
               "  let cfg = {11: [1, 2], 13: [2, 2]}[depth]\n"
               "  let w = max(8, min(64, 2 ** 3 * 3)) // 2 + 10 % 4 - 1\n"
               "  input(1, 8, 8) -> [conv(w)] * (cfg[0] + len(cfg))")
    assert [n.shape[0] for n in net.layers] == [13] * 4


def test_boolean_logic_and_if_expression():
    net = load("network N(a = true, b = false):\n"
               "  input(1, 8, 8) -> conv(4 if a and not b or false else 2) -> relu ? (a == true and 1 < 2 <= 2)")
    assert types(net) == ["conv", "relu"] and net.layers[0].shape[0] == 4


def test_blocks_with_defaults_and_blocks_as_arguments():
    net = load("block cbr(c, k = 3) = conv(c, k) -> bn -> relu\n"
               "block twice(unit, c) = unit(c) -> unit(c)\n"
               "network N:\n  input(3, 8, 8) -> twice(cbr, 16)")
    assert names(net) == ["twice1.cbr1.conv1", "twice1.cbr1.bn1", "twice1.cbr1.relu1",
                          "twice1.cbr2.conv1", "twice1.cbr2.bn1", "twice1.cbr2.relu1"]


def test_layer_chain_passed_as_argument_sees_shape_where_used():
    net = load("block wrap(body) = conv(8) -> body\n"
               "network N:\n  input(3, 8, 8) -> wrap(conv(in.channels * 2, 1) -> relu)")
    assert net.layers[1].shape == (16, 8, 8)


def test_branches_in_shape_and_labels():
    net = load("block res(c) = add(main: conv(c) -> bn, skip: conv(c, 1) ? in.channels != c) -> relu\n"
               "network N:\n  input(3, 8, 8) -> res(8) -> res(8)")
    assert names(net) == ["res1.main.conv1", "res1.main.bn1", "res1.skip.conv1", "res1.add1", "res1.relu1",
                          "res2.main.conv1", "res2.main.bn1", "res2.add1", "res2.relu1"]
    add2 = net.layers[7]
    assert len(add2.inputs) == 2 and net.nodes[add2.inputs[1]].path == "res1.relu1"  # identity skip


def test_concat_and_mul_broadcast_and_chunk():
    net = load("network N:\n  input(8, 8, 8)\n"
               "  -> concat(conv(4, 1), identity, maxpool(3, stride = 1, pad = 1))\n"
               "  -> mul(identity, global_avgpool -> conv(20, 1) -> sigmoid)\n"
               "  -> concat(chunk(2, 0), chunk(2, 1) -> conv(10, 1)) -> channel_shuffle(2)")
    assert net.output_shape == (20, 8, 8)
    merge = [n for n in net.layers if n.type == "concat"][0]
    assert merge.shape == (20, 8, 8)


def test_identity_branch_has_no_node_but_an_edge():
    net = load("network N:\n  input(4, 8, 8) -> add(identity, conv(4))")
    add = net.layers[-1]
    assert add.inputs[0] == 0  # straight from the input


def test_unlabelled_names_are_per_type_and_labels_in_repeats_are_numbered():
    net = load("network N:\n  input(1, 8, 8) -> [stage: [conv(4) -> relu] * 2] * 2 -> head: fc(3)")
    assert names(net) == ["stage1.conv1", "stage1.relu1", "stage1.conv2", "stage1.relu2",
                          "stage2.conv1", "stage2.relu1", "stage2.conv2", "stage2.relu2", "flatten1", "head"]


def test_generated_names_skip_labels():
    net = load("network N:\n  input(1, 8, 8) -> conv1: conv(2) -> conv(2) -> conv(2)")
    assert names(net) == ["conv1", "conv2", "conv3"]


def test_overrides_are_typed(tmp_path):
    spec = "network N(width = 4, drop = 0.5):\n  input(1, 8, 8) -> conv(width) -> dropout(drop)"
    assert load(spec, width=6, drop=1).layers[1].layer.args.p == 1.0
    with pytest.raises(ArchError) as e:
        load(spec, width=2.5)
    assert e.value.code == "E309"
    f = tmp_path / "n.arch"
    f.write_text(spec)
    assert archlang.load(f, overrides={"width": "8"}).layers[0].shape == (8, 8, 8)


def test_input_shape_override():
    net = load("network N:\n  input(3, 224, 224) -> conv(4, 3, stride = 2)", input_shape="3x32x32")
    assert net.output_shape == (4, 16, 16)


def test_import_and_network_alias(tmp_path):
    (tmp_path / "lib").mkdir()
    (tmp_path / "lib" / "fam.arch").write_text(
        "block unit(c) = conv(c) -> relu\n"
        "network Fam(depth = 1, classes = 10):\n  input(1, 8, 8) -> [unit(4)] * depth -> fc(classes)\n")
    (tmp_path / "deep.arch").write_text('import "lib/fam.arch"\nnetwork Deep = Fam(depth = 3)\n')
    net = archlang.load(tmp_path / "deep.arch")
    assert net.name == "Deep" and net.settings == {"depth": 3, "classes": 10}
    assert types(net).count("conv") == 3
    assert archlang.load(tmp_path / "deep.arch", classes=5).output_shape == (5,)


def test_network_picked_by_name_or_last():
    spec = "network A:\n  input(1, 8, 8) -> relu\nnetwork B:\n  input(1, 8, 8) -> relu -> relu\n"
    assert load(spec).name == "B"
    assert load(spec, network="A").name == "A"


def test_newlines_continue_after_arrow_and_before_arrow_and_in_brackets():
    net = load("network N:\n  input(1, 8, 8) ->\n    conv(4)\n    -> relu -> [\n      conv(4)\n    ] * 2\n")
    assert types(net) == ["conv", "relu", "conv", "conv"]


def test_crlf_and_tabs_simply_work():
    net = load("network N:\r\n\tinput(1, 8, 8)\r\n\t-> conv(4)\r\n")
    assert types(net) == ["conv"]


def test_receptive_field_and_jump():
    net = load("network N:\n  input(1, 32, 32) -> conv(4, 3) -> maxpool(2) -> conv(4, 3) -> conv(4, 3, dilation = 2)")
    rf = [n.stats["rf"][0] for n in net.layers]
    jump = [n.stats["jump"][0] for n in net.layers]
    assert rf == [3, 4, 8, 16] and jump == [1, 2, 2, 2]


def test_buffers_are_reported_apart_from_params():
    net = load("network N:\n  input(3, 8, 8) -> conv(4, bias = false) -> bn")
    assert net.params == 3 * 4 * 9 + 8 and net.buffers == 2 * 4 + 1


def test_summary_json_has_required_keys():
    d = load("network N:\n  input(1, 8, 8) -> conv(2) -> fc(3)").to_dict()
    assert {"params", "trainable_params", "macs", "input_shape", "output_shape", "layers"} <= set(d)
    assert {"name", "type", "output_shape", "params", "macs", "receptive_field"} <= set(d["layers"][0])


@pytest.mark.parametrize("network, values", [("A", {}), ("A", {"width": 8, "pool": False}), ("B", {}),
                                             ("Deep", {"classes": 3}), ("Deep", {})])
def test_bundled_source_rebuilds_the_network_it_came_from(tmp_path, network, values):
    # the run directory's spec.arch: self-contained, and it builds the network trained, with the
    # values set from outside (a file builds its last network unless told otherwise)
    (tmp_path / "lib.arch").write_text(
        "let double(c) = 2 * c\n"
        "network A(width = 4, classes = 10):\n  input(1, 8, 8) -> conv(double(width)) -> pool? -> fc(classes)\n")
    (tmp_path / "main.arch").write_text(
        'import "lib.arch"\nnetwork B:\n  input(1, 8, 8) -> relu\nnetwork Deep = A(width = 6)\n')
    net = archlang.load(tmp_path / "main.arch", network=network, **values)
    text = net.bundled_source()
    assert "import" not in text
    again = archlang.load(text)
    assert [(n.path, n.shape) for n in again.nodes] == [(n.path, n.shape) for n in net.nodes]
    assert again.settings == net.settings and again.params == net.params
    assert (again.name == net.name) == (network == "Deep" and not values)


def test_bundled_source_of_a_value_a_spec_cannot_write():
    net = archlang.load("network N(name = \"x\"):\n  input(1, 8, 8) -> relu\n", name="it's \"x\"")
    assert "`name` was set to a value a spec cannot write" in net.bundled_source()
