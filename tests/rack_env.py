"""Real servers for the rack tests: PostgreSQL (``VIDGEN_TEST_PG_URL``) and nginx (``VIDGEN_NGINX``).

``.ci/services.sh`` starts both on 127.0.0.1 and sets ``VIDGEN_REQUIRE_SERVICES=1``:
then a missing server fails the test instead of skipping it, so CI can never pass
without really running them. On a laptop without them the tests skip and say why.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import quote

import pytest


def _missing(what: str) -> None:
    if os.environ.get("VIDGEN_REQUIRE_SERVICES") == "1":
        pytest.fail(f"{what} (VIDGEN_REQUIRE_SERVICES=1: CI must run this test)")
    pytest.skip(what)


def pg_url() -> str:
    url = os.environ.get("VIDGEN_TEST_PG_URL", "")
    if not url:
        _missing(
            "VIDGEN_TEST_PG_URL is not set (a PostgreSQL database this test may write to;"
            " .ci/services.sh starts one)"
        )
    return url


def with_search_path(url: str, schema: str) -> str:
    sep = "&" if "?" in url else "?"
    return f"{url}{sep}options={quote(f'-csearch_path={schema}')}"


@contextmanager
def pg_schema() -> Iterator[str]:
    """A fresh, empty schema in the test database; yields a URL whose tables land there."""
    import psycopg

    base = pg_url()
    schema = f"t_{uuid.uuid4().hex[:16]}"
    with psycopg.connect(base, autocommit=True) as c:
        c.execute(f"CREATE SCHEMA {schema}")
    try:
        yield with_search_path(base, schema)
    finally:
        with psycopg.connect(base, autocommit=True) as c:
            c.execute(f"DROP SCHEMA {schema} CASCADE")


def nginx_binary() -> str:
    path = os.environ.get("VIDGEN_NGINX") or shutil.which("nginx") or ""
    if not path or not os.access(path, os.X_OK):
        _missing("no nginx binary (set VIDGEN_NGINX; .ci/services.sh installs the Debian package)")
    return path
