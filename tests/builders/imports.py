"""For tests that import many generated files: each example's writes undone, and the
staged upload files removed after the test."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from app.extensions import db


@contextmanager
def rolled_back() -> Iterator[None]:
    """One generated example's writes, undone when it ends (the test's own data stays)."""
    savepoint = db.session.begin_nested()
    try:
        yield
    finally:
        if savepoint.is_active:
            savepoint.rollback()
        db.session.expire_all()


def clear_imports_folder(app) -> None:
    """Remove the upload files staged for imports (`UPLOAD_DIR/imports`)."""
    folder = Path(app.config["UPLOAD_DIR"]) / "imports"
    if folder.exists():
        for path in folder.iterdir():
            path.unlink()
