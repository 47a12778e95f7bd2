"""`archlang lsp`: the language server. A set of small handlers over one store of documents;
each asks the analysis (archlang.lsp.analysis, run on a worker thread after every edit) and
turns its answer into LSP types.

Settings come from the editor's `archlang` section (initializationOptions, then
workspace/configuration): `settings` (parameters, as `--set`), `network`, `input`,
`maxLayers`, `timeBudget`.
"""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from lsprotocol import types
from pygls.lsp.server import LanguageServer

from archlang.errors import ArchError, SourceMap, Span
from archlang.fmt import format_text
from archlang.lsp import navigate
from archlang.lsp.analysis import Analysis, Cancelled, Settings, Sources, analyse
from archlang.lsp.complete import complete
from archlang.lsp.convert import diagnostic, path_to_uri, to_column, to_range, uri_to_path
from archlang.lsp.hover import hover_at


@dataclass
class Doc:
    """One open document: its analyses, the newest one pending."""

    pending: asyncio.Future | None = None
    cancel: threading.Event = field(default_factory=threading.Event)
    latest: Analysis | None = None
    good: Analysis | None = None  # the last one that parsed: names still resolve while the text is broken


class ArchServer(LanguageServer):
    def __init__(self):
        super().__init__("archlang", "0.1.0", text_document_sync_kind=types.TextDocumentSyncKind.Incremental)
        self.sources = Sources()
        self.settings = Settings()
        self.docs: dict[str, Doc] = {}
        self.worker = ThreadPoolExecutor(1, thread_name_prefix="archlang-analysis")

    # ---- analysis after each change
    def schedule(self, uri: str) -> None:
        text = self.workspace.get_text_document(uri).source
        path = uri_to_path(uri).resolve()
        self.sources.open[str(path)] = text
        doc = self.docs.setdefault(uri, Doc())
        doc.cancel.set()  # the analysis still running is of an older text
        doc.cancel = threading.Event()
        work = asyncio.get_running_loop().run_in_executor(self.worker, analyse, path, text, self.settings,
                                                          self.sources, None, doc.cancel)
        doc.pending = asyncio.ensure_future(self._finish(uri, doc, work))

    async def _finish(self, uri: str, doc: Doc, work) -> Analysis | None:
        try:
            result = await work
        except Cancelled:
            return None
        if result.crash:
            self.window_log_message(types.LogMessageParams(type=types.MessageType.Error,
                                                           message=f"archlang: internal error on {uri}: {result.crash}"))
        if doc.pending is asyncio.current_task() and self.docs.get(uri) is doc:  # still the newest
            doc.latest = result
            if result.program is not None:
                doc.good = result
            self.text_document_publish_diagnostics(types.PublishDiagnosticsParams(uri=uri,
                                                                                  diagnostics=diagnostics(result)))
        return result

    async def analysis(self, uri: str, parsed: bool = True) -> Analysis | None:
        """The analysis of the document's current text (with `parsed`: else the last one that parsed)."""
        doc = self.docs.get(uri)
        while doc is not None and doc.pending is not None:
            pending = doc.pending
            result = await asyncio.shield(pending)
            if pending is doc.pending:
                if parsed and (result is None or result.program is None):
                    return doc.good
                return result
        return None

    def dependents(self, uri: str) -> list[str]:
        """Other open documents that import this one: they change with it."""
        path = str(uri_to_path(uri).resolve())
        return [other for other, doc in self.docs.items() if other != uri and doc.latest is not None and
                doc.latest.program is not None and
                any(str(Path(f).resolve()) == path for f in doc.latest.program.sources)]


