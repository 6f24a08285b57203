"""The browser app end to end: Playwright drives the system Chromium (offline: every host but the
service's loopback address refused) through each role from sign-in to download, at 1400 px and
390 px, with basic accessibility checks (labels, keyboard focus, contrast)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from api import store as db
from api.service import Settings, create_app
from tests.browser import browser
from tests.limits import UNLIMITED
from tests.live import serving

ADMIN = "pk_admin_app_tests_0123456789"
DESKTOP = {"width": 1400, "height": 1000}
PHONE = {"width": 390, "height": 844}


@pytest.fixture(scope="module")
def service(sample_region, tmp_path_factory):
    """A live service on loopback with an admin, a planner, a street office (town-3) and a patrol key."""
    import httpx

    folder = tmp_path_factory.mktemp("app")
    app = create_app(Settings(regions={"sample": sample_region}, db_url=db.default_db_url(folder), data_dir=folder, admin_key=ADMIN, **UNLIMITED))
    with serving(app) as base:
        station = sample_region.sites[sample_region.sites["status"] == "existing"]["name"].iloc[0]
        keys = {}
        for role, extra in (("planner", {}), ("street_office", {"town": "town-3"}), ("patrol", {"station": station})):
            r = httpx.post(f"{base}/keys", headers={"X-API-Key": ADMIN}, json={"name": f"测试{role}", "role": role, **extra})
            keys[role] = r.json()["key"]
        yield base, keys, sample_region


@pytest.fixture(scope="module")
def chromium():
    from playwright.sync_api import sync_playwright

    exe = browser()
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=exe, args=["--no-sandbox", "--disable-gpu", "--proxy-server=127.0.0.1:9",
                                                          "--proxy-bypass-list=127.0.0.1", "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1"])
        yield b
        b.close()


def open_app(chromium, base: str, viewport: dict, lang: str = "zh"):
    context = chromium.new_context(viewport=viewport, accept_downloads=True, locale="zh-CN" if lang == "zh" else "en-US")
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(base + "/")
    return context, page, errors


def sign_in(page, key: str) -> None:
    page.get_by_label("API 密钥").fill(key)
    page.keyboard.press("Enter")
    page.wait_for_selector("#tabs:not([hidden])")


GUIDE_IMAGES = Path(__file__).resolve().parents[1] / "docs" / "guides" / "img"
"""Where ``PLANNER_SCREENSHOTS=1`` writes the screenshots the guides show."""


def shot(page, name: str) -> None:
    """With ``PLANNER_SCREENSHOTS=1``: a screenshot of the page for the guides (JPEG, at most 900 px wide)."""
    import os

    if os.environ.get("PLANNER_SCREENSHOTS") != "1":
        return
    from PIL import Image

    GUIDE_IMAGES.mkdir(parents=True, exist_ok=True)
    png = GUIDE_IMAGES / f"{name}.png"
    page.screenshot(path=str(png), full_page=False)
    image = Image.open(png).convert("RGB")
    if image.width > 900:
        image = image.resize((900, round(image.height * 900 / image.width)), Image.LANCZOS)
    image.save(GUIDE_IMAGES / f"{name}.jpg", quality=82, optimize=True)
    png.unlink()


def wait_until(page, condition: str, timeout_s: float = 120.0) -> None:
    """Poll a condition in the page (the app's CSP forbids the eval that Playwright's wait_for_function uses)."""
    deadline = time.monotonic() + timeout_s
    while not page.evaluate(f"() => Boolean({condition})"):
        if time.monotonic() > deadline:
            raise AssertionError(f"not met within {timeout_s:g} s: {condition}")
        time.sleep(0.2)


def no_horizontal_scroll(page) -> bool:
    return page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")


def accessibility_problems(page) -> list[str]:
    """Form controls without a label, and text whose contrast with its background is under 4.5:1."""
    return page.evaluate("""() => {
      const problems = [];
      for (const c of document.querySelectorAll('input, select, textarea')) {
        if (c.type === 'hidden' || c.offsetParent === null) continue;
        const labelled = (c.id && document.querySelector('label[for="' + c.id + '"]')) || c.getAttribute('aria-label') || c.closest('label');
        if (!labelled) problems.push('no label: ' + (c.id || c.name || c.type));
      }
      const rgb = s => (s.match(/[\\d.]+/g) || []).slice(0, 4).map(Number);
      const lum = ([r, g, b]) => { const f = v => { v /= 255; return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); }; return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b); };
      const bg = el => { for (let e = el; e; e = e.parentElement) { const c = rgb(getComputedStyle(e).backgroundColor); if (c.length === 3 || (c.length === 4 && c[3] > 0.5)) return c; } return [255, 255, 255]; };
      for (const el of document.querySelectorAll('h1, h2, h3, label, button, th, td, p, span, a')) {
        if (el.offsetParent === null || !el.textContent.trim() || el.closest('iframe')) continue;
        const style = getComputedStyle(el);
        if (style.opacity < 0.9) continue;
        const a = lum(rgb(style.color)), b = lum(bg(el));
        const ratio = (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
        if (ratio < 4.5) problems.push('contrast ' + ratio.toFixed(2) + ': ' + el.tagName + ' ' + el.textContent.trim().slice(0, 30));
      }
      return problems;
    }""")


AXE = Path(__file__).resolve().parent / "vendor" / "axe-core"
"""axe-core from npm, pinned (VENDOR.json: version, sha256, MPL-2.0 licence)."""


def axe_violations(page) -> list[str]:
    """axe-core's WCAG 2.x A/AA violations of the app page (map frames left out: they are the
    service's map pages, checked in test_maps), as "rule: element" lines.  axe is evaluated through
    the DevTools protocol, so the app's CSP stays as it is."""
    import hashlib
    import json

    source = AXE / "axe.min.js"
    pinned = json.loads((AXE / "VENDOR.json").read_text(encoding="utf-8"))["axe.min.js"]
    assert hashlib.sha256(source.read_bytes()).hexdigest() == pinned["sha256"], "tests/vendor/axe-core/axe.min.js is not the pinned file"
    if not page.evaluate("typeof window.axe === 'object'"):
        page.evaluate(source.read_text(encoding="utf-8") + "\n;0")
    found = page.evaluate("""async () => {
      const result = await axe.run(document, {iframes: false, runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']},
                                              resultTypes: ['violations']});
      return result.violations.map(v => v.id + ': ' + v.nodes.map(n => n.target.join(' ')).slice(0, 3).join(' | '));
    }""")
    return list(found)


