"""The console in a real browser (Debian's chromium driven by Playwright), as a new user:
sign in with the bootstrap key, deploy a tiny local model through the form, watch it go live,
change its bounds and see replicas follow, run a playground request, then deploy a second version
into staging, promote it to production from the Environments panel and roll back. Screenshots of
each page land in $PLINTH_ARTIFACTS (default: the test's tmp folder)."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pytest

from tests.support.platform import PlatformProcess

if TYPE_CHECKING:
    from playwright.sync_api import Page

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

CHROMIUM = Path("/usr/bin/chromium")
DIST = Path(__file__).resolve().parents[2] / "frontend" / "dist" / "index.html"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def _require(ok: bool, what: str) -> None:
    if ok:
        return
    if os.environ.get("CI") == "true":
        pytest.fail(f"{what} is required under CI=true")
    print(f"!!! {what} is missing: skipping the console browser test")
    pytest.skip(f"{what} is missing")


@pytest.fixture()
def platform(tmp_path: Path, tiny_hf_home: Path) -> Iterator[PlatformProcess]:
    _require(CHROMIUM.exists(), "Debian's chromium (/usr/bin/chromium)")
    _require(DIST.exists(), "the built console (make console)")
    proc = PlatformProcess(tmp_path / "plinth", tiny_hf_home).start()
    try:
        yield proc
    finally:
        proc.stop()


def test_new_user_deploys_scales_and_calls_a_model(
    platform: PlatformProcess, tmp_path: Path
) -> None:
    from playwright.sync_api import expect, sync_playwright

    shots = Path(os.environ.get("PLINTH_ARTIFACTS", tmp_path / "screenshots"))
    shots.mkdir(parents=True, exist_ok=True)
    assert platform.api_key is not None
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.goto(platform.url + "/")
            page.get_by_label("API key").fill("pl_wrong_key")
            page.get_by_role("button", name="Sign in").click()
            expect(page.get_by_role("alert").first).to_be_visible()
            page.screenshot(path=str(shots / "01-sign-in-rejected.png"), full_page=True)

            page.get_by_label("API key").fill(platform.api_key)
            page.get_by_role("button", name="Sign in").click()
            expect(page.get_by_role("link", name="Deploy a model")).to_be_visible()
            page.screenshot(path=str(shots / "02-models-empty.png"), full_page=True)

            page.goto(platform.url + "/#/deploy")
            page.get_by_label("Hugging Face repository").fill("plinth-test/tiny-classifier")
            # The task is read from the cached repository's config.json.
            expect(page.get_by_label("Task", exact=True)).to_have_value("text-classification")
            page.get_by_label("Name", exact=True).fill("console-demo")
            page.get_by_label("Min replicas").fill("3")
            page.get_by_label("Max replicas").fill("2")
            page.get_by_role("button", name="Deploy").click()
            expect(page.get_by_text(re.compile("must not exceed"))).to_be_visible()
            page.screenshot(path=str(shots / "03-deploy-field-error.png"), full_page=True)

            page.get_by_label("Min replicas").fill("1")
            page.get_by_role("button", name="Deploy").click()
            expect(page.get_by_text("console-demo is live")).to_be_visible(timeout=120_000)
            page.screenshot(path=str(shots / "04-deploy-live.png"), full_page=True)

            page.goto(platform.url + "/#/models/console-demo")
            scaling = page.get_by_role("form", name="Scaling")
            scaling.get_by_label("Min replicas").fill("2")
            scaling.get_by_role("button", name="Apply").click()
            expect(scaling.get_by_text(re.compile("^Applied"))).to_be_visible()
            expect(scaling.get_by_label("Min replicas")).to_have_value("2")
            rows = page.get_by_role("table", name=re.compile("Replicas of version")).locator(
                "tbody tr"
            )
            ready = rows.filter(has_text=re.compile("ready", re.IGNORECASE))
            expect(ready).to_have_count(2, timeout=120_000)
            page.screenshot(path=str(shots / "05-model-two-replicas.png"), full_page=True)

            page.goto(platform.url + "/#/models/console-demo/playground")
            page.get_by_label(re.compile("Texts")).fill("plinth serves models")
            page.get_by_role("button", name="Send request").click()
            response = page.get_by_role("region", name="Response")
            expect(response).to_contain_text(re.compile("LABEL|label", re.IGNORECASE))
            page.screenshot(path=str(shots / "06-playground.png"), full_page=True)

            page.get_by_role("navigation", name="Model sections").get_by_role(
                "link", name="Logs"
            ).click()
            lines = page.get_by_role("log", name="Log lines")
            expect(lines).to_contain_text("plinth-replica", timeout=15_000)
            page.screenshot(path=str(shots / "06b-logs.png"), full_page=True)

            # Traffic for the charts; the platform records a point every 10 s.
            for _ in range(5):
                sent = httpx.post(
                    f"{platform.url}/v1/models/console-demo/predict",
                    json={"inputs": "plinth"},
                    headers={"Authorization": f"Bearer {platform.api_key}"},
                    timeout=30,
                )
                assert sent.status_code == 200, sent.text
            page.get_by_role("navigation", name="Model sections").get_by_role(
                "link", name="Metrics"
            ).click()
            page.get_by_role("group", name="Time window").get_by_role(
                "button", name="15 min"
            ).click()
            load = page.get_by_role("figure", name="Load and replicas")
            expect(load.locator('path[data-series="Requests/s"]')).to_have_count(1, timeout=40_000)
            latency = page.get_by_role("figure", name="Latency percentiles")
            expect(latency.locator('path[data-series="p99"]')).to_have_count(1, timeout=40_000)
            history = page.get_by_role("table", name="Cold-start history")
            expect(history.locator("tbody tr").first).to_be_visible(timeout=30_000)
            page.screenshot(path=str(shots / "06c-metrics.png"), full_page=True)
            page.get_by_role("navigation", name="Model sections").get_by_role(
                "link", name="Overview"
            ).click()
            replicas = page.get_by_role("table", name=re.compile("Replicas of version"))
            expect(replicas).to_contain_text("MiB", timeout=30_000)  # latest memory per replica

            page.get_by_role("link", name="API keys").click()
            create = page.get_by_role("form", name="Create an API key")
            create.get_by_label("Name (optional)").fill("console-bot")
            create.get_by_label("invoke").check()
            page.get_by_label("Only these models").check()
            page.get_by_label("Model names").fill("console-demo")
            create.get_by_role("button", name="Create key").click()
            new_key = page.get_by_label("New API key").input_value(timeout=10_000)
            assert new_key.startswith("pl_")
            page.screenshot(path=str(shots / "07-key-created.png"), full_page=True)
            scoped = httpx.post(
                f"{platform.url}/v1/models/console-demo/predict",
                json={"inputs": "hi"},
                headers={"Authorization": f"Bearer {new_key}"},
                timeout=30,
            )
            assert scoped.status_code == 200, scoped.text
            page.get_by_role("button", name="Done").click()
            page.get_by_role("button", name=f"Revoke {new_key[:11]}").click()
            page.get_by_role("form", name="Confirm revoke").get_by_role(
                "button", name="Revoke key"
            ).click()
            expect(page.get_by_text(re.compile(r"^Revoked pl_"))).to_be_visible()
            page.screenshot(path=str(shots / "08-key-revoked.png"), full_page=True)
            revoked = httpx.post(
                f"{platform.url}/v1/models/console-demo/predict",
                json={"inputs": "hi"},
                headers={"Authorization": f"Bearer {new_key}"},
                timeout=30,
            )
            assert revoked.status_code == 401

            _second_version_promote_and_rollback(page, platform, shots)
        finally:
            browser.close()


def _served_version(platform: PlatformProcess) -> str | None:
    assert platform.api_key is not None
    answer = httpx.post(
        f"{platform.url}/v1/models/console-demo/predict",
        json={"inputs": "plinth"},
        headers={"Authorization": f"Bearer {platform.api_key}"},
        timeout=60,
    )
    assert answer.status_code == 200, answer.text
    version = answer.headers.get("X-Plinth-Deployment-Version")
    return None if version is None else str(version)


def _second_version_promote_and_rollback(
    page: Page, platform: PlatformProcess, shots: Path
) -> None:
    """Version 2 into staging through the form; promoting it to production copies it as version
    3 (a deployment serves one environment at a time); rolling back serves version 1 again."""
    from playwright.sync_api import expect

    page.goto(platform.url + "/#/deploy")
    page.get_by_label("Hugging Face repository").fill("plinth-test/tiny-classifier")
    page.get_by_label("Name", exact=True).fill("console-demo")
    page.get_by_label("Environment", exact=True).select_option("staging")
    expect(page.get_by_text(re.compile("deploying creates its next version"))).to_be_visible()
    page.get_by_role("button", name="Deploy a new version to staging").click()
    expect(page.get_by_text("console-demo is live in staging")).to_be_visible(timeout=120_000)

    page.goto(platform.url + "/#/models/console-demo/versions")
    production = page.get_by_role("article", name="Environment production")
    expect(page.get_by_test_id("serves-staging")).to_have_text("version 2")
    expect(production.get_by_test_id("serves-production")).to_have_text("version 1")
    expect(production.get_by_role("button", name="Roll back production")).to_be_disabled()
    page.screenshot(path=str(shots / "09-environments-two-versions.png"), full_page=True)

    production.get_by_role("button", name="Promote a version…").click()
    confirm = production.get_by_role("form", name="Promote to production")
    expect(confirm.get_by_label("Version")).to_contain_text("Version 2")
    confirm.get_by_role("button", name="Promote to production").click()
    progress = page.get_by_role("region", name="Action progress")
    expect(progress).to_be_visible(timeout=5_000)  # feedback at once, then live progress
    expect(progress.get_by_role("heading", name="production now serves version 3")).to_be_visible(
        timeout=120_000
    )
    expect(production.get_by_test_id("serves-production")).to_have_text("version 3")
    versions = page.get_by_role("table", name="Versions of the model")
    expect(versions.locator("tbody tr").first).to_contain_text("v2")  # v3, promoted from v2
    assert _served_version(platform) == "3"
    page.screenshot(path=str(shots / "10-versions-promoted.png"), full_page=True)

    production.get_by_role("button", name="Roll back production").click()
    production.get_by_role("form", name="Confirm rollback").get_by_role(
        "button", name="Roll back to version 1"
    ).click()
    expect(progress.get_by_role("heading", name="production now serves version 1")).to_be_visible(
        timeout=120_000
    )
    expect(production.get_by_test_id("serves-production")).to_have_text("version 1")
    assert _served_version(platform) == "1"
    page.screenshot(path=str(shots / "11-environments-rolled-back.png"), full_page=True)
