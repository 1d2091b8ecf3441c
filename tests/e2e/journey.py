"""The notebook part of the browser journeys (the local platform and the Kubernetes test bed):
JupyterLab driven as a person would, with a cell that trains a tiny torch model, one that logs
and registers it in MLflow, and one that loads it back from the registry."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def cells(model: str) -> list[str]:
    """The three cells; `model` is the registered model's name."""
    return [c.replace("MODEL", model) for c in CELLS]


CELLS = [
    """\
import torch
torch.manual_seed(0)
model = torch.nn.Linear(3, 1)
x = torch.randn(64, 3)
y = x @ torch.tensor([[1.0], [-2.0], [0.5]])
opt = torch.optim.SGD(model.parameters(), lr=0.1)
for _ in range(100):
    opt.zero_grad()
    loss = ((model(x) - y) ** 2).mean()
    loss.backward()
    opt.step()
print("TRAINED", round(loss.item(), 4))""",
    """\
import os, mlflow, mlflow.pytorch
with mlflow.start_run() as run:
    mlflow.log_metric("loss", loss.item())
    mlflow.pytorch.log_model(model, name="model", registered_model_name="MODEL",
                             serialization_format="pickle", pip_requirements=["torch"])
print("RUN", run.info.run_id)""",
    """\
loaded = mlflow.pytorch.load_model("models:/MODEL/1")
print("MATCH", bool(torch.allclose(loaded(x), model(x))))""",
]


def shot(page: Any, shots: Path, name: str) -> None:
    page.screenshot(path=str(shots / f"{name}.png"))


def dismiss_news(page: Any) -> None:
    """JupyterLab asks once whether to fetch Jupyter news; say no so it hides nothing."""
    button = page.get_by_role("button", name="No", exact=True)
    if button.count() and button.first.is_visible():
        button.first.click()


def run_notebook(page: Any, notebook: str, sources: list[str]) -> None:
    """Open a new notebook from the launcher, name it, type the cells, run them all and wait
    for the last cell's "MATCH True"."""
    page.click(".jp-LauncherCard[title*='Python 3']:has-text('Python 3') >> nth=0")
    page.wait_for_selector(".jp-NotebookPanel .jp-Cell .cm-content", timeout=60_000)
    dismiss_news(page)
    # Name it first: the envlogger entry point must be this notebook's path. Only once the
    # kernel runs: a rename before JupyterLab has created the kernel's session leaves the
    # session under the old name (the path envlogger reads).
    page.wait_for_selector(".jp-StatusBar-Widget:has-text('| Idle')", timeout=120_000)
    page.click("text=File")
    page.click("text=Rename Notebook…")
    page.fill(".jp-Dialog input", notebook)
    page.keyboard.press("Enter")
    page.wait_for_selector(f".lm-TabBar-tabLabel:has-text('{notebook}')")
    for index, code in enumerate(sources):
        if index:
            page.keyboard.press("Escape")
            page.keyboard.press("b")  # new cell below, in command mode
            page.keyboard.press("Enter")
        editor = page.locator(".jp-NotebookPanel .jp-Cell .cm-content").nth(index)
        editor.click()
        page.keyboard.insert_text(code)
    page.keyboard.press("Escape")
    page.click("text=Run")
    page.click("text=Run All Cells")
    page.wait_for_selector("text=MATCH True", timeout=240_000)
