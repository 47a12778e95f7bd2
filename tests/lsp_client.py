"""A scripted editor for `archlang lsp`: the server in a subprocess, driven over stdio
JSON-RPC by pygls's LanguageClient, as an editor drives it. Used by tests/test_lsp.py and
bench/sec_lsp.py.

Every wait is bounded by a timeout given to the client (an answer that does not come fails
the test); nothing measures wall-clock time here.
"""

from __future__ import annotations

import asyncio
import sys
import threading
from pathlib import Path

from lsprotocol import types
from pygls.lsp.client import LanguageClient

TIMEOUT = 120.0  # seconds for any one answer: generous, a loaded machine is slow


class Editor:
    def __init__(self, settings: dict | None = None, cwd: Path | None = None, init_options: dict | None = None,
                 env: dict | None = None, configuration: bool = True):
        """`configuration`: whether the client answers workspace/configuration (Helix-like
        clients may give the settings in `init_options` only)."""
        self.settings = settings or {}
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.client = LanguageClient("archlang-tests", "1")
        self.published: dict[str, list[types.PublishDiagnosticsParams]] = {}
        self.changed = asyncio.Condition()
        self.versions: dict[str, int] = {}
        self.texts: dict[str, str] = {}
        self._handlers()
        self.call(self._start(cwd, init_options, env, configuration))

    def _handlers(self) -> None:
        @self.client.feature(types.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)
        async def on_diagnostics(params: types.PublishDiagnosticsParams):
            async with self.changed:
                self.published.setdefault(params.uri, []).append(params)
                self.changed.notify_all()

        @self.client.feature(types.WORKSPACE_CONFIGURATION)
        def on_configuration(params: types.ConfigurationParams):
            return [self.settings for _ in params.items]

        @self.client.feature(types.WINDOW_LOG_MESSAGE)
        def on_log(params):
            pass

    async def _start(self, cwd, init_options, env, configuration) -> types.InitializeResult:
        await self.client.start_io(sys.executable, "-m", "archlang", "lsp", cwd=str(cwd) if cwd else None, env=env)
        caps = types.ClientCapabilities(workspace=types.WorkspaceClientCapabilities(configuration=configuration))
        self.init = await self.client.initialize_async(types.InitializeParams(
            capabilities=caps, process_id=None, initialization_options=init_options))
        self.client.initialized(types.InitializedParams())
        return self.init

    def call(self, coro, timeout: float = TIMEOUT):
        return asyncio.run_coroutine_threadsafe(asyncio.wait_for(coro, timeout), self.loop).result()

    def close(self) -> None:
        async def stop():
            await self.client.shutdown_async(None)
            self.client.exit(None)
            await self.client.stop()
        try:
            self.call(stop(), timeout=30)
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(10)

    # ---- documents
    def seen(self, uri: str) -> int:
        return len(self.published.get(uri, []))

    def open(self, path: Path, text: str | None = None) -> str:
        uri = path.resolve().as_uri()
        self.texts[uri] = path.read_text(encoding="utf-8") if text is None else text
        self.versions[uri] = 1
        self.client.text_document_did_open(types.DidOpenTextDocumentParams(text_document=types.TextDocumentItem(
            uri=uri, language_id="arch", version=1, text=self.texts[uri])))
        return uri

    def change(self, uri: str, text: str) -> None:
        """The whole text replaced, as an editor with full sync sends it."""
        self.versions[uri] += 1
        self.texts[uri] = text
        self.client.text_document_did_change(types.DidChangeTextDocumentParams(
            text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=self.versions[uri]),
            content_changes=[types.TextDocumentContentChangeWholeDocument(text=text)]))

    def edit(self, uri: str, line: int, start: int, end: int, new: str) -> None:
        """An incremental change: characters start..end of a line (0-based) replaced."""
        self.versions[uri] += 1
        lines = self.texts[uri].split("\n")
        lines[line] = lines[line][:start] + new + lines[line][end:]
        self.texts[uri] = "\n".join(lines)
        rng = types.Range(start=types.Position(line=line, character=start), end=types.Position(line=line, character=end))
        self.client.text_document_did_change(types.DidChangeTextDocumentParams(
            text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=self.versions[uri]),
            content_changes=[types.TextDocumentContentChangePartial(range=rng, text=new)]))

    def diagnostics(self, uri: str, after: int, timeout: float = TIMEOUT) -> list[types.Diagnostic]:
        """The diagnostics of the first publication for `uri` after the `after`-th."""
        async def wait():
            async with self.changed:
                await self.changed.wait_for(lambda: self.seen(uri) > after)
            return list(self.published[uri][after].diagnostics)
        return self.call(wait(), timeout)

    # ---- requests: positions are 0-based (line, character)
    def _doc(self, uri: str) -> types.TextDocumentIdentifier:
        return types.TextDocumentIdentifier(uri=uri)

    @staticmethod
    def _at(line: int, character: int) -> types.Position:
        return types.Position(line=line, character=character)

    def hover(self, uri: str, line: int, character: int) -> str | None:
        found = self.call(self.client.text_document_hover_async(types.HoverParams(
            text_document=self._doc(uri), position=self._at(line, character))))
        return found.contents.value if found else None

    def inlay_hints(self, uri: str) -> dict[int, str]:
        end = self.texts[uri].count("\n") + 1
        hints = self.call(self.client.text_document_inlay_hint_async(types.InlayHintParams(
            text_document=self._doc(uri), range=types.Range(start=self._at(0, 0), end=self._at(end, 0)))))
        return {h.position.line: h.label for h in hints or []}

    def definition(self, uri: str, line: int, character: int):
        return self.call(self.client.text_document_definition_async(types.DefinitionParams(
            text_document=self._doc(uri), position=self._at(line, character))))

    def references(self, uri: str, line: int, character: int, declaration: bool = True):
        return self.call(self.client.text_document_references_async(types.ReferenceParams(
            text_document=self._doc(uri), position=self._at(line, character),
            context=types.ReferenceContext(include_declaration=declaration)))) or []

    def completion(self, uri: str, line: int, character: int) -> list[types.CompletionItem]:
        found = self.call(self.client.text_document_completion_async(types.CompletionParams(
            text_document=self._doc(uri), position=self._at(line, character))))
        return found.items if isinstance(found, types.CompletionList) else list(found or [])

    def formatting(self, uri: str) -> list[types.TextEdit]:
        return self.call(self.client.text_document_formatting_async(types.DocumentFormattingParams(
            text_document=self._doc(uri), options=types.FormattingOptions(tab_size=4, insert_spaces=True)))) or []

    def rename(self, uri: str, line: int, character: int, new: str) -> types.WorkspaceEdit | None:
        return self.call(self.client.text_document_rename_async(types.RenameParams(
            text_document=self._doc(uri), position=self._at(line, character), new_name=new)))

    def symbols(self, uri: str):
        return self.call(self.client.text_document_document_symbol_async(types.DocumentSymbolParams(
            text_document=self._doc(uri)))) or []

    def configure(self, settings: dict) -> None:
        self.settings = settings
        self.client.workspace_did_change_configuration(types.DidChangeConfigurationParams(settings=None))


def apply(text: str, edits: list[types.TextEdit]) -> str:
    """Text edits applied (from the last, so that earlier positions stay right)."""
    lines = text.split("\n")
    offsets = [0]
    for line in lines:
        offsets.append(offsets[-1] + len(line) + 1)

    def offset(pos: types.Position) -> int:
        return min(offsets[min(pos.line, len(lines))] + pos.character, len(text))

    for edit in sorted(edits, key=lambda e: (e.range.start.line, e.range.start.character), reverse=True):
        text = text[:offset(edit.range.start)] + edit.new_text + text[offset(edit.range.end):]
    return text
