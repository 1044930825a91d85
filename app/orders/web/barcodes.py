"""Code 128 barcodes drawn on the server as SVG: plain rectangles, no scripts or styles."""

from __future__ import annotations

from markupsafe import Markup, escape

QUIET_ZONE = 10  # modules of white on each side, as the symbology asks


def code128_svg(
    value: str, height: int = 40, module: float = 2.0, label: str | None = None
) -> Markup:
    """The barcode of ``value`` as an inline SVG element that scales with its width."""
    # Imported on the first label: python-barcode brings Pillow along (about 6 MB in every
    # web worker, most of which never print a label).
    from barcode.codex import Code128

    modules = "".join(Code128(value).build())
    width = len(modules) + 2 * QUIET_ZONE
    bars = []
    x = QUIET_ZONE
    for bit, run in _runs(modules):
        if bit == "1":
            bars.append(f'<rect x="{x}" y="0" width="{run}" height="{height}"/>')
        x += run
    title = escape(label or f"Barcode {value}")
    return Markup(
        f'<svg xmlns="http://www.w3.org/2000/svg" class="barcode" role="img" '
        f'viewBox="0 0 {width} {height}" '
        f'width="{width * module:g}" height="{height * module / 2:g}" '
        f'preserveAspectRatio="none" shape-rendering="crispEdges">'
        f"<title>{title}</title>"
        f'<rect x="0" y="0" width="{width}" height="{height}" fill="#fff"/>'
        f'<g fill="#000">{"".join(bars)}</g></svg>'
    )


def _runs(modules: str):
    start = 0
    for i in range(1, len(modules) + 1):
        if i == len(modules) or modules[i] != modules[start]:
            yield modules[start], i - start
            start = i
