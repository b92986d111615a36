"""Settings for every test. The app, its database and the per-test transaction are in
tests/functional/conftest.py; unit tests (tests/unit) run without them."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from hypothesis import settings

# The SECURITY.md figures: @pytest.mark.promise(...) and the `tried` fixture.
pytest_plugins = ["tests.figures"]

# Hypothesis keeps no example database (runs are derandomized or bounded by the test),
# and its caches (constants of the code, Unicode tables) live outside the working tree.
settings.register_profile("vqa", database=None)
settings.load_profile("vqa")
os.environ.setdefault(
    "HYPOTHESIS_STORAGE_DIRECTORY",
    str(Path(tempfile.gettempdir()) / f"vqa-hypothesis-{os.getuid()}"),
)
