"""The /chat page in a real headless browser (Debian's chromium driven by Playwright)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from playwright.async_api import Browser, Page, async_playwright, expect
from tests.http.harness import CHATBOT
from tests.http.serving import EXAMPLES, serve

pytestmark = pytest.mark.slow

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: `make test` installs Debian's chromium package")
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        await browser.close()


async def send(page: Page, text: str) -> None:
    await page.fill("#text", text)
    await page.press("#text", "Enter")


async def test_multi_turn_onboarding_conversation(browser: Browser, tmp_path: Path) -> None:
    args = [
        "--pack",
        str(EXAMPLES / "onboarding"),
        "--pack",
        f"acme={CHATBOT}",
        "--store",
        "memory",
    ]
    with serve(args, cwd=tmp_path) as served:
        page = await browser.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        await page.goto(served.url + "/chat?tenant=demo")
        await expect(page.locator("#tenant option")).to_have_count(2)
        await expect(page.locator("#tenant")).to_have_value("demo")
        bot = page.locator(".msg.bot")
        status = page.locator("#status")

        await send(page, "hi")
        await expect(bot.last).to_have_text("What is your name?")
        await expect(bot).to_have_count(2)
        await expect(status).to_have_attribute("data-state", "waiting")

        await send(page, "Ada")
        await expect(bot.last).to_contain_text("Which plan would you like: free or pro?")
        choices = page.locator(".msg.bot .choices button")
        await expect(choices).to_have_text(["free", "pro"])
        await choices.filter(has_text="pro").click()  # a button sends its value
        await expect(page.locator(".msg.user").last).to_have_text("pro")
        await expect(bot.last).to_have_text("How many seats do you need?")
        await expect(choices.first).to_be_disabled()

        await send(page, "3")
        await expect(bot.last).to_have_text(
            "Preparing a pro workspace for Ada with 3 seats. Enjoy Greentic!"
        )
        await expect(status).to_have_attribute("data-state", "done")

        # Another tenant, another bot: the selector starts a new conversation.
        await page.select_option("#tenant", "acme")
        await expect(page.locator(".msg")).to_have_count(0)
        await send(page, "hi")
        await expect(bot.last).to_have_text("What is your name?")
        await expect(bot.first).to_have_text("Hello! I am the test bot.")
        assert errors == []
        await page.screenshot(path=str(tmp_path / "chat.png"))


async def test_errors_are_shown_in_the_page(browser: Browser, tmp_path: Path) -> None:
    args = ["--pack", str(CHATBOT), "--store", "memory"]
    with serve(args, cwd=tmp_path) as served:
        page = await browser.new_page()
        await page.goto(served.url + "/chat")
        await expect(page.locator("#tenant")).to_have_value("demo")
        await page.evaluate(
            "() => { const o = document.createElement('option'); o.value = 'ghost';"
            " o.textContent = 'ghost'; document.getElementById('tenant').appendChild(o); }"
        )
        await page.select_option("#tenant", "ghost")
        await send(page, "hi")
        await expect(page.locator(".msg.error")).to_have_text("error 404: tenant ghost not loaded")
        await expect(page.locator("#status")).to_have_attribute("data-state", "error")
