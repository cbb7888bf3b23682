"""The engine stays usable without Qt: scripts, the CLI and training import it alone."""

import subprocess
import sys

SCRIPT = """
import importlib, pkgutil, sys
import vit_studio.engine as engine
for info in pkgutil.walk_packages(engine.__path__, "vit_studio.engine."):
    importlib.import_module(info.name)
qt = sorted(name for name in sys.modules if name.split(".")[0] in {"PySide6", "PyQt5", "PyQt6"})
print(",".join(qt))
"""


def test_importing_every_engine_module_loads_no_qt_binding():
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT], capture_output=True, text=True, check=True, timeout=120
    )
    assert done.stdout.strip() == ""
