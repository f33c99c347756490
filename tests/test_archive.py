"""The custom-job archive (`compiler.archive`): deterministic bytes and one-line refusals."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import pytest

from compiler.archive import ArchiveError, build_archive, cache_file_token


def script(folder: Path, name: str, text: str, mode: int = 0o755) -> str:
    path = folder / name
    path.write_text(text)
    path.chmod(mode)
    return str(path)


def test_members_sorted_normalised_and_named_by_digest(tmp_path: Path) -> None:
    b = script(tmp_path, "b.sh", "echo b\n")
    a = script(tmp_path, "a.py", "print('a')\n", 0o600)
    archive = build_archive([b, a, b])  # a source named twice is one member
    assert [name for name, _ in archive.members] == ["a.py", "b.sh"]
    with tarfile.open(fileobj=io.BytesIO(archive.data), mode="r:gz") as tar:
        infos = tar.getmembers()
        assert [(i.name, i.mode, i.mtime, i.uid, i.uname) for i in infos] == [
            ("a.py", 0o644, 0, 0, ""),
            ("b.sh", 0o755, 0, 0, ""),
        ]
    assert (
        archive.name == f"jobO.{archive.sha256[:8]}-{archive.sha256[8:12]}-{archive.sha256[12:16]}-"
        f"{archive.sha256[16:20]}-{archive.sha256[20:32]}.tar.gz"
    )
    assert build_archive([a, b]).data == archive.data  # order of the sources does not matter
    assert cache_file_token(archive.name).endswith("/cache/" + archive.name)


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda d: [str(d / "missing.sh")], "missing.sh.*cannot read"),
        (lambda d: [str(d)], "is not a regular file"),
        (lambda d: [], "has none"),
        (lambda d: [script(d, "x.sh", "1"), script(d / "sub", "x.sh", "2")], "would both be 'x.sh'"),
    ],
)
def test_bad_executables_are_named(tmp_path: Path, make, match: str) -> None:
    (tmp_path / "sub").mkdir()
    with pytest.raises(ArchiveError, match=match):
        build_archive(make(tmp_path))
