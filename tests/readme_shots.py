"""The README's pictures of `tracker serve`, from the screenshots of a browser test run:

    TRACKER_SCREENSHOTS=/tmp/shots TRACKER_REQUIRE_BROWSER=1 python -m pytest tests/test_web_browser.py -q
    python -m tests.readme_shots /tmp/shots

docs/img/web-patient-home.png is the patient's home page on a phone (375 px, whole page) and
docs/img/web-worklist.png the worklist on a computer (1280 px, its first 1100 px), each reduced
to 256 colours so that it stays under the README's 150 kB a picture (tests/test_plots.py)."""

from __future__ import annotations

import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHOTS = {"web-patient-home.png": ("patient-home-375.png", None), "web-worklist.png": ("worklist-1280.png", 1100)}


def main(folder: Path) -> None:
    from PIL import Image

    for target, (shot, height) in SHOTS.items():
        with Image.open(folder / shot) as im:
            picture = im.convert("RGB")
        if height is not None:
            picture = picture.crop((0, 0, picture.width, min(height, picture.height)))
        out = REPO / "docs" / "img" / target
        picture.quantize(256).save(out, optimize=True)
        print(f"{out.relative_to(REPO)}: {picture.width}x{picture.height}, {out.stat().st_size // 1000} kB")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
