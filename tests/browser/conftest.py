"""Browser tests may drive the live server with a real broker, Celery worker and beat."""

from __future__ import annotations

import pytest
from PIL import Image

from tests.browser_support import PHONE
from tests.integration.conftest import beat, broker, worker  # noqa: F401


@pytest.fixture
def photos(tmp_path):
    """Two small JPEGs a phone could have taken, as files to choose."""
    paths = []
    for name, colour in (("wall.jpg", (150, 120, 90)), ("crack.jpg", (60, 60, 70))):
        path = tmp_path / name
        Image.new("RGB", (320, 240), colour).save(path, "JPEG")
        paths.append(str(path))
    return paths


# A point inside 江塘村第一网格 (tree.grid_a1) of the test tree.
GPS_A1 = {"latitude": 29.7, "longitude": 91.2}


@pytest.fixture
def resident_phone(chromium, settings):
    """A resident's phone without an account, its GPS at GPS_A1 and no map tiles."""
    settings.MAP_TILE_URL = "/no-tiles-here/{z}/{x}/{y}.png"
    context = chromium.new_context(
        viewport=PHONE,
        is_mobile=True,
        has_touch=True,
        locale="zh-CN",
        geolocation=GPS_A1,
        permissions=["geolocation"],
    )
    context.set_default_timeout(15_000)
    yield context
    context.close()
