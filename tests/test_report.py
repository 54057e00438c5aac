"""The report is drawn from results.json alone; the HTML renders in headless Chromium."""

import json
import shutil
from pathlib import Path

import pytest

from medmat.study.report import verdict, write_report
from medmat.study.results import GainRow, PooledRow, ResultRow, StudyResults, Summary


def _row(target, arm, kind, acc, **kw):
    base = dict(target=target, arm=arm, kind=kind, scorer="option", accuracy=acc, seed=0, ci_low=acc - 0.05,
                ci_high=acc + 0.05, n=100, chance=0.5, pred_letters={"A": 60, "B": 40}, true_letters={"A": 50, "B": 50})
    base.update(kw)
    return ResultRow(**base)


def _results(gain_low: float) -> StudyResults:
    t1, t2 = "CT/Brain/Lesion Presence", "MRI/Lung/Laterality"
    rows = [
        _row(t1, "zero-shot", "zero-shot", 0.5), _row(t1, "unrelated-1", "unrelated", 0.55, n_train=400),
        _row(t1, "related-fixed-task-1", "related", 0.8, direction="fixed-task", sources=["s1", "s2"], n_train=400),
        _row(t2, "zero-shot", "zero-shot", 0.5), _row(t2, "unrelated-1", "unrelated", 0.5, n_train=300),
        _row(t2, "related-fixed-area-1", "related", 0.62, direction="fixed-area", sources=["s3", "s4"], n_train=300),
        _row(t1, "low-data-k50", "low-data", 0.6, k=50, with_related=False),
        _row(t1, "low-data-k50+related", "low-data", 0.75, k=50, with_related=True),
        _row(t1, "low-data-k100", "low-data", 0.7, k=100, with_related=False),
        _row(t1, "low-data-k100+related", "low-data", 0.8, k=100, with_related=True),
        _row(t1, "related-fixed-task-1", "related", 0.7, scorer="generate", invalid_rate=0.1,
             direction="fixed-task", sources=["s1", "s2"], n_train=400),
    ]
    gains = [
        GainRow(target=t1, scorer="option", related_arm="related-fixed-task-1", unrelated_arm="unrelated-1",
                direction="fixed-task", gain=0.25, ci_low=0.12, ci_high=0.37, n=100),
        GainRow(target=t2, scorer="option", related_arm="related-fixed-area-1", unrelated_arm="unrelated-1",
                direction="fixed-area", gain=0.12, ci_low=-0.01, ci_high=0.25, n=100),
    ]
    summary = Summary(scorer="option", n_targets=2, mean_zero_shot=0.5, mean_unrelated=0.525, mean_related=0.71,
                      mean_gain=0.185, gain_ci_low=gain_low, gain_ci_high=0.3, related_wins=2, comparisons=2)
    pooled = [
        PooledRow(scorer="option", target=t1, direction="fixed-task", related_arm="related-fixed-task-1",
                  unrelated_arm="unrelated-1", sources=["s1", "s2"], n_train=400, seeds=[0], zero_shot=0.5,
                  unrelated=0.55, related=0.8, gain=0.25, gain_ci_low=0.12, gain_ci_high=0.37),
        PooledRow(scorer="option", target=t2, direction="fixed-area", related_arm="related-fixed-area-1",
                  unrelated_arm="unrelated-1", sources=["s3", "s4"], n_train=300, seeds=[0], zero_shot=0.5,
                  unrelated=0.5, related=0.62, gain=0.12, gain_ci_low=-0.01, gain_ci_high=0.25),
    ]
    return StudyResults(name="fixture study", description="test fixture", rows=rows, gains=gains,
                        summaries=[summary], seeds=[0], pooled=pooled, provenance={"git": "abc"})


def test_report_tables_and_figures(tmp_path):
    _results(0.08).save(tmp_path / "results.json")
    out = write_report(tmp_path)
    md = out["markdown"].read_text()
    assert "### Fixed task" in md and "### Fixed area" in md
    assert "80.0 [75.0, 85.0]" in md  # related cell of target 1, from the data
    assert "+25.0 [+12.0, +37.0] *" in md  # significant gain starred
    assert "+12.0 [-1.0, +25.0] |" in md  # not significant: no star
    for key in ("arms-option", "gain-option", "lowdata-option", "bias-option", "invalid"):
        assert out[key].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    page = out["html"].read_text()
    assert page.count("data:image/png;base64,") >= 5  # self-contained
    assert "src='figures/" not in page


def test_verdict_is_honest_when_interval_includes_zero(tmp_path):
    res = _results(-0.02)
    text = verdict(res.summaries[0])
    assert "does NOT show" in text
    assert "helped" not in text
    assert "excludes zero" in verdict(_results(0.01).summaries[0])
    res.save(tmp_path / "results.json")
    page = write_report(tmp_path)["html"].read_text()
    assert "verdict warn" in page


def test_results_roundtrip_rejects_unknown_fields(tmp_path):
    res = _results(0.1)
    res.save(tmp_path / "r.json")
    assert StudyResults.load(tmp_path / "r.json") == res
    data = json.loads((tmp_path / "r.json").read_text())
    data["rows"][0]["acuracy"] = 1
    (tmp_path / "bad.json").write_text(json.dumps(data))
    with pytest.raises(Exception, match="acuracy"):
        StudyResults.load(tmp_path / "bad.json")


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")


@pytest.mark.browser
@pytest.mark.skipif(not (CHROMIUM and CHROMEDRIVER), reason="Debian chromium/chromium-driver not installed")
def test_html_report_renders_in_headless_chromium(tmp_path):
    webdriver = pytest.importorskip("selenium.webdriver")
    from selenium.webdriver.chrome.service import Service

    _results(0.08).save(tmp_path / "results.json")
    html_path = write_report(tmp_path)["html"]
    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage", f"--user-data-dir={tmp_path / 'profile'}", "--window-size=1200,1600"):
        opts.add_argument(flag)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=opts)
    try:
        driver.get(html_path.resolve().as_uri())
        assert "fixture study" in driver.title
        assert len(driver.find_elements("tag name", "table")) >= 2
        decoded = driver.execute_script(
            "return Array.from(document.images).map(i => i.complete && i.naturalWidth > 0)")
        assert decoded and all(decoded)
        shot = tmp_path / "report.png"
        assert driver.save_screenshot(str(shot))
    finally:
        driver.quit()
    from PIL import Image

    img = Image.open(shot).convert("L")
    assert img.size[0] >= 1000
    lo, hi = img.getextrema()
    assert hi - lo > 100  # not a blank page
