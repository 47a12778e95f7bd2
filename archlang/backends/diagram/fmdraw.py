"""Geometry of the feature-map picture: each map a box drawn in oblique
projection (front face: channels × height, receding side: width), left to
right, with the op that made it written above its gap and its kernel drawn
on the side face of the map it reads.

Sizes are on square-root (spatial) and log (channels, features) scales, so
a 224×224 input and a 7×7 map are both visible; the text stays at fixed
point sizes however long the network is.
"""

from __future__ import annotations

import math

from archlang.backends.diagram.canvas import Canvas
from archlang.backends.diagram.style import fmt_shape

FACE = 150.0  # px: the height of the largest map's face
TOP, GAP = 56.0, 28.0  # px: the space above the boxes, the least gap between two
SMALL, LABEL = 9.0, 10.0  # pt: op and name text, shape labels
SKEW = 0.5  # the receding width, as a share of the face size, drawn at 45 degrees


def _mix(colour: str, other: str, t: float) -> str:
    a = [int(colour[i:i + 2], 16) for i in (1, 3, 5)]
    b = [int(other[i:i + 2], 16) for i in (1, 3, 5)]
    return "#" + "".join(f"{round(x + (y - x) * t):02x}" for x, y in zip(a, b))


def text_width(text: str, points: float) -> float:
    """A sans-serif line's width in px, estimated (plain SVG has no font metrics)."""
    return len(text) * points * 96 / 72 * 0.56


def log_size(n: int, top: int, low: float, high: float) -> float:
    """A length for count `n` on a log scale that puts `top` at `high`."""
    return low + (high - low) * math.log2(n + 1) / math.log2(max(top, 1) + 1)


class _Box:
    """A map's box: front face at (x, y) of size t × h, receding by (dx, dy)."""

    def __init__(self, m, tops: dict):
        self.map = m
        if len(m.shape) == 3:
            c, h, w = m.shape
            self.t = log_size(c, tops["c"], 5, 46)
            self.h = 14 + (FACE - 14) * math.sqrt(h / tops["hw"])
            depth = (14 + (FACE - 14) * math.sqrt(w / tops["hw"])) * SKEW
        else:
            self.t, depth = 9.0, 9.0
            self.h = log_size(math.prod(m.shape), tops["n"], 18, FACE)
        self.dx, self.dy = depth * 0.7071, -depth * 0.7071
        self.x = self.y = 0.0

    @property
    def span(self) -> float:
        return self.t + self.dx

    def side(self, u: float, v: float) -> tuple[float, float]:
        """A point of the right side face: u along the width (0 front), v down the height."""
        return (self.x + self.t + u * self.dx, self.y + v * self.h + u * self.dy)


PAGE = 1500.0  # px: a row of maps longer than this wraps onto the next row
ARC_BAND = 32.0  # px above the boxes where skip connections arc from map to map


def draw(maps, theme, title: str, notes: list[str], skips=()) -> Canvas:
    tops = {"c": max([m.shape[0] for m in maps if len(m.shape) == 3] or [1]),
            "hw": max([max(m.shape[1:]) for m in maps if len(m.shape) == 3] or [1]),
            "n": max([math.prod(m.shape) for m in maps if len(m.shape) != 3] or [1])}
    boxes = [_Box(m, tops) for m in maps]
    above = max(b.h / 2 - b.dy for b in boxes)
    below = max(b.h / 2 for b in boxes)
    band = ARC_BAND if skips else 0.0  # room above the boxes for the skip arcs
    row_height = TOP + band + 22 + above + below + 48
    rows, x, row = [], 24.0, 0
    for k, b in enumerate(boxes):
        # the box, centred in a slot as wide as its captions; the op that makes the next in the gap
        width = max(b.span, text_width(fmt_shape(b.map.shape), LABEL), text_width(b.map.caption(), SMALL))
        op = text_width(boxes[k + 1].map.op_text(), SMALL) + 14 if k + 1 < len(boxes) else 0
        if x + width > PAGE and k:
            row, x = row + 1, 24.0
        b.row = row
        b.x, b.y = x + (width - b.span) / 2, row * row_height + TOP + band + 22 + above - b.h / 2
        x += width + max(GAP, op)
        rows.append(x)
    width = min(max(rows), PAGE + 200) if rows else 100
    canvas = Canvas(width=max(width, max(b.x + b.span for b in boxes) + 24) + 10,
                    height=(row + 1) * row_height + 16 * len(notes), background=theme.background)
    canvas.text(24, 30, title, theme.text, 12, anchor="start", bold=True)
    for k, b in enumerate(boxes):
        base = b.row * row_height
        if k:
            if boxes[k - 1].row == b.row:
                _link(canvas, boxes[k - 1], b, theme, base + TOP + 12)
            else:  # a new row: the op that made this map, at the row's start
                canvas.text(24, base + TOP - 4, "↪ " + b.map.op_text(), theme.muted, SMALL, anchor="start")
        _cuboid(canvas, b, theme)
        centre = b.x + b.span / 2
        cy = base + TOP + band + 22 + above
        canvas.text(centre, cy + below + 20, fmt_shape(b.map.shape), theme.text, LABEL)
        canvas.text(centre, cy + below + 35, b.map.caption(), theme.muted, SMALL)
    ends = {}  # each row's right end: a skip that leaves its row runs off there, and enters the next at the left
    for b in boxes:
        ends[b.row] = max(ends.get(b.row, 0.0), b.x + b.span + 12)
    crossed: dict[int, int] = {}  # skips leaving each row so far
    for a, b in skips:
        ra, rb = boxes[a].row, boxes[b].row
        start, end = _top(boxes[a]), _top(boxes[b])
        if ra == rb:
            _arc(canvas, start, end, ra * row_height + TOP + 26, theme)
        else:  # each skip that crosses a row break runs at its own height, so that two are not one line
            drop = 12.0 * (crossed.setdefault(ra, 0) % 2)
            crossed[ra] += 1
            peak_a, peak_b = ra * row_height + TOP + 26 + drop, rb * row_height + TOP + 26 + drop
            _arc(canvas, start, (ends[ra], peak_a), peak_a, theme, arrow=False, ctrl=(start[0], peak_a))
            _arc(canvas, (20.0, peak_b), end, peak_b, theme, ctrl=(end[0], peak_b))
            mark = _mark(sum(crossed.values()) - 1)  # both halves bear one letter, as a connector off a page does
            canvas.text(ends[ra] + 3, peak_a + 3, mark, theme.highlight, SMALL, anchor="start", bold=True)
            canvas.text(8.0, peak_b + 3, mark, theme.highlight, SMALL, anchor="start", bold=True)
    for i, note in enumerate(notes):
        canvas.text(24, (row + 1) * row_height + 6 + 16 * i, note, theme.muted, SMALL, anchor="start")
    return canvas