# ---------------------------------------------------------------------------- sign-in
@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["desktop", "phone"])
def test_sign_in_shows_only_the_roles_sections(service, chromium, viewport) -> None:
    base, keys, _ = service
    context, page, errors = open_app(chromium, base, viewport)
    assert page.title() == "民政服务设施规划"
    assert accessibility_problems(page) == []
    page.get_by_label("API 密钥").fill("pk_not_a_key")
    page.keyboard.press("Enter")
    page.wait_for_selector("#signin-error:has-text('密钥无效')")
    expected = {"planner": ["规划方案", "三级网络", "方案列表", "方案对比", "待审批上报", "探访计划", "操作记录"], "street_office": ["选址建议", "上报候选点", "我的上报", "探访计划"],
                "patrol": ["巡查路线"]}
    for role, tabs in expected.items():
        sign_in(page, keys[role])
        assert page.locator("#tabs [role=tab]").all_inner_texts() == tabs, role
        assert no_horizontal_scroll(page), f"{role}: the page scrolls sideways at {viewport['width']} px"
        assert accessibility_problems(page) == [], role
        page.get_by_role("button", name="退出").click()
        page.wait_for_selector("#signin:not([hidden])")
        assert page.evaluate("sessionStorage.getItem('plannerKey')") is None  # the key is gone
    # keyboard: Tab reaches the key field and the sign-in button, and the focused control shows a visible outline
    focused, outlines = [], []
    for _ in range(7):
        page.keyboard.press("Tab")
        focused.append(page.evaluate("document.activeElement.id || document.activeElement.textContent"))
        outlines.append(page.evaluate("getComputedStyle(document.activeElement).outlineStyle"))
    assert "key" in focused and "登录" in focused
    assert outlines[focused.index("key")] == "solid" and outlines[focused.index("登录")] == "solid"
    # English switch
    page.get_by_role("button", name="English").click()
    assert page.locator("h1").inner_text() == "Civil-affairs facility planner"
    assert errors == []
    context.close()


