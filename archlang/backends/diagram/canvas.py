"""A tiny vector canvas for the feature-map picture: polygons, lines and text,
written as plain SVG, or through matplotlib for png and pdf. Coordinates
are CSS pixels at the picture's natural size, y down.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from html import escape

from archlang.errors import ArchError

PX_PER_PT = 96 / 72


@dataclass
class Canvas:
    width: float = 0.0
    height: float = 0.0
    background: str = "#ffffff"
    shapes: list = field(default_factory=list)  # ("poly", points, fill, stroke) | ("line", ...) | ("text", ...)

    def poly(self, points, fill: str, stroke: str, width: float = 1.0) -> None:
        self.shapes.append(("poly", [(round(x, 1), round(y, 1)) for x, y in points], fill, stroke, width))

    def line(self, a, b, stroke: str, width: float = 1.0, dashed: bool = False) -> None:
        self.shapes.append(("line", (round(a[0], 1), round(a[1], 1)), (round(b[0], 1), round(b[1], 1)), stroke,
                            width, dashed))

    def text(self, x: float, y: float, text: str, colour: str, points: float = 9.0, anchor: str = "middle",
             bold: bool = False) -> None:
        self.shapes.append(("text", round(x, 1), round(y, 1), text, colour, points, anchor, bold))

    # ---- output
    def svg(self, font: str, title: str = "") -> str:
        w, h = round(self.width), round(self.height)
        out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" viewBox="0 0 {w} {h}" '
               f'font-family="{escape(font)}">']
        if title:
            out.append(f"<title>{escape(title)}</title>")
        out.append(f'<rect width="{w}" height="{h}" fill="{self.background}"/>')
        for shape in self.shapes:
            out.append(_svg_shape(shape))
        out.append("</svg>")
        return "\n".join(out) + "\n"

    def raster(self, fmt: str, dpi: int = 96) -> bytes:
        """png or pdf bytes, drawn with matplotlib (no other tool needed)."""
        try:
            import matplotlib

            matplotlib.use("Agg")
            from matplotlib import pyplot as plt
            from matplotlib.patches import Polygon
        except ImportError:
            raise ArchError("E711", f"drawing the feature-map picture as {fmt} needs matplotlib", None,
                            hint="pip install matplotlib, or write .svg (which needs nothing)") from None
        fig = plt.figure(figsize=(self.width / 96, self.height / 96), dpi=dpi, facecolor=self.background)
        ax = fig.add_axes((0, 0, 1, 1))
        ax.set_xlim(0, self.width)
        ax.set_ylim(self.height, 0)
        ax.axis("off")
        for shape in self.shapes:
            _mpl_shape(ax, Polygon, shape)
        import io

        buf = io.BytesIO()
        fig.savefig(buf, format=fmt, dpi=dpi, facecolor=self.background, metadata=_FIXED_METADATA[fmt])
        plt.close(fig)
        return buf.getvalue()


# Metadata without dates or versions, so that the same picture gives the same bytes.
_FIXED_METADATA = {"png": {"Software": None}, "pdf": {"Creator": None, "Producer": None, "CreationDate": None}}


def _svg_shape(shape) -> str:
    kind = shape[0]
    if kind == "poly":
        _, points, fill, stroke, width = shape
        pts = " ".join(f"{x:g},{y:g}" for x, y in points)
        return f'<polygon points="{pts}" fill="{fill}" stroke="{stroke}" stroke-width="{width:g}"/>'
    if kind == "line":
        _, a, b, stroke, width, dashed = shape
        dash = ' stroke-dasharray="4 3"' if dashed else ""
        return (f'<line x1="{a[0]:g}" y1="{a[1]:g}" x2="{b[0]:g}" y2="{b[1]:g}" stroke="{stroke}" '
                f'stroke-width="{width:g}"{dash}/>')
    _, x, y, text, colour, points, anchor, bold = shape
    weight = ' font-weight="bold"' if bold else ""
    return (f'<text x="{x:g}" y="{y:g}" fill="{colour}" font-size="{points * PX_PER_PT:.2f}" '
            f'text-anchor="{anchor}"{weight}>{escape(text)}</text>')


def _mpl_shape(ax, Polygon, shape) -> None:
    kind = shape[0]
    if kind == "poly":
        _, points, fill, stroke, width = shape
        ax.add_patch(Polygon(points, closed=True, facecolor=fill, edgecolor=stroke, linewidth=width * 0.75))
    elif kind == "line":
        _, a, b, stroke, width, dashed = shape
        ax.plot([a[0], b[0]], [a[1], b[1]], color=stroke, linewidth=width * 0.75, linestyle="--" if dashed else "-")
    else:
        _, x, y, text, colour, points, anchor, bold = shape
        ax.text(x, y, text, color=colour, fontsize=points, ha={"middle": "center", "start": "left", "end": "right"}[anchor],
                va="baseline", fontweight="bold" if bold else "normal", family="sans-serif")
