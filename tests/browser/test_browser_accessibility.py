"""Accessibility basics in a real browser: labels, keyboard use, visible focus, contrast, and
results announced to screen readers."""

from __future__ import annotations

import pytest
from browser_helpers import COLOURS_OF, apply_filter, contrast_ratio, expect, upload

# The page's controls in Tab order.
TAB_ORDER = ["#photo", "#upload-form button.submit", "#measurements summary", ".site-footer a"]

# Text shown on each state of the page; WCAG AA asks 4.5:1 for normal-size text.
TEXT_ON_THE_FORM = ["h1", ".site-header p", ".drop-label", ".help", ".submit",
                    "#measurements summary", ".site-footer p", ".site-footer a"]
TEXT_ON_A_RESULT = ["#result h2", "#result .confidence", "#result .bars-heading",
                    "#result .bar-label", "#result .bar-value", "#result figcaption"]
TEXT_ON_AN_ERROR = ["#result .error-box h2", "#result .error-box p"]
# Graphics needed to read a result, against what is behind them: 3:1 (WCAG 1.4.11).
BAR_FILLS = ["#result .bar.is-answer .bar-fill", "#result .bar:not(.is-answer) .bar-fill"]


def focused(page) -> str:
    """A short description of the focused element: tag, id and class."""
    return page.evaluate("""() => {
        const e = document.activeElement;
        return e.tagName.toLowerCase() + (e.id ? "#" + e.id : "") +
            (e.className ? "." + String(e.className).split(" ")[0] : "");
    }""")


def focus_style(page, selector: str) -> dict:
    return page.locator(selector).evaluate("""(e) => {
        const s = getComputedStyle(e);
        return { outlineStyle: s.outlineStyle, outlineWidth: s.outlineWidth,
                 outlineColor: s.outlineColor, boxShadow: s.boxShadow,
                 focusVisible: e.matches(":focus-visible") };
    }""")


def test_every_control_has_a_label_or_name(page, server, colour_photo):
    page.goto(server)
    expect(page.get_by_label("Choose a photo")).to_have_attribute("type", "file")
    expect(page.get_by_role("button", name="Classify photo")).to_be_visible()
    expect(page.get_by_role("link", name="API documentation")).to_be_visible()
    unnamed = page.evaluate("""() => [...document.querySelectorAll(
            "input, button, select, textarea, a[href]")].filter((e) => {
        const labelled = (e.labels && e.labels.length) || e.getAttribute("aria-label") ||
            e.getAttribute("aria-labelledby");
        return !labelled && !e.textContent.trim();
    }).map((e) => e.outerHTML)""")
    assert unnamed == []
    expect(page.get_by_role("region", name="Result")).to_have_attribute("aria-live", "polite")
    page.get_by_label("Choose a photo").set_input_files(upload("red.jpg", colour_photo("red")))
    expect(page.get_by_role("img", name="The photo you sent")).to_be_visible()
    expect(page.get_by_role("heading", level=2)).to_have_text("Adelie penguin")
    expect(page.get_by_role("list")).to_have_count(1)


def test_keyboard_only_choose_a_photo_and_classify(page, server, colour_photo):
    # Keeps Playwright intercepting file choosers between the two below (it stops and starts
    # again as listeners come and go, and a chooser opened in between would be missed).
    page.on("filechooser", lambda chooser: None)
    page.goto(server)
    page.keyboard.press("Tab")
    assert focused(page) == "input#photo"
    with page.expect_file_chooser() as chooser:
        page.keyboard.press("Space")
    with page.expect_response("**/predict"):
        chooser.value.set_files(upload("red.jpg", colour_photo("red")))
    expect(page.locator("#result h2")).to_have_text("Adelie penguin")

    page.keyboard.press("Tab")
    assert focused(page) == "button.submit"
    with page.expect_response("**/predict") as response:
        page.keyboard.press("Enter")
    assert response.value.ok
    with page.expect_response("**/predict"):
        page.keyboard.press("Space")
    expect(page.locator("#result h2")).to_have_text("Adelie penguin")
    assert focused(page) == "button.submit", "focus stays where the user is"

    # Back to the file input, where Enter opens the chooser too; then Tab reaches the link.
    page.keyboard.press("Shift+Tab")
    assert focused(page) == "input#photo"
    with page.expect_file_chooser() as chooser:
        page.keyboard.press("Enter")
    chooser.value.set_files(upload("green.jpg", colour_photo("green")))
    expect(page.locator("#result h2")).to_have_text("Chinstrap penguin")
    page.keyboard.press("Tab")
    page.keyboard.press("Tab")
    assert focused(page) == "summary", "the folded measurements form"
    page.keyboard.press("Tab")
    assert focused(page) == "a"


