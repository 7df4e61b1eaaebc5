import os
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def wirehouse_bin() -> str:
    b = os.environ.get("WIREHOUSE_BIN") or str(REPO / "target" / "debug" / "wirehouse")
    if not Path(b).exists():
        pytest.fail(f"wirehouse binary not found at {b}: run `cargo build` first")
    return b


@pytest.fixture(scope="session")
def analyze(tmp_path_factory):
    """Run `wirehouse analyze` on inputs into a fresh directory; return the directory."""

    def run(*inputs, extra=()):
        out = tmp_path_factory.mktemp("out")
        shutil.rmtree(out)
        cmd = [wirehouse_bin(), "analyze", "-q", *map(str, inputs), "-o", str(out), *extra]
        p = subprocess.run(cmd, capture_output=True, text=True)
        assert p.returncode in (0, 2), p.stderr
        assert "panicked" not in p.stderr, p.stderr
        return out

    return run
