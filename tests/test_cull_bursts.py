"""cull --bursts and --overrides on real files: the frames of a burst that are not its best, with and
without the blurry verdict, and a review page's keep and reject decisions, each by dry run, --apply
and --undo. The burst columns are the ones the job's ranking gives the frames (support.cull_runs)."""

from __future__ import annotations

import csv
import hashlib
import xml.etree.ElementTree as ET
from datetime import timedelta
from pathlib import Path

import pyarrow as pa
import pytest
from support.cull_runs import burst_rows, make_photos, row_for, write_rows

from pipeline.results.cull import cull
from pipeline.results.cull.selection import BLURRY, BURST, REJECTED, select
from pipeline.results.overrides import KEEP, REJECT, Override, write_overrides
from pipeline.results.reader import conform

# Burst A: frames 0-3 (0 the sharpest; 2 and 3 blurry). Burst B: frames 4-6, all blurry (4 the best).
# 7 alone and sharp, 8 alone and blurry, 9 a row from before bursts (no burst columns), 10 an error.
PROBABILITIES = [[0.05, 0.2, 0.7, 0.9], [0.6, 0.8, 0.95], [0.1], [0.85]]
BLURRY_ONES = {2, 3, 4, 5, 6, 8}
NOT_BEST = {1, 2, 3, 5, 6}


