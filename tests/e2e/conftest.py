"""Fixtures for the browser journey: the real launcher and a headless Chromium."""

from __future__ import annotations

import json
import shutil
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from podlab.localstack.paths import new_work_dir
from podlab.localstack.process import ComponentError
from tests.e2e.platform import ARGS, CHROMIUM, LocalPlatformUnderTest


@pytest.fixture(scope="module")
def platform(component_log_dir: Path) -> Iterator[LocalPlatformUnderTest]:
    """`podlab up` on free ports and a temp data dir; `podlab down` at the end, always."""
    root = new_work_dir("e2e")
    under_test = LocalPlatformUnderTest.create(root)
    result = under_test.podlab("up")
    if result.returncode != 0:
        logs = under_test.data_dir / "logs"
        shutil.copytree(logs, component_log_dir / "e2e-platform", dirs_exist_ok=True)
        under_test.podlab("down")
        raise ComponentError(
            "podlab up",
            f"exited {result.returncode}:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}",
            f"logs copied to {component_log_dir / 'e2e-platform'}",
        )
    print(result.stdout)
    yield under_test
    under_test.podlab("down")
    shutil.copytree(
        under_test.data_dir / "logs", component_log_dir / "e2e-platform", dirs_exist_ok=True
    )
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        raise ComponentError(
            "chromium", f"{CHROMIUM} not found", "run `make setup` as root (apt installs chromium)"
        )
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield chromium
        chromium.close()


@pytest.fixture(scope="module")
def shots(component_log_dir: Path) -> Path:
    """Screenshots of each step land here (a test artifact, kept with the logs)."""
    path = component_log_dir / "e2e-screenshots"
    path.mkdir(parents=True, exist_ok=True)
    return path


def hub_api(
    platform: LocalPlatformUnderTest, method: str, path: str, body: Any = None
) -> tuple[int, Any]:
    """The hub REST API with the launcher's admin service token."""
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(
        f"{platform.url}/hub/api{path}",
        data=data,
        method=method,
        headers={"Authorization": f"token {platform.admin_token}"},
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            raw = response.read()
            return response.status, json.loads(raw) if raw else None
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode(errors="replace")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """On a failed step, keep a screenshot of every open page next to the step screenshots."""
    outcome = yield
    report = outcome.get_result()  # type: ignore[attr-defined]
    if report.when != "call" or not report.failed:
        return
    chromium = item.funcargs.get("browser")  # type: ignore[attr-defined]
    folder = item.funcargs.get("shots")  # type: ignore[attr-defined]
    if chromium is None or folder is None:
        return
    for c_index, context in enumerate(chromium.contexts):
        for p_index, page in enumerate(context.pages):
            try:
                page.screenshot(path=str(folder / f"FAILED-{item.name}-{c_index}-{p_index}.png"))
            except Exception:  # noqa: S112 - best effort on a failing page
                continue
