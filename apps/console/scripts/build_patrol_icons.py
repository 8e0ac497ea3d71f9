"""Draw the patrol app's home-screen icons (the web app manifest's 192 and 512 px PNGs): a white
star on a blue disc over the page's dark background, kept inside the middle 80 % so that a
launcher's round or squircle mask ("maskable") never cuts it.

    uv run python apps/console/scripts/build_patrol_icons.py

writes ``src/qzx_console/static/icons/patrol-{192,512}.png`` (commit them). Pillow arrives with
matplotlib in the workspace's development environment; the console itself never needs it.
"""

from __future__ import annotations

import math
from pathlib import Path

from PIL import Image, ImageDraw

OUT = Path(__file__).resolve().parents[1] / "src/qzx_console/static/icons"
SIZES = (192, 512)
BACKGROUND = "#0d1b2e"  # patrol.css --bg
DISC = "#1f6feb"  # patrol.css button blue
STAR = "#ffffff"
SUPERSAMPLE = 4  # drawn large and scaled down: smooth edges without an anti-aliasing drawer


def star(cx: float, cy: float, outer: float, inner: float) -> list[tuple[float, float]]:
    """A five-pointed star, one point up."""
    points = []
    for i in range(10):
        radius = outer if i % 2 == 0 else inner
        angle = -math.pi / 2 + i * math.pi / 5
        points.append((cx + radius * math.cos(angle), cy + radius * math.sin(angle)))
    return points


def icon(size: int) -> Image.Image:
    big = size * SUPERSAMPLE
    image = Image.new("RGB", (big, big), BACKGROUND)
    draw = ImageDraw.Draw(image)
    centre, disc = big / 2, big * 0.38
    draw.ellipse((centre - disc, centre - disc, centre + disc, centre + disc), fill=DISC)
    draw.polygon(star(centre, centre * 1.03, disc * 0.72, disc * 0.29), fill=STAR)
    return image.resize((size, size), Image.Resampling.LANCZOS)


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    for size in SIZES:
        path = OUT / f"patrol-{size}.png"
        icon(size).save(path, optimize=True)
        print(f"wrote {path} ({path.stat().st_size} bytes)")


if __name__ == "__main__":
    main()
