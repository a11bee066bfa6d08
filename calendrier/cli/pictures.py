"""Posters for the demo programmes, drawn here with Pillow: nothing is downloaded.

Each poster is a gradient, a motif that says what the event is (a film strip, a pixel grid,
light beams, hills...) and its title; the same title always gives the same poster.
"""

from __future__ import annotations

import hashlib
import io
import random
import unicodedata
from collections.abc import Callable

from PIL import Image, ImageDraw, ImageFilter, ImageFont

SIZE = (1600, 1000)
# A font with every letter of French; Pillow's own (without accents) where it is missing.
FONTS = (
    "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf",
    "/usr/share/fonts/truetype/liberation/LiberationSans-Bold.ttf",
)


def _font(size: int) -> tuple[ImageFont.FreeTypeFont, bool]:
    """(a font, whether it draws accented letters)."""
    for path in FONTS:
        try:
            return ImageFont.truetype(path, size), True
        except OSError:
            continue
    return ImageFont.load_default(size=size), False


def _drawable(text: str, accents: bool) -> str:
    if accents:
        return text
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()


def _rng(key: str) -> random.Random:
    return random.Random(int(hashlib.sha256(key.encode()).hexdigest()[:12], 16))  # noqa: S311


def _gradient(top: str, bottom: str) -> Image.Image:
    start = Image.new("RGB", SIZE, top)
    end = Image.new("RGB", SIZE, bottom)
    mask = Image.linear_gradient("L").resize(SIZE)
    return Image.composite(end, start, mask)


def _film_strip(draw: ImageDraw.ImageDraw, rng: random.Random, ink: str) -> None:
    w, h = SIZE
    for y in (int(h * 0.08), int(h * 0.72)):
        draw.rectangle([0, y, w, y + 170], fill="#111111")
        for x in range(20, w, 90):
            draw.rounded_rectangle([x, y + 14, x + 44, y + 44], 6, fill=ink)
            draw.rounded_rectangle([x, y + 126, x + 44, y + 156], 6, fill=ink)
        for x in range(60, w, 300):
            shade = rng.choice(["#f4d35e", "#ee964b", "#f95738", "#0d3b66"])
            draw.rectangle([x, y + 56, x + 240, y + 114], fill=shade)


def _pixels(draw: ImageDraw.ImageDraw, rng: random.Random, ink: str) -> None:
    w, h = SIZE
    step = 80
    for x in range(0, w, step):
        for y in range(0, h, step):
            if rng.random() < 0.28:
                colour = rng.choice([ink, "#ffffff", "#00c2a8", "#ffd23f"])
                draw.rectangle([x + 6, y + 6, x + step - 6, y + step - 6], fill=colour)


def _beams(draw: ImageDraw.ImageDraw, rng: random.Random, ink: str) -> None:
    w, h = SIZE
    origin = (int(w * 0.85), int(h * 0.1))
    for i in range(7):
        spread = rng.randint(120, 260)
        x = int(w * i / 7)
        draw.polygon([origin, (x, h), (x + spread, h)], fill=ink)
    draw.ellipse([origin[0] - 60, origin[1] - 60, origin[0] + 60, origin[1] + 60], fill="#fff7d6")


def _hills(draw: ImageDraw.ImageDraw, rng: random.Random, ink: str) -> None:
    w, h = SIZE
    for layer, colour in enumerate(("#2b2d42", ink, "#11151c")):
        peak = rng.randint(int(w * 0.2), int(w * 0.8))
        top = int(h * (0.35 + 0.12 * layer))
        draw.polygon([(peak - 700, h), (peak, top), (peak + 700, h)], fill=colour)
    draw.ellipse([w - 360, 80, w - 160, 280], fill="#ffd166")


def _bubbles(draw: ImageDraw.ImageDraw, rng: random.Random, ink: str) -> None:
    w, h = SIZE
    for _ in range(18):
        r = rng.randint(40, 190)
        x, y = rng.randint(0, w), rng.randint(0, h)
        colour = rng.choice([ink, "#ffffff", "#ffcad4", "#b8f2e6"])
        draw.ellipse([x - r, y - r, x + r, y + r], outline=colour, width=rng.randint(8, 22))


def _grid(draw: ImageDraw.ImageDraw, rng: random.Random, ink: str) -> None:
    """Storyboard frames."""
    for row in range(2):
        for col in range(3):
            x, y = 90 + col * 480, 90 + row * 300
            draw.rectangle([x, y, x + 420, y + 250], outline="#ffffff", width=8)
            cx, cy = x + rng.randint(100, 320), y + rng.randint(80, 170)
            draw.ellipse([cx - 40, cy - 40, cx + 40, cy + 40], fill=ink)
            draw.line([x + 20, y + 230, x + 400, y + rng.randint(120, 230)], fill=ink, width=6)


MOTIFS: dict[str, Callable] = {
    "film": _film_strip,
    "pixels": _pixels,
    "beams": _beams,
    "hills": _hills,
    "bubbles": _bubbles,
    "storyboard": _grid,
}


def _wrap(text: str, font: ImageFont.FreeTypeFont, width: int, draw) -> list[str]:
    lines: list[str] = []
    for word in text.split():
        trial = f"{lines[-1]} {word}" if lines else word
        if lines and draw.textlength(trial, font=font) <= width:
            lines[-1] = trial
        else:
            lines.append(word)
    return lines


def poster(title: str, caption: str, *, top: str, bottom: str, motif: str, ink: str) -> bytes:
    """A 1600 x 1000 poster as JPEG bytes."""
    rng = _rng(title)
    image = _gradient(top, bottom)
    layer = Image.new("RGB", SIZE)
    layer.paste(image)
    draw = ImageDraw.Draw(layer)
    MOTIFS[motif](draw, rng, ink)
    image = Image.blend(image, layer, 0.75).filter(ImageFilter.SMOOTH)
    draw = ImageDraw.Draw(image)
    # The title on a dark band at the bottom, in large letters.
    band_top = int(SIZE[1] * 0.58)
    shade = Image.new("L", SIZE, 0)
    ImageDraw.Draw(shade).rectangle([0, band_top, SIZE[0], SIZE[1]], fill=170)
    image.paste(Image.new("RGB", SIZE, "#0b0b12"), mask=shade)
    draw = ImageDraw.Draw(image)
    font, accents = _font(84)
    small, _accents = _font(44)
    y = band_top + 40
    for line in _wrap(_drawable(title, accents), font, SIZE[0] - 160, draw)[:3]:
        draw.text((80, y), line, font=font, fill="#ffffff")
        y += 104
    caption = _drawable(caption, accents)
    draw.text((80, min(y + 10, SIZE[1] - 80)), caption, font=small, fill="#f1f1f1")
    out = io.BytesIO()
    image.save(out, "JPEG", quality=92)
    return out.getvalue()


def logo(initials: str, colour: str) -> bytes:
    """A square logo: initials in a coloured disc."""
    image = Image.new("RGBA", (400, 400), (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)
    draw.ellipse([10, 10, 390, 390], fill=colour)
    font, _accents = _font(170)
    box = draw.textbbox((0, 0), initials, font=font)
    x = (400 - (box[2] - box[0])) / 2 - box[0]
    y = (400 - (box[3] - box[1])) / 2 - box[1]
    draw.text((x, y), initials, font=font, fill="#ffffff")
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()
