"""`make up`'s rollback, without starting anything: when a component fails to start, what was
already started is stopped, last started first, and one failing stop does not leave the
others running. (tests/e2e/test_launcher.py covers the real processes.)"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest

from podlab.localstack import stack
from podlab.localstack.paths import REPO_ROOT
from podlab.localstack.process import ComponentError


class _Fakes:
    """Stand-ins for the four component classes; each records its stop in `stopped`."""

    def __init__(self, failing_start: str, failing_stop: str | None = None) -> None:
        self.stopped: list[str] = []
        self.failing_start = failing_start
        self.failing_stop = failing_stop

    def component(self, name: str) -> Any:
        fakes = self

        class Fake:
            url = endpoint_url = f"http://127.0.0.1/{name}"
            hub_api_url = "http://127.0.0.1/hub/api"

            def __init__(self, *args: Any, **kwargs: Any) -> None:
                self.env = {"AWS_ACCESS_KEY_ID": "k", "AWS_SECRET_ACCESS_KEY": "s"}

            def init(self) -> Fake:
                return self

            def start(self) -> Fake:
                if fakes.failing_start == name:
                    raise ComponentError(name, "did not start")
                return self

            def stop(self) -> None:
                fakes.stopped.append(name)
                if fakes.failing_stop == name:
                    raise OSError(f"{name} would not stop")

            def migrate(self) -> None:
                pass

            def create_database(self, database: str) -> str:
                return f"postgresql://127.0.0.1/{database}"

            def restore(self, path: Path) -> int:
                return 0

            def create_bucket(self, bucket: str) -> None:
                pass

            def snapshot(self, path: Path) -> int:
                return 0

        return Fake


def _platform(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fakes: _Fakes) -> Any:
    for cls, name in [
        ("PostgresServer", "postgresql"),
        ("S3Server", "s3"),
        ("MlflowServer", "mlflow"),
        ("JupyterHubServer", "jupyterhub"),
    ]:
        monkeypatch.setattr(stack, cls, fakes.component(name))
    monkeypatch.setattr(stack, "require_port_free", lambda *args: None)
    settings = stack.LocalSettings(config_path=REPO_ROOT / "podlab.yaml", data_dir=tmp_path)
    return stack.LocalPlatform(settings, out=io.StringIO())


def test_a_failed_start_stops_what_was_started_last_first(tmp_path, monkeypatch):
    fakes = _Fakes(failing_start="jupyterhub")
    platform = _platform(tmp_path, monkeypatch, fakes)
    with pytest.raises(stack.StackError, match="jupyterhub: did not start"):
        platform.up()
    assert fakes.stopped == ["mlflow", "s3", "postgresql"]
    assert "stopping what was started" in platform.out.getvalue()


def test_a_failing_stop_does_not_leave_the_others_running(tmp_path, monkeypatch):
    fakes = _Fakes(failing_start="jupyterhub", failing_stop="mlflow")
    platform = _platform(tmp_path, monkeypatch, fakes)
    with pytest.raises(OSError, match="mlflow would not stop"):
        platform.up()
    assert fakes.stopped == ["mlflow", "s3", "postgresql"]
