"""Chinese text on report pages without a CJK font on the reader's machine: an embedded, subset web font.

The repository vendors one font, `reports/fonts/NotoSansSC-GB2312.woff2`: Noto Sans SC Regular
(SIL Open Font License 1.1, `reports/fonts/OFL.txt`) cut to the GB2312 character set (all 6,763
hanzi of levels 1 and 2, its symbols and full-width forms) plus ASCII and Latin-1, which makes
it 1.3 MB instead of the source's 10.5 MB. `python -m grassroots.reports.webfont SOURCE.ttf` remakes
it (see `reports/fonts/README.md` for where SOURCE comes from).

A page embeds a second subset, only the characters it shows, as a base64 WOFF2 `@font-face`
(tens of kilobytes), so it renders offline with no font file beside it. Characters outside the
vendored set (a rare hanzi in a place name) fall back to the browser's fonts.
"""

from __future__ import annotations

import base64
import functools
import io
import logging
import sys
from pathlib import Path

FONT_DIR = Path(__file__).resolve().parent / "fonts"
VENDORED = FONT_DIR / "NotoSansSC-GB2312.woff2"
FAMILY = "GrassrootsSC"
log = logging.getLogger(__name__)
logging.getLogger("fontTools").setLevel(logging.WARNING)  # its subsetter logs every glyph list at INFO


def gb2312_characters() -> str:
    """Every character of GB2312 (rows 0xA1–0xF7, cells 0xA1–0xFE), ASCII and Latin-1 (printable)."""
    chars = [chr(c) for c in range(0x20, 0x7F)] + [chr(c) for c in range(0xA0, 0x100)]
    for row in range(0xA1, 0xF8):
        for cell in range(0xA1, 0xFF):
            try:
                chars.append(bytes((row, cell)).decode("gb2312"))
            except UnicodeDecodeError:
                continue
    return "".join(dict.fromkeys(chars + list("–—‘’“”…•·▲▼△▽→←↑↓≤≥×%")))


def _subset(source: Path | io.BytesIO, text: str, transform_glyf: bool = True) -> bytes:
    from fontTools import subset  # imported here: only report builds need fontTools
    from fontTools.ttLib.woff2 import WOFF2FlavorData

    options = subset.Options()
    options.flavor = "woff2"
    options.layout_features = ["*"]
    options.name_IDs = ["*"]
    options.notdef_outline = True
    font = subset.load_font(source, options)
    subsetter = subset.Subsetter(options)
    subsetter.populate(text=text)
    subsetter.subset(font)
    if not transform_glyf:  # larger, but read without rebuilding every glyph: 0.25 s a page instead of 2 s
        font.flavorData = WOFF2FlavorData(transformedTables=set())
    out = io.BytesIO()
    subset.save_font(font, out, options)
    return out.getvalue()


def make_vendored_subset(source: Path, target: Path = VENDORED) -> int:
    """Cut SOURCE (Noto Sans SC Regular TTF/OTF) to gb2312_characters() as WOFF2 at TARGET; return its size."""
    data = _subset(source, gb2312_characters(), transform_glyf=False)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(data)
    return len(data)


@functools.lru_cache(maxsize=1)
def _vendored_bytes() -> bytes:
    return VENDORED.read_bytes()


@functools.lru_cache(maxsize=1)
def _vendored_cmap() -> frozenset[int]:
    from fontTools.ttLib import TTFont

    return frozenset(TTFont(io.BytesIO(_vendored_bytes()))["cmap"].getBestCmap())


@functools.lru_cache(maxsize=8)
def font_face_css(text: str) -> str:
    """An @font-face rule embedding the vendored font cut to the characters of TEXT (base64 WOFF2)."""
    chars = "".join(sorted({c for c in text if not c.isspace()} | set("0123456789.,%-–+")))
    data = _subset(io.BytesIO(_vendored_bytes()), chars)
    missing = [c for c in chars if ord(c) > 0x2E7F and ord(c) not in _vendored_cmap()]
    if missing:  # counted, not listed: the characters come from the page's data
        log.warning(
            "%d CJK characters of a page are not in %s; the browser's fonts draw them", len(missing), VENDORED.name
        )
    encoded = base64.b64encode(data).decode("ascii")
    return (
        f'@font-face{{font-family:"{FAMILY}";font-style:normal;font-weight:400;'
        f'src:url(data:font/woff2;base64,{encoded}) format("woff2")}}'
    )


FONT_SLOT = "/*@font-face*/"  # where a page's style takes the @font-face rule embed_font fills in


def embed_font(pages: dict[str, str]) -> dict[str, str]:
    """Pages (name → HTML with FONT_SLOT in their style) with one subset for them all: the characters
    of every page together (a subset per page cost about a second each, and areas grow with the city)."""
    font = font_face_css("".join(sorted(set("".join(pages.values())))))
    return {name: text.replace(FONT_SLOT, font, 1) for name, text in pages.items()}


if __name__ == "__main__":  # python -m grassroots.reports.webfont SOURCE.ttf [TARGET.woff2]
    size = make_vendored_subset(Path(sys.argv[1]), *(Path(a) for a in sys.argv[2:3]))
    print(f"wrote {size:,} bytes")  # noqa: T201 - a command's result
