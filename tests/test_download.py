"""Download, checks and unpacking against a local HTTP server serving real RAVDESS files."""
from __future__ import annotations

import functools
import hashlib
import shutil
import socket
import threading
import zipfile
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from ser.data import download
from ser.data.download import (
    ArchiveError,
    ChecksumError,
    OfflineError,
    fetch,
    resolve_source,
    safe_extract,
    source_differences,
    verify_file,
)
from ser.data.ravdess import scan_corpus

MD5 = "bc696df654c87fed845eb13823edef8a"  # the release zip's, as config.yaml records it


class _Handler(SimpleHTTPRequestHandler):
    requests: list[str] = []
    fail_first: set[str] = set()

    def do_GET(self):
        type(self).requests.append(self.path)
        if self.path in self.fail_first:
            self.fail_first.discard(self.path)
            self.send_error(503, "try again")
            return
        super().do_GET()

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def real_zip(ravdess16k: Path, tmp_path_factory) -> Path:
    """A zip in the Zenodo layout (Actor_XX/...) of four real files."""
    root = tmp_path_factory.mktemp("served")
    path = root / "ravdess.zip"
    with zipfile.ZipFile(path, "w") as archive:
        for actor in (1, 2):
            for f in sorted((ravdess16k / f"Actor_{actor:02d}").glob("*.flac"))[:2]:
                archive.write(f, f"Actor_{actor:02d}/{f.name}")
    return path


@pytest.fixture(scope="module")
def server(real_zip: Path):
    handler = functools.partial(_Handler, directory=str(real_zip.parent))
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()
    thread.join(timeout=5)


def _md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_fetch_verified(server, real_zip, tmp_path):
    dest = tmp_path / "dl" / "ravdess.zip"
    got = fetch(f"{server}/ravdess.zip", dest, _md5(real_zip), real_zip.stat().st_size, retries=1, timeout=5)
    assert got == dest and dest.read_bytes() == real_zip.read_bytes()
    assert sorted(p.name for p in dest.parent.iterdir()) == ["ravdess.zip"]
    before = len(_Handler.requests)
    fetch(f"{server}/ravdess.zip", dest, _md5(real_zip), real_zip.stat().st_size)
    assert len(_Handler.requests) == before, "a verified file must not be downloaded again"


@pytest.mark.parametrize("wrong", ["md5", "size"])
def test_checksum_mismatch_leaves_nothing(server, real_zip, tmp_path, wrong):
    dest = tmp_path / "ravdess.zip"
    md5 = "0" * 32 if wrong == "md5" else _md5(real_zip)
    size = real_zip.stat().st_size + (1 if wrong == "size" else 0)
    with pytest.raises(ChecksumError) as err:
        fetch(f"{server}/ravdess.zip", dest, md5, size, retries=3, timeout=5)
    text = str(err.value)
    assert "ravdess.zip" in text
    assert (f"expected {'0' * 32}, got {_md5(real_zip)}" if wrong == "md5" else f"expected {size} bytes") in text
    assert list(tmp_path.iterdir()) == []


def test_transient_server_error_is_retried(server, real_zip, tmp_path, monkeypatch):
    sleeps = []
    monkeypatch.setattr(download.time, "sleep", sleeps.append)
    _Handler.fail_first.add("/ravdess.zip")
    dest = tmp_path / "ravdess.zip"
    fetch(f"{server}/ravdess.zip", dest, _md5(real_zip), real_zip.stat().st_size, retries=2, timeout=5)
    assert dest.exists() and sleeps == [1]


def test_missing_file_is_not_retried(server, tmp_path, monkeypatch):
    sleeps = []
    monkeypatch.setattr(download.time, "sleep", sleeps.append)
    with pytest.raises(ConnectionError, match="404"):
        fetch(f"{server}/absent.zip", tmp_path / "a.zip", "0" * 32, 1, retries=3, timeout=5)
    assert sleeps == [] and list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("host", ["closed-port", "ravdess.invalid"])
def test_unreachable_fails_fast_in_one_line(host, tmp_path, monkeypatch):
    url = f"http://127.0.0.1:{_closed_port()}/x.zip" if host == "closed-port" else "http://ravdess.invalid/x.zip"
    sleeps, probes = [], []
    connect = socket.create_connection

    def probe(address, timeout, *args):
        probes.append(timeout)
        return connect(address, timeout, *args)

    monkeypatch.setattr(download.time, "sleep", sleeps.append)
    monkeypatch.setattr(download.socket, "create_connection", probe)
    monkeypatch.setattr(download.urllib.request, "urlopen",
                        lambda *a, **k: pytest.fail("a download was attempted (timeout 30 s)"))
    with pytest.raises(OfflineError) as err:
        fetch(url, tmp_path / "x.zip", "0" * 32, 10, retries=3, timeout=30)
    # fast whatever the machine's load: one probe of at most PROBE_TIMEOUT, no download, no retry
    assert probes == [download.PROBE_TIMEOUT] and sleeps == []
    text = str(err.value)
    assert "\n" not in text and text.startswith(f"cannot reach {url}")
    assert "set ravdess.source in config.yaml to a local zip" in text and "Actor_XX" in text
    assert list(tmp_path.iterdir()) == []


