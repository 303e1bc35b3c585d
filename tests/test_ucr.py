"""UCR/UEA ``.ts`` reader and CSV one-row-per-series: formats, lengths, clear errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from rnnkit.data.builtin import is_available
from rnnkit.data.ucr import load_classification, read_series_csv, read_ts
from rnnkit.errors import RnnkitError

UNIVARIATE = """# a comment
@problemName Toy
@timeStamps false
@missing false
@univariate true
@equalLength true
@seriesLength 4
@classLabel true a b
@data
1,2,3,4:a
4,3,2,1:b
0.5,0.5,0.5,0.5:a
"""

MULTIVARIATE_VARIABLE = """@problemName Toy2
@timeStamps false
@univariate false
@dimensions 2
@equalLength false
@classLabel true 1 2 3
@data
1,2,3:10,20,30:1
4,5:40,50:3
6,7,8,?,?:60,70,80,?,?:2
"""


def ts(tmp_path: Path, text: str, name: str = "toy.ts") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_univariate_equal_length(tmp_path: Path) -> None:
    d = read_ts(ts(tmp_path, UNIVARIATE))
    assert d.name == "Toy" and d.classes == ["a", "b"] and d.labels == ["a", "b", "a"]
    assert d.channels == 1 and d.lengths.tolist() == [4, 4, 4]
    assert d.series[1][:, 0].tolist() == [4, 3, 2, 1]


def test_multivariate_variable_length_with_trailing_missing(tmp_path: Path) -> None:
    d = read_ts(ts(tmp_path, MULTIVARIATE_VARIABLE))
    assert d.channels == 2 and d.lengths.tolist() == [3, 2, 3]
    assert d.series[0].tolist() == [[1, 10], [2, 20], [3, 30]]
    assert d.labels == ["1", "3", "2"]


def test_train_test_pair_and_folder(tmp_path: Path) -> None:
    ts(tmp_path, UNIVARIATE, "Toy_TRAIN.ts")
    ts(tmp_path, UNIVARIATE.replace("1,2,3,4:a\n", ""), "Toy_TEST.ts")
    train, test = load_classification(str(tmp_path / "Toy_TRAIN.ts"))
    assert len(train) == 3 and test is not None and len(test) == 2
    train, test = load_classification(str(tmp_path))
    assert len(train) == 3 and len(test) == 2


def test_csv_one_row_per_series(tmp_path: Path) -> None:
    path = tmp_path / "s.csv"
    path.write_text("t0,t1,t2,label\n1,2,3,up\n3,2,,down\n")
    d = read_series_csv(path)
    assert d.lengths.tolist() == [3, 2] and d.labels == ["up", "down"]
    assert d.classes == ["down", "up"]
    train, test = load_classification(str(path))
    assert test is None and len(train) == 2


@pytest.mark.skipif(not is_available("JapaneseVowels"), reason="sktime data not installed")
def test_builtin_japanese_vowels_is_variable_length_multivariate() -> None:
    train, test = load_classification("japanesevowels")
    assert len(train) == 270 and len(test) == 370 and train.channels == 12
    assert train.lengths.min() < train.lengths.max()
    assert np.isfinite(np.concatenate(train.series)).all()


# ----------------------------------------------------------------------------- errors
@pytest.mark.parametrize(
    ("header", "match"),
    [
        ("@univariate maybe\n", r"line 1: @univariate expects true or false, got 'maybe'"),
        ("@seriesLength ten\n", r"line 1: malformed header: @serieslength expects a positive"),
        ("@classLabel false\n", r"line 1: malformed header: expected '@classLabel true"),
        ("@frobnicate 3\n", r"line 1: malformed header: unknown directive @frobnicate"),
        ("hello\n", r"line 1: malformed header: expected an @directive"),
        ("@timeStamps true\n", r"line 1: @timeStamps true is not supported"),
    ],
)
def test_malformed_header_names_the_line(tmp_path: Path, header: str, match: str) -> None:
    with pytest.raises(RnnkitError, match=match):
        read_ts(ts(tmp_path, header + "@classLabel true a\n@data\n1,2:a\n"))


def test_data_before_class_label_and_no_data(tmp_path: Path) -> None:
    with pytest.raises(RnnkitError, match=r"line 2: malformed header: @data before @classLabel"):
        read_ts(ts(tmp_path, "@problemName x\n@data\n1,2:a\n"))
    with pytest.raises(RnnkitError, match="no @data line"):
        read_ts(ts(tmp_path, "@classLabel true a\n"))


def test_bad_data_lines(tmp_path: Path) -> None:
    head = "@univariate false\n@dimensions 2\n@classLabel true a b\n@data\n"
    with pytest.raises(RnnkitError, match=r"line 5: expected 2 channel\(s\) separated by ':'"):
        read_ts(ts(tmp_path, head + "1,2:a\n"))
    with pytest.raises(RnnkitError, match=r"line 5: label 'c' is not one of the declared"):
        read_ts(ts(tmp_path, head + "1,2:3,4:c\n"))
    with pytest.raises(RnnkitError, match=r"line 6, channel 2, step 2: 'x' is not a number"):
        read_ts(ts(tmp_path, head + "1,2:3,4:a\n1,2:3,x:b\n"))
    with pytest.raises(RnnkitError, match="channels have different lengths"):
        read_ts(ts(tmp_path, head + "1,2,3:3,4:a\n"))
    with pytest.raises(RnnkitError, match="missing value inside a series"):
        read_ts(ts(tmp_path, head + "1,?,3:3,4,5:a\n"))


def test_csv_errors(tmp_path: Path) -> None:
    path = tmp_path / "s.csv"
    path.write_text("t0,t1,class\n1,2,a\n1,z,b\n")
    with pytest.raises(RnnkitError, match=r"no label column 'label'.*columns found: t0, t1"):
        read_series_csv(path)
    with pytest.raises(RnnkitError, match=r"line 3, column 't1': 'z' is not a number"):
        read_series_csv(path, "class")
    with pytest.raises(RnnkitError, match="not a built-in"):
        load_classification(str(tmp_path / "Nope"))