def diagnostics(a: Analysis) -> list[types.Diagnostic]:
    err = a.error
    if err is None:
        return []
    lines = a.source_lines
    here = Path(a.file).resolve()

    def ours(span: Span | None) -> bool:
        return span is not None and Path(span.file).resolve() == here

    known = err.sources or (a.program.sources if a.program else SourceMap())

    def loc(span: Span) -> types.Location:
        other = lines if ours(span) else known.lines(span.file)
        return types.Location(uri=path_to_uri(span.file), range=to_range(span, other))

    related = [types.DiagnosticRelatedInformation(location=loc(f.span), message=f.what) for f in err.trace]
    if ours(err.span):
        return [diagnostic(err, err.span, lines, related=related)]
    anchor = next((f.span for f in err.trace if ours(f.span)), None) or _anchor(a)
    if err.span is not None:
        related.insert(0, types.DiagnosticRelatedInformation(location=loc(err.span), message=err.message))
    return [diagnostic(err, anchor, lines, where=f"{err.span}: " if err.span else "", related=related)]


def _anchor(a: Analysis) -> Span:
    """Where an error from elsewhere (an import, a setting) is shown: the import or the network."""
    module = a.modules.get(a.file)
    for item in module.items if module else ():
        span = getattr(item, "name_span", None) or item.span
        if span.file == a.file:
            return span
    return Span(a.file, 1, 1, 1, 1)


server = ArchServer()


def _pos(a: Analysis, position: types.Position) -> tuple[int, int]:
    lines = a.source_lines
    text = lines[position.line] if position.line < len(lines) else ""
    return position.line + 1, to_column(text, position.character)


@server.feature(types.INITIALIZE)
def on_initialize(ls: ArchServer, params: types.InitializeParams) -> None:
    options = params.initialization_options
    ls.settings = Settings.from_client(options.get("archlang", options) if isinstance(options, dict) else None)


@server.feature(types.INITIALIZED)
async def on_initialized(ls: ArchServer, params) -> None:
    await pull_settings(ls)


async def pull_settings(ls: ArchServer) -> None:
    caps = ls.client_capabilities.workspace
    if caps is None or not caps.configuration:
        return
    try:
        found = await ls.workspace_configuration_async(
            types.ConfigurationParams(items=[types.ConfigurationItem(section="archlang")]))
    except Exception as e:  # a client that says it answers and does not: keep the settings we have
        ls.window_log_message(types.LogMessageParams(type=types.MessageType.Warning, message=f"settings: {e}"))
        return
    if found and isinstance(found[0], dict):  # (a client with nothing set answers null: keep what we have)
        ls.settings = Settings.from_client(found[0])
        for uri in list(ls.docs):
            ls.schedule(uri)


@server.feature(types.WORKSPACE_DID_CHANGE_CONFIGURATION)
async def on_configuration(ls: ArchServer, params: types.DidChangeConfigurationParams) -> None:
    pushed = params.settings.get("archlang") if isinstance(params.settings, dict) else None
    if pushed is None:
        await pull_settings(ls)
        return
    ls.settings = Settings.from_client(pushed)
    for uri in list(ls.docs):
        ls.schedule(uri)


@server.feature(types.TEXT_DOCUMENT_DID_OPEN)
def on_open(ls: ArchServer, params: types.DidOpenTextDocumentParams) -> None:
    ls.schedule(params.text_document.uri)


@server.feature(types.TEXT_DOCUMENT_DID_CHANGE)
def on_change(ls: ArchServer, params: types.DidChangeTextDocumentParams) -> None:
    uri = params.text_document.uri
    ls.schedule(uri)
    for other in ls.dependents(uri):
        ls.schedule(other)


@server.feature(types.TEXT_DOCUMENT_DID_CLOSE)
def on_close(ls: ArchServer, params: types.DidCloseTextDocumentParams) -> None:
    uri = params.text_document.uri
    doc = ls.docs.pop(uri, None)
    if doc is not None:
        doc.cancel.set()
    ls.sources.open.pop(str(uri_to_path(uri).resolve()), None)
    ls.text_document_publish_diagnostics(types.PublishDiagnosticsParams(uri=uri, diagnostics=[]))


