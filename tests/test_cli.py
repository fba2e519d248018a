from __future__ import annotations

import subprocess
import sys

import pytest

import depositnet
from depositnet.cli import main


def test_version_flag_prints_the_package_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["--version"])
    assert exit_info.value.code == 0
    assert capsys.readouterr().out.strip() == f"depositnet {depositnet.__version__}"


def test_console_script_entry_point_runs() -> None:
    completed = subprocess.run(
        [sys.executable, "-m", "depositnet.cli", "--version"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert depositnet.__version__ in completed.stdout