def _tree(root: Path) -> dict[str, str]:
    return {
        str(path.relative_to(root)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(root.rglob("*"))
        if path.is_file()
    }


def _manifest(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as stream:
        return [row for row in csv.DictReader(stream) if row["action"] != "run"]


@pytest.fixture
def burst_run(tmp_path, monkeypatch):
    """(photos root, run prefix, photo paths, rows by path); cwd is tmp_path."""
    monkeypatch.chdir(tmp_path)
    root = tmp_path / "photos"
    paths = make_photos(root, 11)
    groups, start = [], 0
    for probabilities in PROBABILITIES:
        groups.append([(paths[start + i], p) for i, p in enumerate(probabilities)])
        start += len(probabilities)
    rows = burst_rows(groups)
    rows.append(row_for(paths[9], 0.3) | {"blurry": False, "blur_type": "none"})  # no burst columns
    rows.append(row_for(paths[10], 0.0) | {"status": "error", "blurry": None, "blur_probability": None})
    prefix = write_rows(rows, tmp_path / "run" / "scores")
    return root, prefix, paths, {row["uri"]: row for row in rows}


def _names(paths: list[Path], root: Path, indexes) -> set[str]:
    return {str(paths[i].relative_to(root)) for i in indexes}


def _dry_run(capsys, arguments: list[str], root: Path, paths: list[Path]) -> tuple[set[str], str]:
    """The photos a dry run would copy (by name below root), and what it said on stderr."""
    assert cull.main(arguments) == 0
    captured = capsys.readouterr()
    chosen = {
        str(Path(line.split(": ", 1)[1].split(" -> ")[0]).relative_to(root))
        for line in captured.out.splitlines()
        if line.startswith("would copy: ")
    }
    return chosen, captured.err


def test_the_rows_each_rule_chooses(burst_run) -> None:
    root, prefix, paths, rows = burst_run
    table = conform(pa.Table.from_pylist(list(rows.values())))
    by_index = {str(path): index for index, path in enumerate(paths)}

    def chosen(**options) -> dict[int, str]:
        selected = select(table, **options).table
        return dict(zip((by_index[u] for u in selected.column("uri").to_pylist()),
                        selected.column("reasons").to_pylist(), strict=True))  # fmt: skip

    assert set(chosen()) == BLURRY_ONES  # today's default
    assert chosen(blurry=False, bursts=True) == dict.fromkeys(NOT_BEST, BURST)
    both = chosen(bursts=True)
    assert set(both) == BLURRY_ONES | NOT_BEST  # either verdict; photos alone only when blurry
    assert both[4] == BLURRY and both[2] == f"{BLURRY},{BURST}" and both[1] == BURST
    assert 0 not in both and 7 not in both and 9 not in both and 10 not in both
    overrides = {
        str(paths[2]): Override(str(paths[2]), KEEP),
        str(paths[7]): Override(str(paths[7]), REJECT, rows[str(paths[7])]["file_size"]),
    }
    selection = select(table, bursts=True, overrides=overrides)
    reasons = dict(
        zip(
            selection.table.column("uri").to_pylist(),
            selection.table.column("reasons").to_pylist(),
            strict=True,
        )
    )
    assert str(paths[2]) not in reasons and reasons[str(paths[7])] == REJECTED
    assert (
        selection.summary()
        == "5 blurry, 4 burst frame(s) not the best, 1 rejected in review; 1 kept in review"  # 2 kept
    )


def test_bursts_dry_run_apply_and_undo(burst_run, tmp_path, capsys) -> None:
    root, prefix, paths, _ = burst_run
    dest = tmp_path / "culled"
    originals, before = _tree(root), _tree(tmp_path)
    chosen, said = _dry_run(capsys, ["--scores", prefix, "--to", str(dest), "--bursts"], root, paths)
    assert chosen == _names(paths, root, NOT_BEST)
    assert "5 photo(s) to act on of 11 rows (5 burst frame(s) not the best)" in said
    assert _tree(tmp_path) == before and not dest.exists()  # no copy, no cull log

    arguments = ["--scores", prefix, "--to", str(dest), "--bursts", "--move", "--apply"]
    assert cull.main([*arguments, "--manifest", "m.csv"]) == 0
    assert {r["result"] for r in _manifest(tmp_path / "m.csv")} == {"moved"}
    moved = _names(paths, root, NOT_BEST)
    assert _tree(dest) == {name: originals[name] for name in moved}
    assert _tree(root) == {name: sha for name, sha in originals.items() if name not in moved}  # best kept
    assert cull.main([*arguments, "--manifest", "m2.csv"]) == 0  # a rerun finds them done
    assert {r["result"] for r in _manifest(tmp_path / "m2.csv")} == {"skipped: already moved"}

    assert cull.main(["--undo", "m.csv"]) == 0  # dry
    assert _tree(dest) == {name: originals[name] for name in moved}
    assert cull.main(["--undo", "m.csv", "--apply", "--manifest", "u.csv"]) == 0
    assert {r["result"] for r in _manifest(tmp_path / "u.csv")} == {"moved back"}
    assert _tree(root) == originals and _tree(dest) == {}


def test_bursts_with_blurry_is_either_and_types_need_blurry(burst_run, tmp_path, capsys) -> None:
    root, prefix, paths, _ = burst_run
    dest = str(tmp_path / "culled")
    chosen, _ = _dry_run(capsys, ["--scores", prefix, "--to", dest, "--bursts", "--blurry"], root, paths)
    assert chosen == _names(paths, root, BLURRY_ONES | NOT_BEST)
    chosen, _ = _dry_run(capsys, ["--scores", prefix, "--to", dest, "--blurry"], root, paths)
    assert chosen == _names(paths, root, BLURRY_ONES)
    # --min_probability narrows the blurry verdict only: every non-best frame stays chosen.
    chosen, _ = _dry_run(
        capsys,
        ["--scores", prefix, "--to", dest, "--bursts", "--blurry", "--min_probability", "0.9"],
        root,
        paths,
    )
    assert chosen == _names(paths, root, NOT_BEST | {6})
    with pytest.raises(SystemExit) as stopped:
        cull.main(["--scores", prefix, "--to", dest, "--bursts", "--types", "motion"])
    assert stopped.value.code == 2 and "add --blurry" in capsys.readouterr().err


def test_bursts_keep_the_safety_promises(burst_run, tmp_path, capsys) -> None:
    root, prefix, paths, _ = burst_run
    before = _tree(tmp_path)
    assert cull.main(["--scores", prefix, "--to", str(root / "culled"), "--bursts", "--move", "--apply"]) == 2
    assert _tree(tmp_path) == before and capsys.readouterr().err.startswith("cull: ")
    paths[3].write_bytes(b"edited after it was scored")  # a non-best frame replaced
    dest = tmp_path / "culled"
    assert (
        cull.main(
            ["--scores", prefix, "--to", str(dest), "--bursts", "--move", "--apply", "--manifest", "m.csv"]
        )
        == 0
    )
    results = {r["source"]: r["result"] for r in _manifest(tmp_path / "m.csv")}
    assert results.pop(str(paths[3])) == "skipped: changed since it was scored (left alone)"
    assert set(results.values()) == {"moved"} and paths[3].read_bytes() == b"edited after it was scored"


@pytest.fixture
def overrides_file(burst_run, tmp_path) -> tuple[Path, set[int], list[str]]:
    """(file, the photos then chosen with --bursts --blurry, the photos named in not-applied lines)."""
    root, _, paths, rows = burst_run

    def reviewed(index: int, decision: str, **changes) -> Override:
        row = rows[str(paths[index])]
        facts = {"file_size": row["file_size"], "modified_at": row["modified_at"]} | changes
        return Override(str(paths[index]), decision, **facts)

    overrides = [
        reviewed(2, KEEP),  # a blurry non-best frame the person keeps
        reviewed(8, KEEP, file_size=None, modified_at=None),  # made on a run without file facts: applies
        reviewed(7, REJECT),  # a sharp photo alone the person rejects
        reviewed(0, REJECT, file_size=rows[str(paths[0])]["file_size"] + 1),  # stale: not applied
        reviewed(5, KEEP, modified_at=rows[str(paths[5])]["modified_at"] - timedelta(days=1)),  # stale
        Override(str(root / "day9" / "gone.jpg"), REJECT),  # not in the run
        reviewed(10, REJECT),  # the job could not score it
    ]
    path = tmp_path / "overrides.csv"
    write_overrides(path, overrides)
    chosen = (BLURRY_ONES | NOT_BEST | {7}) - {2, 8}
    return path, chosen, [str(paths[0]), str(paths[5]), str(root / "day9" / "gone.jpg"), str(paths[10])]


def test_overrides_dry_run_apply_and_undo(burst_run, overrides_file, tmp_path, capsys) -> None:
    root, prefix, paths, _ = burst_run
    path, wanted, reported = overrides_file
    dest = tmp_path / "culled"
    originals = _tree(root)
    arguments = ["--scores", prefix, "--to", str(dest), "--bursts", "--blurry", "--overrides", str(path)]
    chosen, said = _dry_run(capsys, arguments, root, paths)
    assert chosen == _names(paths, root, wanted)
    lines = [line for line in said.splitlines() if line.startswith("override not applied: ")]
    assert [line.split(": ")[1] for line in lines] == reported  # one line per photo, in file order
    assert "changed since it was reviewed (size" in lines[0] and "(modified" in lines[1]
    assert "no such photo in this run" in lines[2] and "did not score it (error)" in lines[3]
    assert "1 rejected in review; 2 kept in review" in said
    assert not dest.exists()

    assert cull.main([*arguments, "--apply", "--manifest", "c.csv"]) == 0
    assert {r["result"] for r in _manifest(tmp_path / "c.csv")} == {"copied"}
    assert set(_tree(dest)) == _names(paths, root, wanted) and _tree(root) == originals
    assert cull.main(["--undo", "c.csv", "--apply", "--manifest", "u.csv"]) == 0
    assert _tree(dest) == {} and _tree(root) == originals


def test_overrides_with_only_the_blurry_verdict(burst_run, overrides_file, tmp_path, capsys) -> None:
    root, prefix, paths, _ = burst_run
    path, _, _ = overrides_file
    arguments = ["--scores", prefix, "--to", str(tmp_path / "culled"), "--overrides", str(path)]
    chosen, _ = _dry_run(capsys, arguments, root, paths)
    assert chosen == _names(paths, root, (BLURRY_ONES | {7}) - {2, 8})


def _keywords(sidecar: Path) -> list[str]:
    ns = {"rdf": "http://www.w3.org/1999/02/22-rdf-syntax-ns#", "lr": "http://ns.adobe.com/lightroom/1.0/"}
    root = ET.parse(sidecar).getroot()
    return [li.text for li in root.iterfind(".//lr:hierarchicalSubject/rdf:Bag/rdf:li", ns)]


def test_sidecars_say_why_and_undo(burst_run, overrides_file, tmp_path) -> None:
    root, prefix, paths, _ = burst_run
    path, wanted, _ = overrides_file
    originals = _tree(root)
    arguments = ["--scores", prefix, "--xmp", "--bursts", "--blurry", "--overrides", str(path), "--apply"]
    assert cull.main([*arguments, "--manifest", "x.csv"]) == 0
    assert {r["result"] for r in _manifest(tmp_path / "x.csv")} == {"sidecar written"}
    written = {name for name in _tree(root) if name not in originals}
    assert written == {f"{name}.xmp" for name in _names(paths, root, wanted)}
    assert _keywords(Path(f"{paths[1]}.xmp")) == ["Burst|not best"]  # sharp, but not the best
    assert _keywords(Path(f"{paths[3]}.xmp")) == ["Blurry|motion", "Burst|not best"]
    assert _keywords(Path(f"{paths[4]}.xmp")) == ["Blurry|motion"]  # the best of a blurry burst
    assert _keywords(Path(f"{paths[7]}.xmp")) == ["Review|rejected"]
    assert cull.main([*arguments, "--manifest", "x2.csv"]) == 0
    assert {r["result"] for r in _manifest(tmp_path / "x2.csv")} == {"skipped: already there"}
    assert cull.main(["--undo", "x.csv", "--apply", "--manifest", "xu.csv"]) == 0
    assert _tree(root) == originals


@pytest.mark.parametrize(
    ("content", "said"),
    [
        ("uri,decision,file_size,modified_at,crc32c\n/p/a.jpg,maybe,,,\n", "line 2: decision 'maybe'"),
        ("uri,verdict\n/p/a.jpg,keep\n", "not an overrides file"),
        (None, "cannot be read"),
    ],
)
def test_a_malformed_overrides_file_is_one_line_and_exit_2(
    burst_run, tmp_path, capsys, content, said
) -> None:
    root, prefix, _, _ = burst_run
    path = tmp_path / "overrides.csv"
    if content is not None:
        path.write_text(content)
    before = _tree(tmp_path)
    arguments = ["--scores", prefix, "--to", str(tmp_path / "culled"), "--bursts", "--move", "--apply"]
    assert cull.main([*arguments, "--overrides", str(path), "--manifest", "m.csv"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and said in err and "\n" not in err
    assert _tree(tmp_path) == before  # nothing moved, no cull log
