"""A folder holding the corpus twice, as Kaggle's download does, built from the real corpus: the
summary is a few lines, the clean copy is used, and long problem listings are capped."""
from __future__ import annotations

import logging
import shutil
from pathlib import Path

import pandas as pd
import pytest
import soundfile as sf
import yaml

from conftest import run_snakemake

from ser.data.copies import CorpusCopiesError
from ser.data.ravdess import CorpusError, scan_corpus

ACTORS = (1, 2, 3)
RESAMPLED = ["03-01-03-01-01-01-01", "03-01-05-02-02-02-02", "03-01-08-01-01-02-03"]
MISFILED = "03-01-04-02-01-01-02"  # actor 02's, put into Actor_03 of the second copy


def copy_actors(src: Path, dest: Path) -> None:
    for actor in ACTORS:
        shutil.copytree(src / f"Actor_{actor:02d}", dest / f"Actor_{actor:02d}")


@pytest.fixture
def kaggle(ravdess16k: Path, tmp_path: Path) -> Path:
    """Kaggle's layout: audio_speech_actors_01-24/Actor_XX (intact) and top-level Actor_XX,
    where three files were re-encoded at 8 kHz and one is in the wrong actor's folder."""
    root = tmp_path / "kaggle"
    copy_actors(ravdess16k, root / "audio_speech_actors_01-24")
    copy_actors(ravdess16k, root)
    for stem in RESAMPLED:
        path = root / f"Actor_{stem[-2:]}" / f"{stem}.flac"
        data, rate = sf.read(path)
        sf.write(path, data[::2], rate // 2)  # what a careless 8 kHz re-encode leaves
    shutil.move(root / "Actor_02" / f"{MISFILED}.flac", root / "Actor_03" / f"{MISFILED}.flac")
    return root


def test_two_copies_the_clean_one_is_used_and_said_in_a_few_lines(kaggle, caplog):
    nested = kaggle / "audio_speech_actors_01-24"
    with caplog.at_level(logging.INFO):
        df = scan_corpus(kaggle, actors=ACTORS)
    assert len(df) == 60 * len(ACTORS)
    assert all(Path(p).is_relative_to(nested) for p in df["path"])
    assert set(df["sample_rate"]) == {16000}
    console = [r.getMessage() for r in caplog.records if not getattr(r, "file_only", False)]
    message = "\n".join(console)
    assert len(message.splitlines()) <= 15, message
    assert f"{kaggle} holds 2 copies" in message
    assert f"{nested}: 180 of 180 files usable, 16000 Hz, flac, 0 problem(s)" in message
    assert f"{kaggle}: 179 of 180 files usable, 16000 (176), 8000 (3) Hz" in message
    assert "4 recording(s) differ" in message and f"using {nested}" in message
    full = "\n".join(r.getMessage() for r in caplog.records if getattr(r, "file_only", False))
    for stem in [*RESAMPLED, MISFILED]:
        assert stem in full  # every differing file in the log file, not on the console
    # copies in path order: the top-level one, then the nested one
    assert f"{MISFILED}: actor 02 in the name, but the file is in Actor_03 | 16000 Hz flac" in full


def test_no_clean_copy_stops_and_names_the_copies(kaggle):
    nested = kaggle / "audio_speech_actors_01-24"
    (nested / "Actor_01" / "03-01-02-01-01-01-01.flac").unlink()
    with pytest.raises(CorpusCopiesError) as err:
        scan_corpus(kaggle, actors=ACTORS)
    message = str(err.value)
    assert len(message.splitlines()) <= 15, message
    assert f"{nested}: 179 of 180 files usable" in message
    assert "none of them complete and in one format" in message
    assert message.endswith("set ravdess.source to the copy to use")


def test_a_long_problem_listing_is_capped_with_counts_by_kind(ravdess16k, tmp_path):
    root = tmp_path / "swapped"
    shutil.copytree(ravdess16k / "Actor_01", root / "Actor_02")  # 60 files each in the
    shutil.copytree(ravdess16k / "Actor_02", root / "Actor_01")  # other actor's folder
    (root / "Actor_01" / "notes-01.wav").write_bytes(b"RIFF")
    with pytest.raises(CorpusError) as err:
        scan_corpus(root)
    message = str(err.value)
    assert len(message.splitlines()) <= 15, message
    assert "by kind: 120 in the wrong Actor_XX folder, 1 not a RAVDESS name" in message
    assert "... and 113 more (all of them: the job's log)" in message
    assert len(err.value.details.splitlines()) == 121


def test_the_metadata_job_says_it_briefly_and_logs_everything(kaggle, tmp_path):
    """Through the workflow: the console gets the summary, logs/metadata.log every differing
    file and how the copy used differs from the release."""
    config = tmp_path / "kaggle.yaml"
    config.write_text(yaml.safe_dump({"ravdess": {"source": str(kaggle), "actors": [*ACTORS]},
                                      "run_models": ["kaggle_cnn1d"]}))
    proc = run_snakemake(tmp_path / "run", "--cores", "1", "--until", "metadata",
                         configfiles=(config,), timeout=300)
    summary = proc.stderr[proc.stderr.index("holds 2 copies"):]
    summary = summary[:summary.index("(complete, one format, no problems)")]
    assert len(summary.splitlines()) <= 15, proc.stderr
    log = (tmp_path / "run" / "logs" / "metadata.log").read_text()
    assert all(stem in log for stem in [*RESAMPLED, MISFILED]), log
    nested = kaggle / "audio_speech_actors_01-24"
    assert f"differs from the RAVDESS release: local folder {kaggle}" in log
    assert "differs from the RAVDESS release: FLAC files; the release's are WAV" in log
    metadata = pd.read_csv(tmp_path / "run" / "results" / "metadata.csv")
    assert len(metadata) == 180 and all(Path(p).is_relative_to(nested) for p in metadata["path"])