@pytest.mark.parametrize("viewport,languages", [(DESKTOP, ("zh",)), (PHONE, ("zh", "en"))], ids=["desktop-zh", "phone-zh-en"])
def test_every_view_passes_axe(service, chromium, viewport, languages) -> None:
    """axe-core (WCAG 2.1 A/AA) finds nothing on the sign-in page and on every section of every
    role: in Chinese on a desktop, in Chinese and English on a phone (where text wraps most)."""
    base, keys, _ = service
    context, page, errors = open_app(chromium, base, viewport)
    found = {"signin": axe_violations(page)}
    for role in ("planner", "street_office", "patrol"):
        sign_in(page, keys[role])
        for lang in languages:
            tabs = page.locator("#tabs [role=tab]")
            for k in range(tabs.count()):
                tabs.nth(k).click()
                page.wait_for_timeout(200)  # the section's lists arrive (loopback)
                found[f"{role}/{lang}/{tabs.nth(k).inner_text()}"] = axe_violations(page)
            page.locator("#lang").click()
            page.wait_for_selector("#tabs [role=tab]")
        if len(languages) % 2:  # back to Chinese for the next role
            page.locator("#lang").click()
            page.wait_for_selector("#tabs [role=tab]")
        page.locator("#signout").click()
        page.wait_for_selector("#signin:not([hidden])")
    assert {view: v for view, v in found.items() if v} == {}
    # the check can fail: an unlabelled field and grey-on-white text are found
    page.evaluate("""() => { const m = document.getElementById('main');
      m.appendChild(Object.assign(document.createElement('input'), {type: 'text'}));
      m.appendChild(Object.assign(document.createElement('p'), {textContent: '浅灰色文字', style: 'color:#c8c8c8'})); }""")
    planted = " ".join(axe_violations(page))
    assert "label" in planted and "color-contrast" in planted, planted
    assert errors == []
    context.close()


# ---------------------------------------------------------------------------- the three roles
def test_planner_runs_a_scenario_and_downloads_it(service, chromium, tmp_path) -> None:
    base, keys, region = service
    context, page, errors = open_app(chromium, base, DESKTOP)
    shot(page, "signin")
    sign_in(page, keys["planner"])
    page.get_by_label("方案名称").fill("测试 · 助餐配餐点")
    # a scenario that cannot be met: the job fails and the app says why
    page.get_by_label("新增数量", exact=True).fill("1")
    page.get_by_label("每镇街至少（个）").fill("1")
    page.get_by_role("button", name="开始计算").click()
    page.wait_for_selector("p.error:has-text('失败')", timeout=120_000)
    reason = page.locator("p.error:has-text('失败')").inner_text()
    assert "new site" in reason or "至少" in reason, reason  # the planner's own reason (the town minimums need more sites)
    page.get_by_label("每镇街至少（个）").fill("")
    page.get_by_label("新增数量", exact=True).fill("3")
    page.get_by_role("button", name="开始计算").click()
    page.wait_for_selector("[data-solver]", timeout=120_000)
    solver = page.locator("[data-solver]").inner_text()
    assert solver == "已证明为最优方案" or solver.startswith("与最优方案相差不超过")
    towns = page.locator("table tbody tr")
    assert towns.count() == int((region.units["level"] == "town").sum())  # the compliance table: one row per town
    frame = page.frame_locator("iframe.map-frame")
    frame.locator(".leaflet-marker-icon").first.wait_for(timeout=30_000)  # the map draws inside the app
    page.wait_for_timeout(1500)
    assert axe_violations(page) == []  # the result: figures, compliance table, downloads
    shot(page, "planner-result")
    with page.expect_download() as download:
        page.get_by_role("button", name="下载 Excel").click()
    saved = tmp_path / "plan.xlsx"
    download.value.save_as(saved)
    import openpyxl

    assert openpyxl.load_workbook(saved).sheetnames[:2] == ["概况", "设施"]
    # print: the plan as A4 pages in a frame (the browser's print dialogue is not part of headless Chromium)
    page.get_by_role("button", name="打印方案（A4）").click()
    wait_until(page, "(document.querySelector('iframe.print-frame') || {}).contentDocument && "
                     "document.querySelector('iframe.print-frame').contentDocument.querySelectorAll('.planner-sheet').length >= 2", 60)
    sheet_text = page.frame_locator("iframe.print-frame").locator(".planner-sheet").first.inner_text()
    assert "已证明为最优方案" in sheet_text or "与最优方案相差不超过" in sheet_text
    # a second plan, then compare the two side by side
    page.get_by_label("新增数量", exact=True).fill("6")
    page.get_by_role("button", name="开始计算").click()
    wait_until(page, "document.querySelector('[data-solver]') !== null && !document.querySelector('form.grid button[type=submit]').disabled")
    page.get_by_role("tab", name="方案对比").click()
    page.wait_for_selector("#cmp-a option", state="attached")
    page.get_by_role("button", name="对比").click()
    page.wait_for_selector("table tbody tr")
    rows = page.locator("table tbody tr").all_inner_texts()
    assert rows[1].startswith("新增设施") and "6" in rows[1] and "3" in rows[1]
    assert page.locator("iframe.map-frame").count() == 2
    assert axe_violations(page) == []
    page.wait_for_timeout(1500)
    shot(page, "planner-compare")
    # the three-level network: on the sample a town has no care-centre site, and the app says which
    page.get_by_role("tab", name="三级网络").click()
    page.get_by_label("村（社区）场所 · 新增上限（空 = 不限）").fill("5")
    page.get_by_role("button", name="计算三级网络").click()
    page.wait_for_selector("p.error:has-text('失败')", timeout=120_000)
    assert "needs at least 1 site" in page.locator("p.error:has-text('失败')").inner_text()
    assert errors == []
    context.close()


