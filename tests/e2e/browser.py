"""Headless Chromium for the report tests: a screenshot of a page as an RGB image, and finding
the pixels of one colour in it (the reports draw each marked element in its own colour)."""

import os
import subprocess

import numpy as np
import pytest


def chromium():
    """The Chromium binary, or skip the test (scripts/install-deps.sh installs it)."""
    path = next((c for c in ("/usr/bin/chromium", "/usr/bin/chromium-browser") if os.path.exists(c)), None)
    if path is None:
        pytest.skip("chromium not installed (scripts/install-deps.sh installs it)")
    return path


def screenshot(page, png, width=900, height=1400):
    """Renders `page` (a path) headless at width x height and returns the PIL RGB image."""
    from PIL import Image
    res = subprocess.run([chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                          "--window-size=%d,%d" % (width, height), "--screenshot=%s" % png, page.as_uri()],
                         capture_output=True, text=True, timeout=120)
    assert os.path.exists(png), res.stderr[-2000:]
    return Image.open(png).convert("RGB")


def pixels_of(img, hex_colour, tol=2):
    """(rows, cols) of the pixels within `tol` per channel of '#rrggbb'."""
    a = np.asarray(img, dtype=np.int16)
    want = [int(hex_colour[i:i + 2], 16) for i in (1, 3, 5)]
    hit = np.all(np.abs(a - np.array(want, dtype=np.int16)) <= tol, axis=2)
    return np.nonzero(hit)
