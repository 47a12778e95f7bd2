"""The `archlang` command: argument parsing, printing and exit codes only.

Exit codes: 0 success, 1 an error in a spec or a run (printed like a
compiler error, never a traceback), 2 a usage error.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import sys

from archlang.errors import ArchError
from archlang.terminal import safe_output


def _common(p: argparse.ArgumentParser, many: bool = False) -> None:
    if many:
        p.add_argument("files", nargs="+", metavar="FILE", help=".arch spec files")
    else:
        p.add_argument("file", metavar="FILE", help="an .arch spec file")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="NAME=VALUE",
                   help="override a network parameter or switch (repeatable), e.g. --set depth=19")
    p.add_argument("--input", dest="input_shape", metavar="CxHxW", help="override the input shape, e.g. 3x64x64")
    p.add_argument("--network", help="which network of the file (default: the last one defined)")
    p.add_argument("--max-layers", type=int, default=100_000,
                   help="refuse networks with more layers, and repeats with more iterations (default 100000)")
    p.add_argument("--max-steps", type=int, default=None,
                   help="bound the work of elaboration (expressions, elements, calls; default 20 per layer allowed)")


def _parser(command: str | None = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="archlang", description="Declarative CNN architectures: "
                                     "check, summarise, draw, compile to PyTorch, train.")
    parser.add_argument("--version", action="version", version="archlang 0.1.0")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("check", help="validate specs (exit 0 if all are valid)")
    _common(p, many=True)
    p.add_argument("-q", "--quiet", action="store_true", help="print errors only")

    p = sub.add_parser("summary", help="a table of layers, shapes, params, MACs, receptive field")
    _common(p)
    p.add_argument("--json", action="store_true", help="print one JSON object instead of the table")
    p.add_argument("--depth", type=int, metavar="N", help="one row per element down to N levels of blocks, "
                   "equal units folded into one row (1: the top level); default: every layer")
    p.add_argument("--batch", type=int, metavar="B", help="add the memory a batch of B needs: training "
                   "(activations, parameters, gradients, optimizer state) and inference")
    p.add_argument("--optimizer", metavar="NAME",
                   help="optimizer state for --batch: sgd (with momentum), adam, adamw (default), none")

    p = sub.add_parser("render", help="draw the network (svg, png, pdf, dot, json, html)")
    _common(p)
    p.add_argument("-o", "--output", metavar="OUT", help="output file; its extension picks the format "
                   "(default: NAME.svg)")
    p.add_argument("--format", choices=["svg", "png", "pdf", "dot", "json", "html"])
    p.add_argument("--view", choices=["overview", "blocks", "layers"], default="overview",
                   help="overview: one box per top-level element; blocks: one level deeper; layers: every layer")
    p.add_argument("--expand", action="append", default=[], metavar="PATH",
                   help="open one element (dotted name, as in the PyTorch state_dict), a fold FIRST:LAST "
                   "(e.g. layer3.bottleneck2:bottleneck36), or `all`")
    p.add_argument("--collapse", action="append", default=[], metavar="PATH", help="close one element")
    p.add_argument("--rankdir", choices=["TB", "LR"], default="TB")
    p.add_argument("--theme", choices=["light", "dark"], default="light")
    p.add_argument("--style", choices=["graph", "feature-maps"], default="graph")
    p.add_argument("--labels", choices=["paper", "spec"], default="paper",
                   help="paper: `3×3 conv, 64, /2` (default); spec: `conv(64, 3, stride=2)`")

    p = sub.add_parser("compile", help="write standalone PyTorch source for the network")
    _common(p)
    p.add_argument("-o", "--output", required=True, metavar="FILE.py")
    _checkpoint_option(p, "the source loads them from FILE.pt, written beside it")

    p = sub.add_parser("export", help="export the network (ONNX)")
    _common(p)
    p.add_argument("--format", default="onnx", choices=["onnx"])
    p.add_argument("-o", "--output", required=True, metavar="FILE")
    p.add_argument("--opset", type=int, default=None)
    _checkpoint_option(p, "embedded in the ONNX file")

    p = sub.add_parser("serve", help="a live playground in the browser: edit a spec, see the diagram and table")
    p.add_argument("file", nargs="?", metavar="FILE", help="the .arch file to edit (created on the first save); "
                   "without it, a scratch buffer and the specs of the zoo")
    p.add_argument("--port", type=int, help="port to listen on (default 8040, or the next free one; 0: any)")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1: this machine only)")
    p.add_argument("--no-browser", action="store_true", help="do not open a browser; just print the address")
    p.add_argument("--timeout", type=float, default=10.0, metavar="SECONDS",
                   help="stop a check that runs longer (default 10)")
    p.add_argument("--max-layers", type=int, default=100_000, help="refuse networks with more layers")

    p = sub.add_parser("fmt", help="format specs in one canonical layout, like black or gofmt")
    p.add_argument("files", nargs="*", metavar="FILE", help=".arch files or folders (default: standard input)")
    p.add_argument("--check", action="store_true", help="write nothing; exit 1 if a file would be reformatted")
    p.add_argument("--diff", action="store_true", help="write nothing; print the changes as a diff")

    p = sub.add_parser("lsp", help="the language server for editors (LSP over standard input and output)")
    p.add_argument("--stdio", action="store_true", help="talk over standard input and output (the default)")

    if command in ("train", "eval", "predict"):
        # The trainer's options come from archlang.train, which needs torch:
        # only a training command pays for that import.
        from archlang.train.command import add_eval_parser, add_train_parser
        from archlang.train.predict import add_predict_parser

        for add in (add_train_parser, add_eval_parser):
            _common(add(sub))
        add_predict_parser(sub)
    else:
        sub.add_parser("train", help="train the network on a data set (see `archlang train --help`)")
        sub.add_parser("eval", help="evaluate a checkpoint on a data set (see `archlang eval --help`)")
        sub.add_parser("predict", help="classify images with a trained run (see `archlang predict --help`)")
    return parser


def _overrides(pairs: list[str]) -> dict:
    out = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name.strip().isidentifier():
            raise ArchError("E309", f"--set expects NAME=VALUE, got {pair!r}", None, hint="e.g. --set depth=19")
        out[name.strip()] = value.strip()
    return out


def _load(args, file: str | None = None):
    import archlang

    return archlang.load(file or args.file, network=args.network, input_shape=args.input_shape,
                         max_layers=args.max_layers, max_steps=args.max_steps, overrides=_overrides(args.overrides))


def cmd_check(args) -> int:
    failed = 0
    for file in args.files:
        try:
            net = _load(args, file)
        except ArchError as e:
            failed += 1
            print(e.format(), file=sys.stderr)
            continue
        if not args.quiet:
            print(f"{file}: ok — {net.name}, {len(net.layers)} layers, {net.params:,} params, {net.macs:,} MACs")
    return 1 if failed else 0


def cmd_summary(args) -> int:
    if args.optimizer is not None and args.batch is None:
        raise ArchError("E752", "--optimizer is for the memory estimate, which needs a batch size", None,
                        hint=f"add --batch, e.g. --batch 64 --optimizer {args.optimizer}")
    net = _load(args)
    memory = net.memory(batch=args.batch, optimizer=args.optimizer or "adamw") if args.batch is not None else None
    if args.json:
        out = net.to_dict(depth=args.depth)
        if memory is not None:
            out["memory"] = memory.to_dict()
        print(json.dumps(out, indent=2))
    else:
        print(net.summary(depth=args.depth) + (f"\n{memory.table()}" if memory is not None else ""))
    return 0


def cmd_render(args) -> int:
    net = _load(args)
    diagram = net.render(view=args.view, expand=args.expand, collapse=args.collapse, rankdir=args.rankdir,
                         theme=args.theme, style=args.style, labels=args.labels)
    output = args.output or f"{net.name.lower()}.{args.format or 'svg'}"
    path = diagram.save(output, format=args.format)
    print(f"wrote {path}")
    return 0


def _checkpoint_option(p, where: str) -> None:
    p.add_argument("--checkpoint", metavar="RUN_DIR|CKPT",
                   help=f"the trained weights of a run (its best.pt) or of a checkpoint file, {where}; "
                   "without --set and --input, the run's own are used")


def _trained(args):
    """The network and, with --checkpoint, its trained module and the checkpoint (else None, None)."""
    if not args.checkpoint:
        return _load(args), None, None
    import archlang
    from archlang.backends.trained import read_checkpoint, run_settings, trained_model

    state = read_checkpoint(args.checkpoint)
    if args.overrides or args.input_shape is not None:
        net = _load(args)
    else:
        settings = run_settings(state)
        net = archlang.load(args.file, network=args.network, input_shape=settings["input_shape"],
                            max_layers=args.max_layers, max_steps=args.max_steps, overrides=settings["overrides"])
    return net, trained_model(net, state), state


def _weights_note(state) -> str:
    return f", trained weights of {state['path']}, epoch {state.get('epoch', '?')}" if state else ""


def cmd_compile(args) -> int:
    from archlang.backends.pysource import weights_path, write_source

    net, model, state = _trained(args)
    write_source(net, args.output, weights=model.state_dict() if model is not None else None)
    also = f" and {weights_path(args.output)}" if model is not None else ""
    print(f"wrote {args.output}{also} ({net.name}, {net.params:,} params{_weights_note(state)})")
    return 0


def cmd_export(args) -> int:
    from archlang.backends.onnx_export import export_onnx

    net, model, state = _trained(args)
    export_onnx(net, args.output, opset=args.opset, model=model)
    print(f"wrote {args.output}{_weights_note(state)}")
    return 0


def cmd_serve(args) -> int:
    from archlang.serve import serve

    return serve(args.file, host=args.host, port=args.port, open_browser=not args.no_browser, limit=args.timeout,
                 max_layers=args.max_layers)


def _model_source(args):
    def factory(path: str, overrides: dict):
        from archlang.train.spec_source import SpecSource

        return SpecSource(_load(args, path), _overrides(args.overrides))
    return factory


def cmd_train(args) -> int:
    from archlang.train.command import run_train

    return run_train(args, _model_source(args))


def cmd_eval(args) -> int:
    from archlang.train.command import run_eval

    return run_eval(args, _model_source(args))


def cmd_predict(args) -> int:
    from archlang.train.command import run_predict_command

    return run_predict_command(args)


def cmd_fmt(args) -> int:
    from archlang.fmt.command import run_fmt

    return run_fmt(args)


def cmd_lsp(args) -> int:
    from archlang.lsp.server import serve

    serve()
    return 0


COMMANDS = {"check": cmd_check, "summary": cmd_summary, "render": cmd_render, "compile": cmd_compile,
            "export": cmd_export, "train": cmd_train, "eval": cmd_eval, "predict": cmd_predict, "fmt": cmd_fmt, "lsp": cmd_lsp,
            "serve": cmd_serve}


def _no_pydantic_plugins() -> None:
    """Start-up: run the `archlang` process with pydantic's plugins off, without paying to look for them.

    The first time pydantic builds a validator (here: for the arguments of the first layer
    type a spec uses), it imports its plugin loader, which imports importlib.metadata and
    scans every installed distribution for entry points: 20-30 ms, a sixth of `archlang
    summary`. archlang's validators have no use for plugins, so the command turns them off
    with pydantic's own switch (PYDANTIC_DISABLE_PLUGINS, unless the user set it otherwise)
    and gives pydantic the loader it would then behave as: one whose `get_plugins()` is
    empty. Left alone when the loader is already imported or pydantic is not a 2.x."""
    import types

    import pydantic.version

    os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")
    name = "pydantic.plugin._loader"
    if (os.environ["PYDANTIC_DISABLE_PLUGINS"] not in ("__all__", "1", "true") or name in sys.modules
            or not pydantic.version.VERSION.startswith("2.")):
        return
    loader = types.ModuleType(name, "pydantic's plugin loader with every plugin disabled (archlang.cli)")
    loader.get_plugins = lambda: ()
    sys.modules[name] = loader


def main(argv: list[str] | None = None) -> int:
    program = argv is None  # run as the `archlang` command, which exits when this returns
    if program:
        _no_pydantic_plugins()
    argv = sys.argv[1:] if argv is None else argv
    command = next((a for a in argv if not a.startswith("-")), None)
    with safe_output():  # names and text from specs and data never reach the terminal as escapes
        try:
            args = _parser(command).parse_args(argv)  # `train` and `eval` import torch here: seconds
        except KeyboardInterrupt:
            print("archlang: interrupted", file=sys.stderr)
            return 130
        return _run(args, program)


def _run(args, program: bool) -> int:
    try:
        code = COMMANDS[args.command](args)
        if program and args.command in ("check", "summary", "render"):
            # The network is garbage now, but its nodes and scopes form cycles that only the
            # cyclic collector frees, object by object, at exit (a second for 200,000 layers);
            # the process ends anyway. Freezing keeps the exit from collecting it.
            gc.freeze()
        return code
    except ArchError as e:
        print(e.format(), file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("archlang: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0
    except Exception as e:  # a bug in archlang, not in the spec: say so without a traceback
        if os.environ.get("ARCHLANG_DEBUG"):
            raise
        print(f"archlang: internal error: {type(e).__name__}: {e}\n"
              "(set ARCHLANG_DEBUG=1 for the traceback, and please report it)", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