GREY, GREEN, RED = "#868e96", "#2b8a3e", "#c92a2a"
"""Candidate sites, kept and forbidden ones on the picking map (maps.views)."""


def click_site(page, fill: str) -> None:
    """Click, with the mouse, a site of the picking map drawn in ``fill`` that nothing covers, then
    move the mouse away (its tooltip closes)."""
    page.locator("iframe.pick-frame").scroll_into_view_if_needed()
    inner = page.locator("iframe.pick-frame").element_handle().content_frame()
    point = inner.evaluate("""(fill) => { for (const p of document.querySelectorAll('path.leaflet-interactive[fill="' + fill + '"]')) {
        const r = p.getBoundingClientRect(), x = r.x + r.width / 2, y = r.y + r.height / 2;
        if (document.elementFromPoint(x, y) === p) { return [x, y]; } } return null; }""", fill)
    assert point is not None, f"no site drawn in {fill} clear of the others"
    box = page.locator("iframe.pick-frame").bounding_box()
    page.mouse.click(box["x"] + point[0], box["y"] + point[1])
    page.mouse.move(box["x"] + 5, box["y"] + box["height"] - 5)
    page.wait_for_timeout(300)


def test_planner_keeps_and_forbids_sites_picked_on_the_map(service, chromium) -> None:
    """A click on a candidate in the embedded map keeps it, a second forbids it; a site typed by
    name is kept; the plan then opens the kept sites and never the forbidden one."""
    import httpx

    base, keys, region = service
    context, page, errors = open_app(chromium, base, DESKTOP)
    sign_in(page, keys["planner"])
    page.get_by_role("button", name="在地图上选点").click()
    frame = page.frame_locator("iframe.pick-frame")
    frame.locator(f'path.leaflet-interactive[fill="{GREY}"]').first.wait_for(timeout=30_000)
    page.locator("iframe.pick-frame").scroll_into_view_if_needed()
    page.wait_for_timeout(500)
    click_site(page, GREY)
    page.wait_for_selector("fieldset.pick td select")
    assert page.locator("fieldset.pick td select").input_value() == "keep"
    wait_until(page, f"document.querySelector('iframe.pick-frame').contentDocument.querySelectorAll('path[fill=\"{GREEN}\"]').length === 1")  # drawn as kept
    click_site(page, GREEN)  # a second click on it: forbidden
    wait_until(page, "document.querySelector('fieldset.pick td select').value === 'forbid'")
    wait_until(page, f"document.querySelector('iframe.pick-frame').contentDocument.querySelectorAll('path[stroke=\"{RED}\"][stroke-dasharray]').length === 1")
    forbidden_name = page.locator("fieldset.pick tbody td").first.inner_text()
    click_site(page, GREY)
    wait_until(page, "document.querySelectorAll('fieldset.pick tbody tr').length === 2")
    sites = httpx.get(f"{base}/regions/sample/sites?facility_type=meal_point", headers={"X-API-Key": keys["planner"]}).json()
    by_name = {s["name"]: s for s in sites}
    typed = next(s for s in sites if s["status"] == "candidate" and s["name"] != forbidden_name and s["name"] not in page.locator("fieldset.pick").inner_text())
    page.get_by_label("站点名称").fill(typed["name"])
    page.locator("fieldset.pick").get_by_role("button", name="必须保留", exact=True).click()
    wait_until(page, "document.querySelectorAll('fieldset.pick tbody tr').length === 3")
    assert accessibility_problems(page) == []
    assert axe_violations(page) == []  # the picked sites' table with its choices and buttons
    page.locator("iframe.pick-frame").scroll_into_view_if_needed()
    shot(page, "planner-pick")
    rows = [r.split("\t") for r in page.locator("fieldset.pick tbody tr").all_inner_texts()]
    states = {row.split("\t")[0]: page.locator("fieldset.pick tbody tr").nth(k).locator("select").input_value() for k, row in enumerate(page.locator("fieldset.pick tbody tr").all_inner_texts())}
    assert len(rows) == 3 and states[forbidden_name] == "forbid" and states[typed["name"]] == "keep"
    kept = {by_name[n]["site_id"] for n, v in states.items() if v == "keep"}
    page.get_by_label("新增数量", exact=True).fill("4")
    page.get_by_role("button", name="开始计算").click()
    page.wait_for_selector("[data-solver]", timeout=120_000)
    plans = httpx.get(f"{base}/plans?kind=scenario&limit=1", headers={"X-API-Key": keys["planner"]}).json()["items"]
    plan = httpx.get(f"{base}/plans/{plans[0]['id']}", headers={"X-API-Key": keys["planner"]}).json()
    opened = {s["site_id"] for s in plan["sites"] if s["plan_status"] == "new"}
    assert kept <= opened and by_name[forbidden_name]["site_id"] not in opened and len(opened) == 4
    assert errors == []
    context.close()


