"""What the page may send, checked before anything acts on it.

Requests are JSON objects validated by these models (unknown fields, wrong
types and oversized values are refused with E907). The page never names a
path: it names a document (`file`, `scratch`, `zoo:NAME`), and the server
decides where that document's imports resolve from.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

from archlang.errors import CODES, ArchError

MAX_TEXT = 1_000_000  # characters of spec text; the largest spec of the zoo has some 2,000
Short = Annotated[str, StringConstraints(max_length=2_000)]
Paths = Annotated[list[Short], Field(max_length=500)]


class Strict(BaseModel):
    # defer_build: the validators are built by the first request, not by the server's start-up.
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True, defer_build=True)


class Digest(Strict):
    """The figures of a valid version, as `digest.digest` made them; the page hands it back."""

    params: int
    macs: int
    input: list[int]
    output: list[int]
    layers: int
    rows: Annotated[dict[Short, tuple[Short, list[int], int, int]], Field(max_length=10_000)]


class Spec(Strict):
    """A spec and the settings to load it with: what every request about the text carries."""

    doc: Short = "scratch"
    text: Annotated[str, StringConstraints(max_length=MAX_TEXT)]
    network: Short | None = None
    settings: Annotated[dict[Short, Short], Field(max_length=500)] = {}
    input: Short | None = None


class Update(Spec):
    client: Short = ""
    view: Literal["overview", "blocks", "layers"] = "overview"
    expand: Paths = []
    collapse: Paths = []
    baseline: Digest | None = None


class Export(Spec):
    format: Literal["svg", "png", "json", "py", "html", "arch"]
    view: Literal["overview", "blocks", "layers"] = "overview"
    expand: Paths = []
    collapse: Paths = []


class Save(Strict):
    text: Annotated[str, StringConstraints(max_length=MAX_TEXT)]
    base: Short | None = None  # the version the page edited; None: write whatever is on disk
    force: bool = False


def parse(model: type[Strict], raw: bytes) -> Strict:
    try:
        return model.model_validate_json(raw)
    except ValidationError as e:
        first = e.errors()[0]
        where = ".".join(map(str, first["loc"])) or "the request"
        raise ArchError("E907", f"refused a request from the page: {where}: {first['msg']}", None,
                        hint="the page and the server disagree: reload the page") from None


def error_body(error: ArchError) -> dict:
    """An error as the page shows it: its parts and the compiler-style text, with no place in the editor."""
    return {"code": error.code, "title": CODES[error.code][0], "message": error.message, "hint": error.hint,
            "detail": error.detail, "where": str(error.span) if error.span else None, "text": error.format(),
            "mark": None, "mark_at": None}


def refusal(code: str, message: str) -> dict:
    """The answer for an error of the server's own (a time-out, a crash, a refused request)."""
    return {"ok": False, "error": error_body(ArchError(code, message, None, hint=CODES[code][1]))}