def test_keyboard_focus_is_clearly_visible(page, server):
    page.goto(server)
    unfocused = {selector: focus_style(page, selector) for selector in TAB_ORDER}
    for selector in TAB_ORDER:
        page.keyboard.press("Tab")
        assert page.locator(selector).evaluate("e => e === document.activeElement"), selector
        style = focus_style(page, selector)
        assert style["focusVisible"], selector
        assert style != unfocused[selector], f"{selector} looks the same when focused"
        ring = style["outlineStyle"] != "none" and float(style["outlineWidth"][:-2]) >= 2
        assert ring or style["boxShadow"] != "none", (selector, style)
        if ring:
            (colours,) = page.evaluate(COLOURS_OF, [selector])
            ratio = contrast_ratio(style["outlineColor"], colours["behind"])
            assert ratio >= 3, f"focus ring of {selector}: {ratio:.2f}:1"


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_text_and_bars_have_enough_contrast(page, server, scheme, colour_photo):
    page.emulate_media(color_scheme=scheme)
    page.goto(server)

    def check(selectors: list[str], minimum: float, foreground: str = "color") -> None:
        for colours in page.evaluate(COLOURS_OF, selectors):
            assert not colours.get("missing"), colours["selector"]
            if foreground == "color":
                ratio = contrast_ratio(apply_filter(colours["color"], colours["filter"]),
                                       apply_filter(colours["background"], colours["filter"]))
            else:  # a filled shape against what is behind it
                ratio = contrast_ratio(colours["background"], colours["behind"])
            assert ratio >= minimum, f"{colours['selector']} ({scheme}): {ratio:.2f}:1, {colours}"

    check(TEXT_ON_THE_FORM, 4.5)
    page.locator("#upload-form .submit").hover()
    (hovered,) = page.evaluate(COLOURS_OF, [".submit"])
    assert hovered["filter"] != "none", "the hover effect this check accounts for"
    check([".submit"], 4.5)
    page.mouse.move(0, 0)
    page.get_by_label("Choose a photo").set_input_files(upload("red.jpg", colour_photo("red")))
    expect(page.locator("#result .result")).to_be_visible()
    check(TEXT_ON_A_RESULT, 4.5)
    check(BAR_FILLS, 3, foreground="fill")
    page.get_by_label("Choose a photo").set_input_files(upload("notes.txt", b"no", "text/plain"))
    expect(page.locator("#result .error-box")).to_be_visible()
    check(TEXT_ON_AN_ERROR, 4.5)


def test_results_and_errors_are_announced_by_a_live_region(page, server, colour_photo):
    page.goto(server)
    region = page.locator("[aria-live]")
    expect(region).to_have_count(1)
    expect(region).to_have_attribute("aria-live", "polite")
    expect(region).to_have_attribute("id", "result")
    # A live region must be in the accessibility tree before its text changes, or the first
    # change is not announced: present (not display: none), and empty.
    assert region.evaluate("e => getComputedStyle(e).display") != "none"
    assert region.inner_text().strip() == ""

    page.get_by_label("Choose a photo").set_input_files(upload("blue.jpg", colour_photo("blue")))
    expect(region).to_contain_text("Gentoo penguin")
    expect(region).to_contain_text("Confidence:")
    page.get_by_label("Choose a photo").set_input_files(upload("notes.txt", b"no", "text/plain"))
    expect(region).to_contain_text("That file")
    expect(region).not_to_contain_text("Gentoo penguin")
