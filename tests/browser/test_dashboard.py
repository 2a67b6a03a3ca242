"""The dashboard and the virtual terminal in real headless Chromium (Debian's ``chromium``,
driven by Playwright): a payment keyed on the virtual terminal appears in the dashboard's
message ladder with its fields explained in French, Arabic (right to left) and English, and a
fault button changes a terminal's live status. Screenshots go to the test's output directory
(``TPESIM_SCREENSHOTS``, else the test's tmp_path)."""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from playwright.async_api import Page, async_playwright, expect

from tests.conftest import MosquittoProcess
from tests.serving import served
from tpesim.serve import ServeConfig

pytestmark = pytest.mark.integration

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip
TIMEOUT_MS = 20_000


@pytest.fixture
async def page(tmp_path: Path) -> AsyncIterator[Page]:
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI"):
            pytest.fail("the browser test needs Debian's chromium (apt-get install chromium)")
        pytest.skip("no chromium on this machine (apt-get install chromium)")
    async with async_playwright() as driver:
        browser = await driver.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        context = await browser.new_context(viewport={"width": 1400, "height": 1300})
        context.set_default_timeout(TIMEOUT_MS)
        try:
            yield await context.new_page()
        finally:
            await browser.close()


def _shots(tmp_path: Path) -> Path:
    where = Path(os.environ.get("TPESIM_SCREENSHOTS", tmp_path))
    where.mkdir(parents=True, exist_ok=True)
    return where


async def test_a_payment_keyed_on_the_virtual_terminal_shows_in_the_ladder_explained(
    mosquitto: MosquittoProcess, tmp_path: Path, page: Page
) -> None:
    config = ServeConfig(port=0, terminals=3, broker=mosquitto.url, workdir=tmp_path / "serve")
    async with served(config) as (base, tids):
        tid = next(t for t in tids if t.startswith("DZ"))
        await page.goto(f"{base}/terminal")
        await expect(page.locator("body")).to_have_attribute("data-ready", "yes")
        await page.select_option("#terminal-select", tid)
        await page.select_option("#card-select", "EDH-VALID")
        for key in "150000":
            await page.click(f"#keypad [data-key='{key}']")
        await expect(page.locator("#amount-shown")).to_have_text("1 500,00 DZD")
        await page.click("#key-ok")
        for key in "1234":
            await page.click(f"#keypad [data-key='{key}']")
        await expect(page.locator("#pin-shown")).to_have_text("****")
        await page.click("#key-ok")
        await expect(page.locator("#verdict")).to_contain_text("00")
        await expect(page.locator("#receipt")).to_contain_text("TRANSACTION ACCEPTEE")
        await expect(page.locator("#receipt")).to_contain_text("628058******7215")
        payment_id = await page.locator("#ladder-link").get_attribute("data-id")
        assert payment_id and payment_id.startswith(f"{tid}-")
        await page.screenshot(path=_shots(tmp_path) / "virtual-terminal.png", full_page=True)

        await page.click("#ladder-link")  # the dashboard, with this payment's ladder open
        await expect(page.locator(f"#feed tr[data-id='{payment_id}']")).to_be_visible()
        hops = page.locator("#ladder-grid .hop")
        await expect(hops).to_have_count(7)  # T→B→S→issuer→S, S→ledger, S→B→T
        await expect(hops.nth(2)).to_contain_text("algerie-poste")
        await expect(hops.nth(4)).to_contain_text("CCP-0001001")
        await hops.nth(0).click()  # the 0200 as the terminal sent it
        amount = page.locator("#fields-table tr[data-de='4']")
        await page.select_option("#lang", "fr")
        await expect(amount).to_contain_text("Montant")
        await expect(hops.nth(0)).to_contain_text("0200 Demande financière")
        await expect(amount).to_contain_text("1 500,00 DZD")
        await expect(page.locator("#fields-table tr[data-de='3']")).to_contain_text("Achat")
        await expect(page.locator("#fields-table tr[data-de='52']")).to_contain_text("<redacted>")
        await page.select_option("#lang", "ar")
        await expect(page.locator("html")).to_have_attribute("dir", "rtl")
        await expect(amount).to_contain_text("المبلغ")
        await expect(hops.nth(0)).to_contain_text("طلب مالي")
        await expect(amount).to_contain_text("1 500,00 دج")
        await page.select_option("#lang", "en")
        await hops.nth(6).click()  # the 0210 as the terminal received it
        await expect(page.locator("#fields-table tr[data-de='39']")).to_contain_text("Approved")

        await page.click(f"#tpe-{tid} button:nth-of-type(3)")  # paper out
        await expect(page.locator(f"#tpe-{tid} .pill")).to_have_text("degraded:paper-out")
        mermaid = await page.request.get(f"{base}/ui/transactions/{payment_id}/mermaid")
        assert "S->>L: purchase pending" in await mermaid.text()
        await page.screenshot(path=_shots(tmp_path) / "dashboard.png", full_page=True)

        # The issuer's back office: block a card, then set its balance (issue 20, item 6).
        await page.select_option("#office-card", "CIB-VALID")
        await page.click("#office-block")
        await expect(page.locator("#office-result")).to_have_text("CIB-VALID: block")
        await page.fill("#office-balance", "1e3")
        await page.click("#office-set")
        await expect(page.locator("#office-result")).to_have_text("Not an amount (e.g. 1500,00)")
        await page.fill("#office-balance", "250,00")
        await page.click("#office-set")
        await expect(page.locator("#office-result")).to_contain_text("to 250,00 DZD")
        events = await page.request.get(f"{base}/v1/cards/CIB-VALID/events")
        assert [e["action"] for e in await events.json()] == ["block", "set-balance"]