def test_street_office_asks_uploads_and_a_planner_approves(service, chromium, tmp_path) -> None:
    base, keys, region = service
    context, page, errors = open_app(chromium, base, PHONE)
    sign_in(page, keys["street_office"])
    town_name = region.units.loc[region.units["unit_id"] == "town-3", "name"].iloc[0]
    assert town_name in page.locator("#who").inner_text() and town_name in page.locator("#views h2").first.inner_text()  # the town by its name
    page.get_by_label("建议数量").fill("2")
    page.get_by_role("button", name="获取建议").click()
    page.wait_for_selector("table tbody tr")
    assert page.locator("table tbody tr").count() == 2
    assert no_horizontal_scroll(page)
    assert axe_violations(page) == []
    page.wait_for_timeout(1500)
    shot(page, "office-suggestions")
    # the app offers no other town; the API refuses one asked for anyway
    status = page.evaluate("""async () => (await fetch('/regions/sample/suggestions', {method: 'POST', headers: {'X-API-Key': sessionStorage.getItem('plannerKey'),
        'Content-Type': 'application/json'}, body: JSON.stringify({town: 'town-2', k: 1})})).status""")
    assert status == 403
    # propose two candidate sites (GCJ-02 declared; outside China the offset is zero) and one row that cannot be used
    town3 = region.units[region.units["unit_id"] == "town-3"].geometry.iloc[0].representative_point()
    csv = tmp_path / "候选点.csv"
    csv.write_text(f"name,lon,lat\n社区饭堂甲,{town3.x},{town3.y}\n社区饭堂乙,{town3.x + 0.0003},{town3.y}\n坏行,abc,\n", encoding="utf-8")
    page.get_by_role("tab", name="上报候选点").click()
    page.set_input_files("#up-file", str(csv))
    page.wait_for_selector(".ok")
    assert "2" in page.locator(".ok").inner_text()
    shot(page, "office-upload")
    assert page.locator("li").count() >= 1  # the row not used, and why
    page.get_by_role("tab", name="我的上报").click()
    page.wait_for_selector(".status-proposed")
    assert page.locator(".status-proposed").first.inner_text() == "待审批"
    # suggestions among its own pending proposal (laid over the region for this question only)
    page.get_by_role("button", name="在此上报中选址").first.click()
    wait_until(page, "document.querySelector('#sg-from').selectedOptions[0].textContent.includes('候选点.csv')", 30)  # preselected
    page.get_by_label("建议数量").fill("1")
    page.get_by_role("button", name="获取建议").click()
    page.wait_for_selector("[data-proposal]")
    assert page.locator("table tbody tr td").nth(1).inner_text() in ("社区饭堂甲", "社区饭堂乙")
    # home visits for its town's elders living alone: who is short of visits and why, the calendar
    page.get_by_role("tab", name="探访计划").click()
    page.get_by_label("月份").fill("2026-12")
    page.get_by_role("button", name="生成探访计划").click()
    page.wait_for_selector("[data-all-visits]", timeout=60_000)
    from planner.routing.visits import elders_living_alone

    assert page.locator(".figure b").first.inner_text() == str(len(elders_living_alone(region, town="town-3")))
    assert "本镇街没有现有养老服务设施" in page.locator("main").inner_text()  # visitors from elsewhere: said
    with page.expect_download() as download:
        page.get_by_role("button", name="下载探访日历").click()
    calendar = tmp_path / "visits.csv"
    download.value.save_as(calendar)
    assert calendar.read_bytes().startswith("\ufeff".encode()) and b"elder" in calendar.read_bytes()[:200]
    assert no_horizontal_scroll(page)
    shot(page, "office-visits")
    context.close()
    # the planner approves it
    context, page, errors2 = open_app(chromium, base, DESKTOP)
    sign_in(page, keys["planner"])
    page.get_by_role("tab", name="待审批上报").click()
    page.wait_for_selector("[data-approve]")
    shot(page, "planner-proposals")
    page.locator("[data-approve]").first.click()
    page.wait_for_selector("text=没有待审批的上报")
    page.get_by_role("tab", name="操作记录").click()
    page.wait_for_selector("td:has-text('upload.approve')")
    assert errors == [] and errors2 == []
    context.close()


