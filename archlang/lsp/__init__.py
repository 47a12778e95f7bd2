"""The language server, `archlang lsp` (archlang/lsp/server.py): the analyzer of `archlang
check` answering an editor's questions: diagnostics, inlay hints, hover, definitions,
references, symbols, rename, completion and formatting."""
