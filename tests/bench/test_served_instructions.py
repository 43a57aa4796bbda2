"""The served-instructions bench's reading of callgrind dumps."""

from __future__ import annotations

from pathlib import Path

from bench.served_instructions import dump_total


def test_a_dump_total_sums_every_part_and_thread(tmp_path: Path) -> None:
    first = tmp_path / "callgrind.7.out.1-01"
    first.write_text("version: 1\ncmd: tessera serve\npart: 1\nevents: Ir\nsummary: 0\ntotals: 1200\n")
    second = tmp_path / "callgrind.7.out.1-02"
    second.write_text("version: 1\nevents: Ir\nfn=main\n16 5\ntotals: 34\n")
    empty = tmp_path / "callgrind.7.out"  # the part callgrind writes at exit, before any dump
    empty.write_text("version: 1\nevents: Ir\n")
    assert dump_total([str(first), str(second), str(empty)]) == 1234
