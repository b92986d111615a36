"""The forms of the decisions pages: uploading a CSV file to import, and confirming or
discarding a previewed upload."""

from __future__ import annotations

from flask_wtf.file import FileField, FileRequired
from wtforms import HiddenField
from wtforms.validators import DataRequired, Regexp

from app.web import BaseForm


class ImportUploadForm(BaseForm):
    """Step 1 of an import: the CSV file."""

    file = FileField(
        "CSV file",
        validators=[FileRequired("Choose a CSV file to upload.")],
        description="UTF-8 text; the first line is the header.",
    )


class ImportConfirmForm(BaseForm):
    """Step 2: import (or discard) the upload previewed, named by its token."""

    upload = HiddenField(validators=[DataRequired(), Regexp(r"^[0-9a-f]{32}$")])
    filename = HiddenField()
