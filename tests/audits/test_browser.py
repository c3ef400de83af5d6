"""The HTML report in a real browser (headless Chromium, Debian's ``chromium`` package, which
``scripts/apt-ensure chromium chromium`` installs): it loads with no console errors, every plot is
drawn (its screenshot region is not blank), and the verdicts are in the DOM."""

import io

import pytest
from support.browser import Browser, find_chromium

import latentgeo
from latentgeo.datasets import make_example

CHROMIUM = find_chromium()
pytestmark = pytest.mark.skipif(
    CHROMIUM is None,
    reason="no headless Chromium on PATH (scripts/apt-ensure chromium chromium installs it)",
)

GEOMETRY = """JSON.stringify({
  plots: [...document.querySelectorAll('figure.plot svg')].map(e => {
    const r = e.getBoundingClientRect();
    return {id: e.parentElement.id, x: r.left + scrollX, y: r.top + scrollY,
            w: r.width, h: r.height};
  }),
  width: document.documentElement.scrollWidth,
  height: document.documentElement.scrollHeight,
  text: document.body.innerText,
  verdicts: [...document.querySelectorAll('section.sec p.verdict')].map(p => p.textContent),
})"""


def test_report_renders_in_chromium(tmp_path):
    pytest.importorskip("matplotlib")
    import json

    from matplotlib.image import imread

    W = make_example(n=200, d=12, kind="softmax")
    report = latentgeo.audit(W, k=8, softmax=True)
    page = tmp_path / "report.html"
    report.to_html(page)
    with Browser(CHROMIUM, tmp_path / "profile") as browser:
        browser.load(page.as_uri())
        assert browser.errors() == []
        got = json.loads(browser.evaluate(GEOMETRY))
        png = browser.screenshot(got["width"], got["height"])
        assert browser.errors() == []

    # The verdicts are in the DOM, one per section, in order.
    assert got["verdicts"] == [s.verdict for s in report.sections]
    assert "Suggested next step" in got["text"] or "SUGGESTED NEXT STEP" in got["text"]
    # Every plot is laid out with a real size ...
    ids = [p["id"] for p in got["plots"]]
    assert ids == ["plot-array-0", "plot-hubness-0", "plot-hubness-1", "plot-whitening-0",
                   "plot-geodesic-0", "plot-unargmaxable-0"]  # fmt: skip
    assert all(p["w"] > 300 and p["h"] > 100 for p in got["plots"])
    assert max(p["x"] + p["w"] for p in got["plots"]) <= got["width"] + 1  # no overflow
    # ... and drawn: its region of the screenshot is not blank.
    img = imread(io.BytesIO(png))[..., :3]
    assert img.shape[0] >= got["height"] - 1 and img.shape[1] >= got["width"] - 1
    for p in got["plots"]:
        x0, y0 = int(p["x"]) + 2, int(p["y"]) + 2
        region = img[y0 : y0 + int(p["h"]) - 4, x0 : x0 + int(p["w"]) - 4]
        ink = (region.min(axis=2) < 0.85).mean()  # share of clearly non-white pixels
        assert ink > 0.02, (p["id"], ink)
        assert region.std() > 0.05, p["id"]
    # The page outside the plots is not blank either (text and badges drew).
    assert (img[:200].min(axis=2) < 0.5).mean() > 0.005