def test_patrol_team_plans_tonight_on_a_phone(service, chromium, tmp_path) -> None:
    base, keys, region = service
    context, page, errors = open_app(chromium, base, PHONE)
    sign_in(page, keys["patrol"])
    page.get_by_label("专项行动").select_option("cold")
    page.get_by_label("巡查点数量").fill("8")
    # a person reported sleeping rough tonight: a stop added by hand (typed numbers checked in the page first)
    reported = region.units[region.units["unit_id"] == "town-2"].geometry.iloc[0].representative_point()
    page.get_by_label("地点名称").fill("热线报告：长椅上有人")
    page.get_by_label("经度, 纬度").fill("24.9, north")
    page.get_by_role("button", name="加入本次路线").click()
    assert "两个数字" in page.locator(".extra-stops p.error").inner_text()
    page.get_by_label("经度, 纬度").fill(f"{reported.x:.6f}, {reported.y:.6f}")
    page.locator("#pt-stop-coords").select_option("wgs84")
    page.get_by_role("button", name="加入本次路线").click()
    assert "热线报告：长椅上有人" in page.locator("ul.stops").inner_text()
    assert accessibility_problems(page) == []
    page.get_by_role("button", name="生成路线").click()
    page.wait_for_selector("text=时间表", timeout=60_000)
    assert page.locator("table tbody tr").count() >= 1
    assert page.locator("td:has-text('热线报告：长椅上有人 · 临时加点')").count() == 1  # visited, marked as added
    assert axe_violations(page) == []
    page.locator("h3:has-text('时间表')").scroll_into_view_if_needed()
    shot(page, "patrol-timetable")
    assert no_horizontal_scroll(page)
    with page.expect_download() as download:
        page.get_by_role("button", name="下载 GPX").click()
    gpx = tmp_path / "round.gpx"
    download.value.save_as(gpx)
    assert "<trk>" in gpx.read_text(encoding="utf-8")
    page.frame_locator("iframe.map-frame").locator(".leaflet-marker-icon").first.wait_for(timeout=30_000)
    page.locator("iframe.map-frame").scroll_into_view_if_needed()
    page.wait_for_timeout(1500)
    shot(page, "patrol-map")
    assert errors == []
    context.close()
