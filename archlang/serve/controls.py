"""The page's controls: the networks of a file, and the chosen network's
parameters and switches with their types, defaults and current values.

Values travel as the text `--set NAME=VALUE` takes (`64`, `0.5`, `[32, "same"]`,
`true`; a string parameter's text is the string itself), so the page sends back
what the user typed and the server reads it as `--set` does, with the language's
own value parser, never `eval`.

>>> literal([32, 64]), literal(0.5), literal(["same", 2]), literal(True), setting_text("same")
('[32, 64]', '0.5', '["same", 2]', 'true', 'same')
"""

from __future__ import annotations

from archlang.errors import ArchError
from archlang.ir.build import pick_network, resolve_params

TYPES = {bool: "boolean", int: "integer", float: "number", str: "string", list: "list", dict: "dict"}


def literal(value) -> str | None:
    """The value as spec text that reads back equal; None for what text cannot give (a block, a chain)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        if "\n" in value or ('"' in value and "'" in value):
            return None
        return f"'{value}'" if '"' in value else f'"{value}"'
    if isinstance(value, (list, dict)):
        pairs = value.items() if isinstance(value, dict) else ((None, v) for v in value)
        parts = []
        for key, item in pairs:
            text, key_text = literal(item), literal(key) if key is not None else ""
            if text is None or key_text is None:
                return None
            parts.append(f"{key_text}: {text}" if key is not None else text)
        return ("{%s}" if isinstance(value, dict) else "[%s]") % ", ".join(parts)
    return None


def setting_text(value) -> str | None:
    """What `--set` takes for this value: a string as itself, anything else as a literal."""
    if isinstance(value, str):
        return None if "\n" in value else value
    return literal(value)


def networks(program) -> list[str]:
    """The file's own networks first (the last is the default), then those it imports."""
    own = list(program.own_networks)
    return own + [n for n in program.networks if n not in own]


def _defaults(program, net_def, bindings) -> dict:
    try:
        return resolve_params(program, net_def, bindings, {})[0]
    except ArchError:  # a parameter without a default: no defaults to show
        return {}


def controls(program, name: str | None, settings: dict, switches: dict) -> dict:
    """The chosen network, the file's networks, and one entry per parameter and switch.

    `settings` and `switches` are the resolved values (a loaded network's); a
    parameter missing from them (the network did not load) shows its default."""
    chosen, net_def, bindings = pick_network(program, name)
    defaults = _defaults(program, net_def, bindings)
    items = []
    for param in net_def.params:
        value = settings.get(param.name, defaults.get(param.name))
        default = defaults.get(param.name)
        items.append(_entry(param.name, "param", value, default, param.name in bindings))
    for switch in sorted(program.switches - {p.name for p in net_def.params}):
        items.append(_entry(switch, "switch", switches.get(switch, True), True, switch in bindings))
    return {"network": chosen, "networks": networks(program), "params": items}


def _entry(name: str, kind: str, value, default, bound: bool) -> dict:
    text = setting_text(value) if value is not None else ""
    return {"name": name, "kind": kind, "type": TYPES.get(type(value), "other" if value is not None else "required"),
            "value": text if text is not None else "", "bound": bound, "editable": text is not None,
            "default": setting_text(default) if default is not None else None}
