"""The generated root credentials file is owner-only even where a looser file (or a
symbolic link) was left in its place."""

from __future__ import annotations

import io
import os
import stat
from pathlib import Path

import pytest

from tessera.server.bootstrap import Bootstrapped, _announce_root_keys

BOOT = Bootstrapped("111122223333", "AKIAEXAMPLEKEY000001", "secret" * 6, True)


def test_a_readable_leftover_file_is_made_private_before_the_secret_is_written(tmp_path: Path) -> None:
    path = tmp_path / "root-credentials"
    path.write_text("old")
    os.chmod(path, 0o644)
    _announce_root_keys(str(tmp_path), BOOT, io.StringIO())
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert "aws_secret_access_key" in path.read_text()


def test_a_symbolic_link_in_its_place_is_not_followed(tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.write_text("")
    (tmp_path / "root-credentials").symlink_to(elsewhere)
    with pytest.raises(OSError, match="symbolic links"):
        _announce_root_keys(str(tmp_path), BOOT, io.StringIO())
    assert elsewhere.read_text() == ""