@server.feature(types.TEXT_DOCUMENT_HOVER)
async def on_hover(ls: ArchServer, params: types.HoverParams) -> types.Hover | None:
    a = await ls.analysis(params.text_document.uri)
    if a is None or a.program is None:
        return None
    text = hover_at(a, *_pos(a, params.position))
    return types.Hover(contents=types.MarkupContent(kind=types.MarkupKind.Markdown, value=text)) if text else None


@server.feature(types.TEXT_DOCUMENT_INLAY_HINT, types.InlayHintOptions(resolve_provider=False))
async def on_inlay_hint(ls: ArchServer, params: types.InlayHintParams) -> list[types.InlayHint]:
    a = await ls.analysis(params.text_document.uri, parsed=False)
    if a is None or a.net is None:
        return []
    return navigate.inlay_hints(a, params.range.start.line + 1, params.range.end.line + 1)


@server.feature(types.TEXT_DOCUMENT_DEFINITION)
async def on_definition(ls: ArchServer, params: types.DefinitionParams) -> types.Location | None:
    a = await ls.analysis(params.text_document.uri)
    return navigate.definition(a, *_pos(a, params.position)) if a is not None else None


@server.feature(types.TEXT_DOCUMENT_REFERENCES)
async def on_references(ls: ArchServer, params: types.ReferenceParams) -> list[types.Location]:
    a = await ls.analysis(params.text_document.uri)
    return navigate.references(a, *_pos(a, params.position), params.context.include_declaration) if a else []


@server.feature(types.TEXT_DOCUMENT_DOCUMENT_SYMBOL)
async def on_symbols(ls: ArchServer, params: types.DocumentSymbolParams) -> list[types.DocumentSymbol]:
    a = await ls.analysis(params.text_document.uri)
    return navigate.symbols(a) if a is not None else []


@server.feature(types.TEXT_DOCUMENT_PREPARE_RENAME)
async def on_prepare_rename(ls: ArchServer, params: types.PrepareRenameParams) -> types.Range | None:
    a = await ls.analysis(params.text_document.uri)
    target = navigate.rename_target(a, *_pos(a, params.position)) if a is not None else None
    item = a.index.at(a.file, *_pos(a, params.position)) if target is not None else None
    return to_range(item.span, a.source_lines) if item is not None else None


@server.feature(types.TEXT_DOCUMENT_RENAME, types.RenameOptions(prepare_provider=True))
async def on_rename(ls: ArchServer, params: types.RenameParams) -> types.WorkspaceEdit | None:
    a = await ls.analysis(params.text_document.uri)
    return navigate.rename(a, *_pos(a, params.position), params.new_name) if a is not None else None


@server.feature(types.TEXT_DOCUMENT_COMPLETION, types.CompletionOptions(trigger_characters=[".", "(", ","]))
def on_completion(ls: ArchServer, params: types.CompletionParams) -> types.CompletionList:
    uri = params.text_document.uri
    doc = ls.workspace.get_text_document(uri)
    offset = doc.offset_at_position(params.position)
    state = ls.docs.get(uri)
    items = complete(state.good if state else None, doc.source[:offset])  # no waiting: the last good analysis
    return types.CompletionList(is_incomplete=False, items=items)


@server.feature(types.TEXT_DOCUMENT_FORMATTING)
def on_formatting(ls: ArchServer, params: types.DocumentFormattingParams) -> list[types.TextEdit]:
    doc = ls.workspace.get_text_document(params.text_document.uri)
    try:
        new = format_text(doc.source, doc.path)
    except ArchError:  # a syntax error: the diagnostics say where; nothing to format
        return []
    if new == doc.source:
        return []
    whole = types.Range(start=types.Position(line=0, character=0), end=types.Position(line=len(doc.lines), character=0))
    return [types.TextEdit(range=whole, new_text=new)]


def serve() -> None:
    server.start_io()
