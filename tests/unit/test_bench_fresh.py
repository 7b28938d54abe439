"""`python -m bench --fresh` drops and rebuilds only the bench's own databases (bench.setup.drop): a
mistyped --url must never drop a team's database or an admin's file."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench import setup


@pytest.mark.parametrize(
    "url",
    [
        "sqlite:///data/cmkit.db",
        "sqlite:////tmp/elsewhere/bench-1000000-3000000.db",
        "postgresql+psycopg://postgres@127.0.0.1/postgres",
        "postgresql+psycopg://postgres@127.0.0.1/cmkit",
    ],
)
def test_fresh_refuses_a_database_the_bench_did_not_build(url: str, tmp_path: Path) -> None:
    with pytest.raises(SystemExit, match="--fresh rebuilds only"):
        setup.drop(url)


def test_fresh_removes_a_bench_file_and_its_journal(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(setup, "DATA", tmp_path)
    files = [tmp_path / f"bench-10-20.db{suffix}" for suffix in ("", "-wal", "-shm")]
    for f in files:
        f.write_bytes(b"x")
    keep = tmp_path / "other.db"
    keep.write_bytes(b"x")
    setup.drop(f"sqlite:///{files[0]}")
    assert not any(f.exists() for f in files) and keep.exists()
