"""The docs agree with the code and with their results files, and speak of the project as it is.

* Every results table in docs/ is preceded by ``<!-- results/NAME.json -->`` and equals that file
  (docs/results/NAME.json: the command that reproduces it, the header and the rows, cell by cell).
* The README's summaries are computed from those files.
* Config values quoted in the docs are read from ``tinygan.recipe(...)``.
* No document is over 20 KB (theory.md excepted), and none tells the project's history.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from statistics import mean

import pytest

import tinygan

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
RESULTS = DOCS / "results"
README = ROOT / "README.md"
DOCUMENTS = [README, *sorted(DOCS.glob("*.md"))]
MARKER = re.compile(r"^<!-- (results/[\w.-]+\.json) -->$", re.M)


def read(path: Path) -> str:
    return path.read_text(encoding="utf-8")


def cells(line: str) -> list[str]:
    """The cells of one markdown table row, stripped: '| a | b |' -> ['a', 'b']."""
    return [cell.strip() for cell in line.strip().strip("|").split("|")]


def table_after(text: str, start: int) -> dict[str, list]:
    """The markdown table that starts on the line after ``start``: its header and rows (separator dropped)."""
    lines = text[start:].splitlines()[1:]
    table = []
    for line in lines:
        if not line.startswith("|"):
            break
        table.append(cells(line))
    assert len(table) >= 3, "a results marker must be followed by a table"
    return {"header": table[0], "rows": table[2:]}


def quoted_tables() -> list[tuple[Path, str, dict[str, list]]]:
    """(document, results file name, the table in the document) for every results marker."""
    found = []
    for doc in DOCUMENTS:
        text = read(doc)
        for match in MARKER.finditer(text):
            found.append((doc, match.group(1), table_after(text, match.end())))
    return found


def results(name: str) -> dict:
    return json.loads(read(RESULTS / name))


def numbers(cell: str) -> list[float]:
    return [float(x) for x in re.findall(r"\d+\.\d+|\d+", cell.replace(",", ""))]


@pytest.mark.parametrize("doc,name,table", quoted_tables(), ids=lambda v: v if isinstance(v, str) else None)
def test_results_table_equals_its_file(doc: Path, name: str, table: dict):
    stored = json.loads(read(DOCS / name))
    assert table["header"] == stored["header"], f"{doc.name}: the header of {name} differs"
    assert table["rows"] == stored["rows"], f"{doc.name}: the rows of {name} differ from the file"
    command = stored["command"]
    assert command in read(doc), f"{doc.name} does not give the command that reproduces {name}: {command}"


def test_every_results_file_is_quoted_once():
    quoted = sorted(name for _, name, _ in quoted_tables())
    on_disk = sorted(f"results/{path.name}" for path in RESULTS.glob("*.json"))
    assert quoted == on_disk


# ---- the README's summaries, computed from the results files ----


def test_readme_speed_rows_equal_the_benchmark_file():
    speed = results("speed_cpu.json")
    column = {name: i for i, name in enumerate(speed["header"])}
    by_case = {row[0]: row for row in speed["rows"]}
    readme_case = {
        "batch 64, hidden 128": "64×128",
        "batch 1024, hidden 128": "1024×128",
        "case-study recipe": "two (10,000 steps)",
        "ring recipe (3×256)": "ring8 (40,000)",
        "grid recipe": "grid25 with its codes (50,000)",
        "digits recipe": "digits (6,000)",
    }
    readme = read(README)
    rows = [cells(line) for line in readme.splitlines() if line.startswith("| ") and cells(line)[0] in readme_case]
    assert len(rows) == len(readme_case)
    for case, numba, torch, jax, x_torch, x_jax in rows:
        row = by_case[readme_case[case]]
        assert [numba, torch, jax] == [row[column["tinygan-numba"]], row[column["torch eager"]], row[column["jax jit"]]]
        assert [x_torch, x_jax] == [row[column["× torch"]] + "×", row[column["× jax"]] + "×"]
    peak = re.search(r"matmul peak\s+([\d.]+) GFLOP/s", readme).group(1)
    assert f"matmul peak {float(peak):.1f} GFLOP/s in that run" in re.sub(r"\s+", " ", read(DOCS / "performance.md"))


def test_readme_ring_summary_is_the_mean_of_the_file():
    ring = results("ring8_recipe.json")["per_seed"]  # the docs' table sums these rows up
    column = {name: i for i, name in enumerate(ring["header"])}
    rows = ring["rows"]
    assert len(rows) == 10 and all(row[column["modes (strict)"]] == "8/8" for row in rows)
    hq_truncated = mean(float(r[column["HQ %, 3% truncated"]]) for r in rows)
    hq_untruncated = mean(float(r[column["HQ %, untruncated"]]) for r in rows)
    kl, width = (mean(float(r[i]) for r in rows) for i in (3, 4))  # the truncated columns
    expected = (
        f"8/8 modes in 10 of 10 seeds; HQ {hq_truncated:.1f}% / {hq_untruncated:.1f}%; "
        f"reverse KL {kl:.3f}; width {width:.2f}"
    )
    assert expected in read(README)


def test_readme_grid_summary_is_the_file():
    grid = results("grid25_recipe.json")
    untruncated = dict(zip(grid["header"], grid["rows"][0]))
    assert untruncated["sampled"].startswith("without truncation") and untruncated["faithful"] == "10 of 10 seeds"
    expected = (
        f"25/25 modes in 10 of 10 seeds; HQ {untruncated['HQ %']}%, untruncated; "
        f"reverse KL {untruncated['rev KL']}; width {untruncated['width']}"
    )
    assert expected in read(README)
    theory = re.sub(r"\s+", " ", read(DOCS / "theory.md"))
    assert f"keeps every mode with {untruncated['HQ %']}% high-quality samples in ten seeds" in theory


def test_case_study_counts_are_the_file():
    study = results("case_study.json")
    column = {name: i for i, name in enumerate(study["header"])}
    passed = sum(r[column["pass"]] == "yes" for r in study["rows"])
    faithful = sum(r[column["faithful"]] == "yes" for r in study["rows"])
    faithful_averaged = sum(r[column["faithful, R draws"]] == "yes" for r in study["rows"])
    readme = re.sub(r"\s+", " ", read(README))
    assert f"in {passed} of seeds 0–9" in readme
    assert f"also in {faithful} of 10 ({faithful_averaged} of 10 with the energy averaged over ten draws)" in readme
    stds = [numbers(r[column["std range"]]) for r in study["rows"]]
    low, high = min(s[0] for s in stds), max(s[1] for s in stds)
    assert f"with it, {low:.2f} to {high:.2f}" in read(DOCS / "case_study.md")
    assert f"stds within {low:.2f}–{high:.2f}" in read(DOCS / "case_study.md")


# ---- config values quoted in the docs come from the recipes ----

QUOTES = [
    # (document, pattern with groups, the recipe's values those groups must equal)
    ("README.md", r"The recipe \(([\d,]+) Adam steps", lambda: [tinygan.recipe("two").steps]),
    ("README.md", r"a code of (\d+) values", lambda: [tinygan.recipe("grid25").latent_codes]),
    ("docs/case_study.md", r"(\d+) packs of (\d+) samples a side", lambda: _r("two", "batch_size", "pack")),
    ("docs/case_study.md", r"Adam, lr 2·10⁻⁴, betas \((\d+), ([\d.]+)\)", lambda: list(tinygan.recipe("two").betas)),
    ("docs/case_study.md", r"\*\*Two D updates per G update\*\* \(`d_steps = (\d+)`", lambda: _r("two", "d_steps")),
    ("docs/case_study.md", r"exponential moving average \(([\d.]+)\)", lambda: _r("two", "ema")),
    (
        "docs/mode_coverage.md",
        r"([\d,]+) steps on the ring and ([\d,]+) on the grid",
        lambda: _steps("ring8", "grid25"),
    ),
    (
        "docs/mode_coverage.md",
        r"`latent_codes=(\d+)`, `code_info=([\d.]+)`",
        lambda: _r("grid25", "latent_codes", "code_info"),
    ),
    (
        "docs/mode_coverage.md",
        r"leaves out the (\d+)% of the noise",
        lambda: [tinygan.recipe("ring8").jacobian_truncation * 100],
    ),
    ("docs/mode_coverage.md", r"`pack_spread_from=([\d.]+)`", lambda: _r("grid25", "pack_spread_from")),
    (
        "docs/mode_coverage.md",
        r"Adam 2·10⁻⁴ with betas \(([\d.]+), ([\d.]+)\)",
        lambda: list(tinygan.recipe("ring8").betas),
    ),
    (
        "docs/mode_coverage.md",
        r"cosine decay from (\d+)% of the run to (\d+)% of the rate",
        lambda: [100 * v for v in _r("grid25", "decay_start", "final_lr_fraction")],
    ),
    (
        "docs/mode_coverage.md",
        r"(\d+)×(\d+) ReLU/LeakyReLU nets, batch (\d+)",
        lambda: _r("ring8", "depth", "hidden", "batch_size"),
    ),
    (
        "docs/theory.md",
        r"the grid's recipe,\s+(\d+) codes at weight ([\d.]+)",
        lambda: _r("grid25", "latent_codes", "code_info"),
    ),
    ("docs/digits.md", r"batch (\d+), Adam lr ([\de.-]+)", lambda: _r("digits", "batch_size", "lr")),
    ("docs/digits.md", r"a constant rate, ([\d,]+) steps", lambda: _r("digits", "steps")),
    ("docs/performance.md", r"\| two \(([\d,]+) steps\) \|", lambda: _r("two", "steps")),
    ("docs/performance.md", r"\| ring8 \(([\d,]+)\) \|", lambda: _r("ring8", "steps")),
    ("docs/performance.md", r"\| grid25 with its codes \(([\d,]+)\) \|", lambda: _r("grid25", "steps")),
    ("docs/performance.md", r"\| digits \(([\d,]+)\) \|", lambda: _r("digits", "steps")),
    ("docs/performance.md", r"\*\*([\d,]+) \(the recipe\)\*\*", lambda: _r("two", "steps")),
]


def _r(name: str, *fields: str) -> list:
    config = tinygan.recipe(name)
    return [getattr(config, field) for field in fields]


def _steps(*names: str) -> list[int]:
    return [tinygan.recipe(name).steps for name in names]


@pytest.mark.parametrize("document,pattern,expected", QUOTES, ids=[f"{d}:{p[:30]}" for d, p, _ in QUOTES])
def test_quoted_config_values_are_the_recipes(document: str, pattern: str, expected):
    text = re.sub(r"\s+", " ", read(ROOT / document))
    match = re.search(pattern.replace(r"\s+", " ").replace("\n", " "), text)
    assert match, f"{document} no longer quotes {pattern!r}"
    quoted = [float(group.replace(",", "")) for group in match.groups()]
    assert quoted == pytest.approx([float(value) for value in expected()]), f"{document}: {match.group(0)}"


# ---- the documents themselves ----


@pytest.mark.parametrize("doc", DOCUMENTS, ids=lambda p: p.name)
def test_documents_are_short(doc: Path):
    if doc.name == "theory.md":  # a derivation that teaches in every section may run long
        return
    assert len(read(doc).encode("utf-8")) <= 20_000, f"{doc.name} is over 20 KB: keep the current results only"


HISTORY = re.compile(
    r"\b(?:an? earlier (?:run|build|pass|version|measurement|recipe)s?|the earlier \w+|first version|"
    r"(?:it|they|we|G|D|this|that|which) used to\b|before the \w+ (?:had|was|were|ran|got)\b|"
    r"session|issue #?\d+|what made .{0,40} faster)",
    re.I,
)


@pytest.mark.parametrize("doc", DOCUMENTS, ids=lambda p: p.name)
def test_documents_do_not_tell_history(doc: Path):
    found = HISTORY.findall(read(doc))
    assert not found, f"{doc.name} tells the project's history (git keeps it): {found}"


def test_history_pattern_catches_history_and_spares_the_rest():
    caught = ["an earlier run gave", "a first version of", "it used to fail", "before the grid had its codes",
              "this session", "issue #12", "What made the demo 2× faster"]  # fmt: skip
    spared = ["the noise used to draw G's samples", "before the G step", "before Adam's loop",
              "the run's first steps", "earlier in training"]  # fmt: skip
    assert all(HISTORY.search(text) for text in caught)
    assert not any(HISTORY.search(text) for text in spared)


def test_readme_core_size_is_about_the_reading_order_files():
    files = [f"tinygan/nn/{name}.py" for name in ("module", "layers", "activations", "losses", "optim", "parameters")]
    files.append("tinygan/gan/model.py")
    lines = sum(len(read(ROOT / path).splitlines()) for path in files)
    match = re.search(r"about ([\d,]+) lines in (\d+) files", re.sub(r"\s+", " ", read(README)))
    assert match, "the README no longer says how many lines one training step takes to read"
    quoted, count = int(match.group(1).replace(",", "")), int(match.group(2))
    assert count == len(files)
    assert abs(quoted - lines) <= 0.1 * lines, f"the reading-order files hold {lines} lines; README says about {quoted}"


def test_profile_two_thread_column_is_the_benchmark_rate():
    """docs/performance.md's profile ends with the 2-thread step of the benchmark table: 1000 / steps/s, in ms."""
    speed = results("speed_cpu.json")
    numba = speed["header"].index("tinygan-numba")
    rate = {row[0].split(" (")[0]: float(row[numba]) for row in speed["rows"]}
    rate["grid25, with its codes ²"] = rate.pop("grid25 with its codes")
    profile = [cells(line) for line in read(DOCS / "performance.md").splitlines() if line.startswith("| ")]
    profile = [row for row in profile if row[0] in rate and len(row) == 8]
    assert len(profile) == 7
    for row in profile:
        assert row[-1] == f"{1000 / rate[row[0]]:.2f} ms", f"profile row {row[0]}"


