"""The development evidence server's HTTP side: ``GET /evidence/<path>.jpg`` draws the picture."""

from __future__ import annotations

import argparse
import io
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path

from fastapi import FastAPI, Query
from fastapi.responses import Response
from PIL import Image, ImageDraw, ImageFont

from qzx_common.web.serve import serve

SIZE = (640, 400)
# A font with Chinese (the plate's province character); without one Pillow's own, which draws it as a box.
CJK_FONTS = (
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
)


@lru_cache(maxsize=4)
def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    for path in CJK_FONTS:
        if Path(path).exists():
            return ImageFont.truetype(path, size)
    return ImageFont.load_default(size)


def render(*, plate: str | None, device: str, name: str) -> bytes:
    """A JPEG placeholder: the plate large (or 无牌 no plate), the device and the picture's name."""
    image = Image.new("RGB", SIZE, (18, 28, 44))
    draw = ImageDraw.Draw(image)
    draw.rectangle((150, 140, 490, 230), fill=(20, 70, 170), outline=(235, 235, 235), width=4)
    draw.text((320, 185), plate or "无牌 no plate", font=_font(56), fill=(255, 255, 255), anchor="mm")
    draw.text((20, 20), device, font=_font(28), fill=(255, 207, 122))
    draw.text((20, 360), name, font=_font(18), fill=(160, 180, 210))
    draw.text((620, 20), "DEV", font=_font(24), fill=(255, 90, 90), anchor="ra")
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=80)
    return out.getvalue()


def create_app() -> FastAPI:
    app = FastAPI(title="qzx development evidence images", docs_url=None, redoc_url=None)

    @app.get("/healthz", include_in_schema=False)
    @app.get("/readyz", include_in_schema=False)
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/evidence/{path:path}")
    async def picture(
        path: str,
        plate: str | None = Query(default=None, max_length=16),
        device: str = Query(default="", max_length=64),
    ) -> Response:
        jpeg = render(plate=plate, device=device, name=path.rsplit("/", 1)[-1][:80])
        # The same URL always draws the same picture: the browser may keep it.
        return Response(jpeg, media_type="image/jpeg", headers={"Cache-Control": "max-age=86400"})

    return app


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m qzx_dev.evidence", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8010)
    args = parser.parse_args(argv)
    serve(create_app, service="evidence", host=args.host, port=args.port, log_level="INFO", log_json=True)
