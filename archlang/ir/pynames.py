"""Names that cannot name a PyTorch module, checked when a spec is loaded.

Layer and scope names become PyTorch module attributes (`model.layer1.conv1`). A Python
keyword cannot be written as an attribute in forward code; a name that an `nn.Module` (or the
`torch.fx.GraphModule` every scope is, with the flags archlang's scopes keep) already has
would hide that attribute (`forward`, `training`, `graph`, `_scope_chain`); and names starting with `__` are Python's (mangled inside classes) and
torch's (its compiler adds such attributes at run time). Refusing them here lets
`archlang check` say so without importing torch; tests/test_hostile_source.py keeps the list
a superset of what the installed torch has.
"""

from __future__ import annotations

import keyword

MODULE_ATTRIBUTES = frozenset({
    "T_destination", "_apply", "_backward_hooks", "_backward_pre_hooks", "_boxed_call", "_buffers", "_call_impl",
    "_code", "_compiled_call_impl", "_create_node_hooks", "_deepcopy_hooks", "_deepcopy_init", "_erase_node_hooks",
    "_forward_hooks", "_forward_hooks_always_called", "_forward_hooks_with_kwargs", "_forward_pre_hooks",
    "_forward_pre_hooks_with_kwargs", "_get_backward_hooks", "_get_backward_pre_hooks", "_get_name", "_graph",
    "_is_full_backward_hook", "_lineno_map", "_load_from_state_dict", "_load_state_dict_post_hooks",
    "_load_state_dict_pre_hooks", "_maybe_warn_non_full_backward_hook", "_modules", "_named_members",
    "_non_persistent_buffers_set", "_parameters", "_prologue_start", "_recompile_submodules",
    "_register_create_node_hook", "_register_deepcopy_hook", "_register_erase_node_hook",
    "_register_load_state_dict_pre_hook", "_register_replace_node_hook", "_register_state_dict_hook",
    "_replace_hooks", "_replicate_for_data_parallel", "_save_to_state_dict", "_scope_call",
    "_scope_chain", "_set_replace_hook", "_slow_forward", "_state_dict_hooks", "_state_dict_pre_hooks",
    "_tracer_cls", "_tracer_extras", "_unregister_create_node_hook",
    "_unregister_deepcopy_hook", "_unregister_erase_node_hook", "_unregister_replace_node_hook", "_version",
    "_wrapped_call", "_wrapped_call_impl", "add_module", "add_submodule", "apply", "bfloat16", "buffers",
    "call_super_init", "children", "code", "compile", "cpu", "cuda", "delete_all_unused_submodules",
    "delete_submodule", "double", "dump_patches", "eval", "extra_repr", "float", "forward", "get_buffer",
    "get_extra_state", "get_parameter", "get_submodule", "graph", "half", "ipu", "load_state_dict", "meta",
    "modules", "mtia", "named_buffers", "named_children", "named_modules", "named_parameters", "parameters",
    "print_readable", "recompile", "register_backward_hook", "register_buffer", "register_forward_hook",
    "register_forward_pre_hook", "register_full_backward_hook", "register_full_backward_pre_hook",
    "register_load_state_dict_post_hook", "register_load_state_dict_pre_hook", "register_module",
    "register_parameter", "register_state_dict_post_hook", "register_state_dict_pre_hook", "requires_grad_",
    "set_extra_state", "set_submodule", "shape_env", "share_memory", "state_dict", "to", "to_empty", "to_folder",
    "train", "training", "type", "xpu", "zero_grad",
})


def unusable(name: str) -> str | None:
    """Why `name` cannot name a module, or None when it can."""
    if keyword.iskeyword(name):
        return "a Python keyword"
    if name.startswith("__"):  # Python's own names, mangled in classes; torch and its compiler add more
        return "reserved: names starting with `__` belong to Python and PyTorch"
    if name in MODULE_ATTRIBUTES:
        return "an attribute every PyTorch module has"
    return None