def _mark(k: int) -> str:
    """a, b, …, z, then aa, ab, …: the letters naming the skips that cross a row break."""
    letters = "abcdefghijklmnopqrstuvwxyz"
    return letters[k] if k < 26 else _mark(k // 26 - 1) + letters[k % 26]


def _top(b: _Box) -> tuple[float, float]:
    return (b.x + b.span / 2, b.y + b.dy)


def _arc(canvas: Canvas, start, end, peak: float, theme, arrow: bool = True, ctrl=None) -> None:
    """A skip connection: a curve from the top of one map over the maps between to the top of another
    (rising to `peak` midway), or, given `ctrl`, the half of one that leaves or enters a row."""
    ctrl = ctrl or ((start[0] + end[0]) / 2, 2 * peak - (start[1] + end[1]) / 2)
    points = [tuple((1 - t) ** 2 * p0 + 2 * (1 - t) * t * p1 + t * t * p2 for p0, p1, p2 in zip(start, ctrl, end))
              for t in (k / 20 for k in range(21))]
    for p, q in zip(points, points[1:]):
        canvas.line(p, q, theme.highlight, 1.2)
    if not arrow:
        return
    canvas.line((end[0] - 3, end[1] - 5), end, theme.highlight, 1.2)
    canvas.line((end[0] + 3, end[1] - 5), end, theme.highlight, 1.2)


def _cuboid(canvas: Canvas, b: _Box, theme) -> None:
    fill, border = theme.colours(b.map.maker.layer.family)
    x, y, t, h, dx, dy = b.x, b.y, b.t, b.h, b.dx, b.dy
    light, dark = ("#ffffff", "#000000") if theme.name == "light" else ("#000000", "#ffffff")
    canvas.poly([(x + t, y), (x + t + dx, y + dy), (x + t + dx, y + h + dy), (x + t, y + h)],
                _mix(fill, dark, 0.1), border)
    # a concatenation: one slice per branch, as thick as its share of the channels (a thin one still shows)
    parts = b.map.parts or [1]
    shares = [max(c, sum(parts) * 0.08) for c in parts]
    x0 = x
    for i, share in enumerate(shares):
        w = t * share / sum(shares)
        face = fill if i % 2 == 0 else _mix(fill, dark, 0.2)
        canvas.poly([(x0, y), (x0 + w, y), (x0 + w + dx, y + dy), (x0 + dx, y + dy)], _mix(face, light, 0.35), border)
        canvas.poly([(x0, y), (x0 + w, y), (x0 + w, y + h), (x0, y + h)], face, border)
        x0 += w


def _link(canvas: Canvas, prev: _Box, nxt: _Box, theme, op_y: float) -> None:
    """The op's name above the gap; its kernel on the map it reads, with lines to the map it makes."""
    node = nxt.map.maker
    gap_mid = (prev.x + prev.span + nxt.x) / 2
    canvas.text(gap_mid, op_y, nxt.map.op_text(), theme.muted, SMALL)
    window = node.layer.window(node.in_shapes) if node.inputs else None
    target = (nxt.x + nxt.t * 0.5, nxt.y + nxt.h * 0.5)
    if window and len(prev.map.shape) == 3:
        kh, kw = window[0], window[1]
        fu, fv = min(1.0, max(0.08, kw / prev.map.shape[2])), min(1.0, max(0.06, kh / prev.map.shape[1]))
        u0, v0 = 0.5 - fu / 2, 0.5 - fv / 2
        corners = [prev.side(u0, v0), prev.side(u0 + fu, v0), prev.side(u0 + fu, v0 + fv), prev.side(u0, v0 + fv)]
        _, border = theme.colours(node.layer.family)
        canvas.poly(corners, _mix(border, theme.background, 0.55), border, 0.8)
        for corner in (corners[1], corners[2]):
            canvas.line(corner, target, theme.muted, 0.8, dashed=True)
    else:
        start = (prev.x + prev.span, prev.y + prev.h * 0.5 + prev.dy / 2)
        canvas.line(start, (nxt.x - 2, target[1]), theme.muted, 1.0)
