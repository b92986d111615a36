"""The one ingestion path for moderation decisions (DESIGN §2, §8, §11).

Every door (the API, the CSV upload page and its background job, the
`flask decisions import` command) hands rows to `import_decisions()`:

- rows from JSON carry typed values (`labels` a list, `context` an object);
  rows from a CSV file (`iter_csv()`) carry strings (`labels` as "A|B",
  `context` as JSON text); both are normalised the same way;
- all-or-nothing: any invalid row raises `ImportRejected` after every row was
  scanned, listing the first `error_cap` problems (index or line, field,
  message) with the total, and nothing is stored;
- re-sending an identical row changes nothing (`unchanged`); an allowed change
  is an update, audited with its before/after in one event per import.

The function flushes but never commits: the caller commits once (or rolls back
after `ImportRejected`). Its own writes sit inside a savepoint that it rolls back
before raising, so a rejected import leaves nothing behind in any case.

Big files stay fast and small (DESIGN §10): rows are streamed, checked in Python
against reference data held in dicts, and staged in chunks in a temporary table
(COPY on PostgreSQL, `executemany` on SQLite) by a writer thread that also stores the
new decisions of each chunk while the next one is read; what needs every row (an
external_id repeated in the batch, a change to a sampled or inspected decision, what
changed) is then answered in SQL. Memory stays flat whatever the file's size.

The package, by responsibility:
- `fields`: the exchange format (field names, the CSV header, value limits);
- `reader`: reading CSV files into rows;
- `validation`: checking and normalising one row (pure, no database);
- `staging`: the temporary tables and the writer thread that stores new decisions;
- `changes`: what needs every row, answered in SQL, and the update of changed ones;
- `importer`: `import_decisions`, which runs the steps;
- `outcome`: `ImportResult`, `ImportRejected` and the progress callback.
"""

from app.decisions.intake.fields import (
    FIELD_HELP,
    FIELDS,
    MAX_API_ROWS,
    MAX_CONTEXT_BYTES,
    MAX_LENGTHS,
    OPTIONAL_FIELDS,
    REQUIRED_FIELDS,
)
from app.decisions.intake.importer import import_decisions
from app.decisions.intake.outcome import DEFAULT_ERROR_CAP, ImportRejected, ImportResult, Progress
from app.decisions.intake.reader import iter_csv, open_csv

__all__ = [
    "DEFAULT_ERROR_CAP",
    "FIELDS",
    "FIELD_HELP",
    "MAX_API_ROWS",
    "MAX_CONTEXT_BYTES",
    "MAX_LENGTHS",
    "OPTIONAL_FIELDS",
    "REQUIRED_FIELDS",
    "ImportRejected",
    "ImportResult",
    "Progress",
    "import_decisions",
    "iter_csv",
    "open_csv",
]
