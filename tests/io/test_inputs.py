import os

import pytest

from pipeline.errors import InputError
from pipeline.io.inputs import InputSpec, expand_inputs, read_manifest


def touch(*paths):
    for path in paths:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"")
    return paths


def expansion_error(items) -> str:
    with pytest.raises(InputError) as info:
        expand_inputs(items)
    return str(info.value)


def test_files_folders_and_globs_keep_the_given_order_with_matches_sorted(tmp_path):
    folder = tmp_path / "maps"
    touch(folder / "b.npy", folder / "a.FITS", folder / "c.npz", folder / "a.json", folder / "sub" / "d.npy")
    other = tmp_path / "other"
    touch(other / "z2.npy", other / "z1.npy", other / "notes.txt")
    single = tmp_path / "single.fits"
    touch(single)
    specs = expand_inputs([single, str(folder), f"{other}/z*"])
    assert [s.source for s in specs] == [
        str(single),
        str(folder / "a.FITS"),
        str(folder / "b.npy"),
        str(folder / "c.npz"),  # not a.json, not sub/d.npy (non-recursive)
        str(other / "z1.npy"),
        str(other / "z2.npy"),
    ]
    assert all(s == InputSpec(s.source) for s in specs)  # no label, split or metadata


def test_manifest_labels_splits_metadata_and_relative_paths(tmp_path):
    touch(tmp_path / "data" / "maps" / "a.npy", tmp_path / "data" / "b.fits", tmp_path / "abs.npz")
    manifest = tmp_path / "data" / "list.csv"
    manifest.write_text(
        "\ufeffpath,label,split,f_nl,notes\n"
        "maps/a.npy,1,train,10.5,first\n"
        "\n"
        f"{tmp_path / 'abs.npz'},,, ,\n"
        'b.fits,0,test,0,"with, comma"\n'
    )
    assert read_manifest(manifest) == [
        InputSpec(str(tmp_path / "data" / "maps" / "a.npy"), 1, "train", {"f_nl": "10.5", "notes": "first"}),
        InputSpec(str(tmp_path / "abs.npz"), None, None, {"f_nl": " ", "notes": ""}),
        InputSpec(str(tmp_path / "data" / "b.fits"), 0, "test", {"f_nl": "0", "notes": "with, comma"}),
    ]
    assert expand_inputs([manifest]) == read_manifest(manifest)


def test_manifest_only_reads(tmp_path):
    """A manifest names inputs; expanding it (even with paths leaving its folder) writes nothing."""
    touch(tmp_path / "outside.npy", tmp_path / "deep" / "m" / "x.npy")
    manifest = tmp_path / "deep" / "m" / "list.csv"
    manifest.write_text("path\n../../outside.npy\nx.npy\n")
    before = sorted((p, p.stat().st_mtime_ns) for p in tmp_path.rglob("*"))
    specs = expand_inputs([manifest])
    assert [os.path.realpath(s.source) for s in specs] == [
        os.path.realpath(tmp_path / "outside.npy"),
        os.path.realpath(tmp_path / "deep" / "m" / "x.npy"),
    ]
    assert sorted((p, p.stat().st_mtime_ns) for p in tmp_path.rglob("*")) == before


def test_duplicates_are_refused(tmp_path):
    a, b = touch(tmp_path / "a.npy", tmp_path / "b.npy")
    assert expansion_error([a, tmp_path]) == f"{tmp_path / 'a.npy'}: duplicate input (the same file as {a})"
    os.symlink(b, tmp_path / "link.npy")
    assert expansion_error([tmp_path]) == f"{tmp_path / 'link.npy'}: duplicate input (the same file as {b})"
    manifest = tmp_path / "m.csv"
    manifest.write_text("path\na.npy\n./a.npy\n")
    assert expansion_error([manifest]) == f"{tmp_path / 'a.npy'}: duplicate input (the same file as {a})"


def test_missing_empty_and_unknown_inputs(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    touch(empty / "readme.txt")
    assert expansion_error([empty]) == f"{empty}: folder holds no map files (.fits, .fit, .fts, .npy, .npz, .png, .jpg, .jpeg, .tif, .tiff)"
    assert expansion_error([f"{tmp_path}/*.npy"]) == f"{tmp_path}/*.npy: pattern matches no map files (.fits, .fit, .fts, .npy, .npz, .png, .jpg, .jpeg, .tif, .tiff)"
    assert expansion_error([tmp_path / "gone.npy"]) == f"{tmp_path / 'gone.npy'}: no such file, folder or manifest"
    assert expansion_error([empty / "readme.txt"]) == (
        f"{empty / 'readme.txt'}: unknown file type '.txt': expected one of .fits, .fit, .fts, .npy, .npz, .png, .jpg, .jpeg, .tif, .tiff"
    )
    assert expansion_error([]) == "no inputs given"


@pytest.mark.parametrize(
    "text, message",
    [
        ("file,label\na.npy,1\n", "a manifest needs a 'path' column (header: file, label)"),
        ("", "a manifest needs a 'path' column (header: empty)"),
        ("path,label,label\na.npy,1,2\n", "column names must be unique and non-empty (header: path, label, label)"),
        ("path\n", "manifest lists no maps"),
        ("path,label\na.npy\n", "row 2: 1 fields, the header has 2"),
        ("path,label\na.npy,-1\n", "row 2: label '-1' is not an integer >= 0"),
        ("path,label\na.npy,cat\n", "row 2: label 'cat' is not an integer >= 0"),
        ("path,split\na.npy,training\n", "row 2: split 'training' is not one of train, val, test"),
        ("path\na.npy\n \n", "row 3: empty path"),
        ("path\na.npy\n\nb.npy\n", "1 of 2 listed files do not exist (first: row 4: {folder}/b.npy); nothing was computed; "
                                  "--missing fail records them as failed maps and computes the rest"),
        ("path\nnotes.txt\n", "row 2: {folder}/notes.txt: unknown file type '.txt': expected one of .fits, .fit, .fts, .npy, .npz, .png, .jpg, .jpeg, .tif, .tiff"),
    ],
)
def test_bad_manifests(tmp_path, text, message):
    touch(tmp_path / "a.npy", tmp_path / "notes.txt")
    manifest = tmp_path / "m.csv"
    manifest.write_text(text)
    separator = ", " if message.startswith("row") else ": "
    assert expansion_error([manifest]) == f"{manifest}{separator}{message.format(folder=tmp_path)}"
