"""Which ledger a ``--ledger`` value names, opened: a SQLite file or a PostgreSQL URL.

Kept apart from the backends so neither imports the other (``ledger_pg`` builds on
``ledger``; choosing between them is this module's job).
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from comfy_vidgen.errors import UsageError

from .ledger import Ledger, SqliteLedger


def open_ledger(path: str | Path, *, durable: bool = True) -> Ledger:
    """The ledger at ``path``: a SQLite file, or a ``postgresql://`` URL (``ledger_pg``)."""
    if str(path).startswith(("postgres://", "postgresql://")):
        from .ledger_pg import PgLedger  # psycopg is needed only for this backend

        return PgLedger(str(path))
    _refuse_foreign_file(path)
    try:
        return SqliteLedger(path, durable=durable)
    except sqlite3.DatabaseError as e:
        raise UsageError(f"ledger {path} is unreadable ({e}); it was left as it is") from None


def _refuse_foreign_file(path: str | Path) -> None:
    """A folder or a file that is not SQLite is never opened (SQLite would write its
    journal beside it): one clear usage error, the file untouched."""
    p = Path(path)
    if str(path) == ":memory:" or not p.exists():
        return
    if not p.is_file():
        raise UsageError(f"ledger {p} is a directory, not a ledger file")
    with open(p, "rb") as f:
        head = f.read(16)
    if head and head != b"SQLite format 3\x00":
        raise UsageError(
            f"ledger {p} is not a vidgen ledger (not a SQLite file); it was left as it is"
        )
    if not head:
        return
    try:  # read-only: another application's database is never migrated into a ledger
        db = sqlite3.connect(f"{p.resolve().as_uri()}?mode=ro", uri=True)
        try:
            tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        finally:
            db.close()
    except sqlite3.DatabaseError as e:
        raise UsageError(f"ledger {p} is unreadable ({e}); it was left as it is") from None
    if tables and "jobs" not in tables:
        raise UsageError(
            f"ledger {p} is a SQLite database of something else (tables: "
            f"{', '.join(sorted(tables))}), not a vidgen ledger; it was left as it is"
        )