def test_verify_file(real_zip):
    verify_file(real_zip, _md5(real_zip), real_zip.stat().st_size)
    with pytest.raises(ChecksumError, match=f"{real_zip}: MD5 mismatch, expected f+, got {_md5(real_zip)}"):
        verify_file(real_zip, "f" * 32)


def test_safe_extract_real_zip(real_zip, ravdess16k, tmp_path):
    dest = safe_extract(real_zip, tmp_path / "audio")
    files = sorted(p.relative_to(dest).as_posix() for p in dest.rglob("*.flac"))
    assert len(files) == 4 and files[0].startswith("Actor_01/")
    assert (dest / files[0]).read_bytes() == (ravdess16k / files[0]).read_bytes()
    assert [p.name for p in tmp_path.iterdir()] == ["audio"]


def _zip_with(path: Path, name: str, symlink: bool = False) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("Actor_01/ok.txt", "fine")
        info = zipfile.ZipInfo(name)
        if symlink:
            info.external_attr = 0o120777 << 16
        archive.writestr(info, "/etc/passwd" if symlink else "evil")
    return path


@pytest.mark.parametrize(
    "member, symlink, reason",
    [
        ("../escape.txt", False, "would escape the destination"),
        ("Actor_01/../../escape.txt", False, "would escape the destination"),
        ("/tmp/absolute.txt", False, "has an absolute path"),
        ("Actor_01/link", True, "is a symbolic link"),
    ],
)
def test_safe_extract_rejects_unsafe_members(tmp_path, member, symlink, reason):
    bad = _zip_with(tmp_path / "bad.zip", member, symlink)
    with pytest.raises(ArchiveError) as err:
        safe_extract(bad, tmp_path / "out" / "audio")
    assert str(bad) in str(err.value) and member in str(err.value) and reason in str(err.value)
    # members are checked before anything is written
    assert not (tmp_path / "out").exists() and not (tmp_path / "escape.txt").exists()


def test_corrupt_zip_named(real_zip, tmp_path):
    broken = tmp_path / "broken.zip"
    broken.write_bytes(real_zip.read_bytes()[: real_zip.stat().st_size // 2])
    with pytest.raises(ArchiveError, match=r"broken\.zip: corrupt or not a zip archive"):
        safe_extract(broken, tmp_path / "audio")
    assert not (tmp_path / "audio").exists()


def test_resolve_source(real_zip, tmp_path):
    assert resolve_source("zenodo") == ("zenodo", None)
    assert resolve_source("synthetic") == ("synthetic", None)
    assert resolve_source(str(real_zip)) == ("zip", real_zip.resolve())
    assert resolve_source(str(tmp_path)) == ("folder", tmp_path.resolve())
    with pytest.raises(FileNotFoundError, match="no such file or folder"):
        resolve_source(str(tmp_path / "missing.zip"))
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    with pytest.raises(ArchiveError, match="not a zip archive"):
        resolve_source(str(text))


# --- how a local copy differs from the release (logged by the metadata rule) -----------------

def _two_actors(ravdess16k: Path, root: Path) -> Path:
    for actor in (1, 2):
        shutil.copytree(ravdess16k / f"Actor_{actor:02d}", root / f"Actor_{actor:02d}")
    return root


def test_a_local_folder_differs_by_format_and_count(ravdess16k, tmp_path):
    root = _two_actors(ravdess16k, tmp_path / "copy")
    table = scan_corpus(root)
    lines = source_differences(str(root), table, MD5)
    assert lines[:3] == [f"local folder {root}", "FLAC files; the release's are WAV",
                         "sample rate 16000 Hz; the release's is 48000 Hz"]
    # Actor_01's two stereo files are the release's own: no difference
    assert set(table.loc[table["channels"] == 2, "file"]) == {"03-01-02-01-01-02-01",
                                                               "03-01-08-01-02-02-01"}
    assert lines[3:] == []
    lines = source_differences(str(root), table.iloc[1:], MD5)
    assert "119 files for 2 actors; the release has 120" in lines
    assert source_differences("zenodo", table, MD5) == []


def test_a_local_zip_differs_by_md5(ravdess16k, tmp_path):
    root = _two_actors(ravdess16k, tmp_path / "copy")
    zip_path = tmp_path / "Audio_Speech_Actors_01-24.zip"
    with zipfile.ZipFile(zip_path, "w") as archive:
        for path in sorted(root.rglob("*.flac")):
            archive.write(path, path.relative_to(root))
    actual = hashlib.md5(zip_path.read_bytes()).hexdigest()
    table = scan_corpus(root)
    lines = source_differences(str(zip_path), table, MD5)
    assert lines[0] == (f"local zip {zip_path}: MD5 mismatch, expected {MD5}, got {actual} "
                        "(expected: the release's)")
    sized = source_differences(str(zip_path), table, MD5, size=208468073)
    assert f"expected 208468073 bytes, got {zip_path.stat().st_size}" in sized[0]
