from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from app.cli import main


def test_serve_refuses_to_start_without_keys(tmp_path: Path) -> None:
    env = {"JIEFANG_VAR_DIR": str(tmp_path), "JIEFANG_KEYS_DIR": str(tmp_path / "none")}
    result = CliRunner().invoke(main, ["serve", "--port", "1"], env=env)
    assert result.exit_code == 2
    assert "jiefang keys init" in result.output


def test_keys_init_twice_refuses_the_second_time(tmp_path: Path) -> None:
    env = {"JIEFANG_VAR_DIR": str(tmp_path)}
    first = CliRunner().invoke(main, ["keys", "init"], env=env)
    second = CliRunner().invoke(main, ["keys", "init"], env=env)
    assert first.exit_code == 0
    assert second.exit_code == 1 and "拒绝覆盖" in second.output
