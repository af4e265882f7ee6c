"""The published real-corpus reports (`reports/*.html`, written by benchmarks/publish_report.py
from a run's own report rule): they open in headless Chromium without a request off the machine,
their first sentence answers the question in at most 60 words, and each number in it is a
registry row's (benchmarks/results/registry.csv), not a typed one."""
from __future__ import annotations

import re

import pandas as pd
import pytest

from conftest import REPO
from ser.report.answer import first_sentence
from ser.report.browser import off_machine, visit

pytestmark = pytest.mark.browser
PAGES = sorted((REPO / "reports").glob("*.html"))
# "(cnn6, UA 55.31 ± 5.12 %)": a model and its mean UA in the first sentence
NAMED_UA = re.compile(r"\((\w+), UA (\d+\.\d) ± \d+\.\d %\)")


def test_a_real_corpus_report_is_published() -> None:
    assert [p.name for p in PAGES if p.name.startswith("real-")], \
        "reports/ has no real-corpus report; see benchmarks/publish_report.py"
    shot = REPO / "docs" / "report-first-screen.png"
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert f"]({shot.relative_to(REPO)})" in (REPO / "README.md").read_text()


@pytest.mark.timeout(120)
@pytest.mark.parametrize("page", PAGES, ids=[p.name for p in PAGES])
def test_published_report_opens_offline_and_answers_first(chromium, tmp_path, page) -> None:
    seen = visit(chromium, page, tmp_path)
    assert seen["errors"] == []
    assert seen["urls"] and off_machine(seen["urls"]) == []
    assert seen["figures"] and all(alt and decoded for _, alt, decoded in seen["figures"])
    sentence = first_sentence(seen["answer"])
    assert len(sentence.split()) <= 60, sentence
    assert sentence.startswith("Transfer learning (") and "against CNNs from scratch (" in sentence
    assert "best family overall:" in sentence
    assert "NOT real transfer learning" not in seen["answer"]  # transfer with real weights


@pytest.mark.parametrize("page", PAGES, ids=[p.name for p in PAGES])
def test_published_numbers_are_registry_rows(page) -> None:
    """Each model the first sentence names, with its UA to 0.1, has a registry row saying so."""
    registry = pd.read_csv(REPO / "benchmarks" / "results" / "registry.csv")
    text = page.read_text()
    answer = re.search(r"<p id=['\"]answer['\"][^>]*>(.*?)</p>", text, re.S).group(1)
    named = NAMED_UA.findall(first_sentence(answer))
    assert len(named) == 3, answer[:300]  # transfer, scratch and the best family's model
    for model, ua in named:
        rows = registry[registry["model"] == model]
        # the registry keeps 2 decimals, the page 1: the same mean within the rounding
        assert ((rows["ua"] - float(ua)).abs() <= 0.051).any(), (model, ua, rows["ua"].tolist())


# the README's generated answer: "On <protocol> (<set-up>; ...):  \nCNN from scratch `m` 47.77
# against transfer with real pretrained weights `m` 65.37: ..."
README_SETUP = re.compile(r"^On (\w+) \((.+?); families'")
README_PAIR = re.compile(r"CNN from scratch `(\w+)` [\d.]+ against transfer with real pretrained "
                         r"weights `(\w+)` [\d.]+")


def readme_answer() -> tuple[str, str, str, str]:
    """(protocol, set-up, scratch model, transfer model) of the README's answer, from the registry."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("results_table",
                                                  REPO / "benchmarks" / "results_table.py")
    table = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(table)
    registry = table.current(pd.read_csv(table.REGISTRY), pd.read_csv(table.SUPERSEDED))
    text = table.answer(table.summary(registry))
    (protocol, setup), pair = README_SETUP.match(text).groups(), README_PAIR.search(text)
    return protocol, setup, *pair.groups()


def test_the_published_report_gives_the_readmes_answer() -> None:
    """Issue 42: the report the README links comes from the set-up its answer names: the first
    sentence's scratch and transfer models are the README's, each with the UA of that set-up's
    registry row for the report's seed."""
    readme = (REPO / "README.md").read_text()
    page = REPO / re.search(r"\]\((reports/real-[\w.-]+\.html)\)", readme).group(1)
    protocol, setup, scratch, transfer = readme_answer()
    text = page.read_text()
    answer = re.search(r"<p id=['\"]answer['\"][^>]*>(.*?)</p>", text, re.S).group(1)
    named = dict(NAMED_UA.findall(first_sentence(answer)))
    assert {scratch, transfer} <= set(named), (scratch, transfer, named)
    seeds = re.search(r"<td>seeds</td><td>([\d, ]+)</td>", text).group(1).split(", ")
    registry = pd.read_csv(REPO / "benchmarks" / "results" / "registry.csv")
    rows = registry[(registry["protocol"] == protocol) & (registry["setup"] == setup) &
                    registry["seed"].astype(str).isin(seeds)].set_index("model")
    for model in (scratch, transfer):
        # the registry keeps 2 decimals, the page 1
        assert abs(rows.loc[model, "ua"] - float(named[model])) <= 0.051, (model, setup)
