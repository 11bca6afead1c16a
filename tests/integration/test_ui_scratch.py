"""The UI's scratch folders for exports and eval reports: pruned by age, gone at exit."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from ui import scratch


def test_old_folders_are_pruned_when_a_new_one_is_made():
    first = scratch.new_folder("export-")
    (first / "answer.md").write_text("x")
    second = scratch.new_folder("eval-")
    assert first.parent == second.parent and first != second and first.is_dir()
    stale = time.time() - scratch.KEEP_S - 60
    os.utime(first, (stale, stale))
    third = scratch.new_folder("export-")
    assert not first.exists()
    assert second.is_dir() and third.is_dir()


def test_the_scratch_root_is_removed_when_the_process_exits():
    code = "from ui import scratch; f = scratch.new_folder('export-'); print(f.parent)"
    root = Path(
        subprocess.run(
            [sys.executable, "-c", code],
            capture_output=True,
            text=True,
            check=True,
            cwd=Path(__file__).parents[2],
        ).stdout.strip()
    )
    assert root.name.startswith("rag-ui-")
    assert not root.exists()
