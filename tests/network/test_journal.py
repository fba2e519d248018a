"""The CLI journal: entries round-trip, are written atomically with private modes, and a
damaged or misplaced entry is a clear error rather than a silent new signature."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from network.journal import (
    JOURNAL_ENV,
    Entry,
    Journal,
    JournalError,
    check_label,
    journal_dir,
    nonce_for,
)

entries = st.builds(
    Entry,
    tx_id=st.binary(min_size=16, max_size=16),
    chain_id=st.text(min_size=1, max_size=20),
    tx=st.binary(min_size=1, max_size=300),
    created_ms=st.integers(0, 2**63 - 1),
    label=st.none() | st.text(max_size=40),
    receipt=st.none() | st.binary(max_size=100),
    expired_at_height=st.none() | st.integers(1, 2**40),
    superseded=st.lists(st.binary(min_size=1, max_size=50), max_size=3).map(tuple),
)


@given(entries)
def test_every_entry_round_trips_through_json(entry: Entry) -> None:
    assert Entry.from_json(entry.to_json()) == entry


def test_the_nonce_of_a_label_is_fixed_by_chain_and_text_only() -> None:
    assert nonce_for("c", "INV-1") == nonce_for("c", "INV-1")
    assert len(nonce_for("c", "INV-1")) == 16
    assert len({nonce_for("c", "INV-1"), nonce_for("d", "INV-1"), nonce_for("c", "INV-2")}) == 3
    assert nonce_for("c", "x\x00y") != nonce_for("c\x00x", "y")  # no ambiguous concatenation


@pytest.mark.parametrize("bad", ["", " x", "x ", "a\nb", "x" * 129, "\x00"])
def test_labels_are_short_printable_text(bad: str) -> None:
    with pytest.raises(ValueError):
        check_label(bad)
    assert check_label("Facture nº 42 / été") == "Facture nº 42 / été"


def test_entries_are_saved_atomically_privately_and_read_back(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "deep" / "journal")
    entry = Entry(b"\x01" * 16, "chain", b"signed", 5, "INV-1")
    assert journal.load(entry.tx_id) is None and journal.entries() == []
    path = journal.save(entry)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(journal.directory.stat().st_mode) == 0o700
    assert journal.load(entry.tx_id) == entry
    updated = Entry(b"\x01" * 16, "chain", b"signed", 5, "INV-1", receipt=b"r")
    journal.save(updated)
    assert journal.entries() == [updated]
    assert [p.name for p in journal.directory.iterdir()] == [path.name]  # no temporary left


def test_a_damaged_or_misplaced_entry_is_named(tmp_path: Path) -> None:
    journal = Journal(tmp_path)
    good = Entry(b"\x02" * 16, "chain", b"signed", 5)
    journal.save(good)
    journal.path(b"\x03" * 16).write_text('{"version": 1, "tx_id": "zz"}')
    with pytest.raises(JournalError, match="damaged"):
        journal.load(b"\x03" * 16)
    journal.path(b"\x04" * 16).write_bytes(journal.path(good.tx_id).read_bytes())
    with pytest.raises(JournalError, match="holds tx 0202"):
        journal.load(b"\x04" * 16)
    (tmp_path / "notes.json").write_text("{}")
    assert journal.entries() == [good]  # the others are skipped when listing


def test_the_directory_comes_from_the_option_then_the_environment(monkeypatch) -> None:
    monkeypatch.setenv(JOURNAL_ENV, "/from/env")
    assert journal_dir("/from/option") == Path("/from/option")
    assert journal_dir(None) == Path("/from/env")
    monkeypatch.delenv(JOURNAL_ENV)
    assert journal_dir(None) == Path("~/.depositnet/journal").expanduser()
