"""Browser tests may drive the live server with a real broker, Celery worker and beat."""

from __future__ import annotations

import pytest
from PIL import Image

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