def summed_up(per_seed: dict) -> list[list[str]]:
    """Per group of seeds (one method, or all): [faithful, modes, HQ range, reverse KL range, width range]
    sampled truncated, then untruncated, from the per-seed rows' truncated and untruncated columns."""
    header, groups = per_seed["header"], {}
    for row in per_seed["rows"]:
        groups.setdefault(row[0] if header[0] == "method" else "", []).append(row)
    modes, faithful = header.index("modes (strict)"), header.index("faithful (truncated / untruncated)")

    def span(values: list[float], digits: int) -> str:
        low, high = f"{min(values):.{digits}f}", f"{max(values):.{digits}f}"
        return low if low == high else f"{low}–{high}"

    summaries = []
    for rows in groups.values():
        total = rows[0][modes].split("/")[1]
        kept = [int(r[modes].split("/")[0]) for r in rows]
        every = f"{total}/{total} in every seed" if min(kept) == int(total) else f"{min(kept)}–{max(kept)} of {total}"
        for k, first in enumerate((modes + 1, modes + 4)):
            met = sum(r[faithful].split(" / ")[k] == "yes" for r in rows)
            columns = [[float(r[first + i]) for r in rows] for i in range(3)]
            summaries.append([f"{met} of {len(rows)} seeds", every, span(columns[0], 2), span(columns[1], 4),
                              span(columns[2], 2)])  # fmt: skip
    return summaries


@pytest.mark.parametrize("name", sorted(p.name for p in RESULTS.glob("*.json") if "per_seed" in results(p.name)))
def test_summary_rows_sum_up_the_seeds_kept_beside_them(name: str):
    """A table that sums seeds up (faithful count, modes, ranges) says what its per-seed rows say."""
    stored = results(name)
    header = stored["header"]
    shown = [[row[header.index(c)] for c in ("faithful", "modes (strict)", "HQ %", "rev KL", "width")]
             for row in stored["rows"]]  # fmt: skip
    assert shown == summed_up(stored["per_seed"])
