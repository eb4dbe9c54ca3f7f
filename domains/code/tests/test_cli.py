import json

import pytest

from seqdiff.cli import main
from seqdiff_code.cli import parse_line_range

SOURCE = "def f(x):\n    y = x + 1\n    return y\n\n\nprint(f(2))\n"


@pytest.fixture()
def src(tmp_path):
    path = tmp_path / "mod.py"
    path.write_text(SOURCE)
    return path


def _listing(path):
    return sorted(p.name for p in path.parent.iterdir())


def test_infill_json_end_to_end(src, tiny_model_dir, capsys):
    rc = main(["infill", "--file", str(src), "--line", "2", "--max-tokens", "6", "--candidates", "2",
               "--model", str(tiny_model_dir), "--json", "--remask-rounds", "1"])
    assert rc == 0
    out = json.loads(capsys.readouterr().out)
    assert {"text", "valid", "nfe", "wall_s", "candidates", "remask_rounds", "original"} <= set(out)
    assert out["original"] == "    y = x + 1\n" and out["candidates"] == 2 and out["truncated"] is False


def test_infill_prefix_suffix_files_text_output(tmp_path, tiny_model_dir, capsys):
    (tmp_path / "p.py").write_text("def f(x):\n    return ")
    (tmp_path / "s.py").write_text("\n")
    rc = main(["infill", "--prefix-file", str(tmp_path / "p.py"), "--suffix-file", str(tmp_path / "s.py"),
               "--max-tokens", "4", "--candidates", "1", "--no-constraints", "--model", str(tiny_model_dir)])
    captured = capsys.readouterr()
    assert rc == 0 and "valid=" in captured.err and captured.out.endswith("\n")


@pytest.mark.parametrize("args, message", [
    (["--line", "9"], "--line '9' is out of bounds: the file has 6 line(s)"),
    (["--line", "3-2"], "--line '3-2' is not a valid range"),
    (["--line", "x"], "--line 'x' must look like N or N-M"),
    (["--line", "2", "--max-tokens", "0"], "--max-tokens 0 is out of range"),
    (["--line", "2", "--max-tokens", "5000"], "--max-tokens 5000 is out of range"),
    (["--line", "2", "--candidates", "0"], "--candidates 0 is out of range"),
    (["--line", "2", "--time-budget-ms", "0"], "--time-budget-ms 0 must be >= 1"),
    (["--line", "2", "--n-indent", "-1"], "--n-indent -1 must be >= 0"),
    (["--line", "2", "--threads", "0"], "--threads 0 must be >= 1"),
    (["--line", "2", "--model", "/nonexistent/model"], "--model '/nonexistent/model': no such model folder"),
    ([], "needs --line"),
])
def test_usage_errors_exit_2(src, tiny_model_dir, capsys, args, message):
    before = _listing(src)
    argv = ["infill", "--file", str(src)] + args
    if "--model" not in args:
        argv += ["--model", str(tiny_model_dir)]
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    captured = capsys.readouterr()
    assert message in captured.err and captured.out == ""
    assert _listing(src) == before


def test_non_utf8_and_empty_inputs(tmp_path, tiny_model_dir, capsys):
    (tmp_path / "bad.py").write_bytes(b"x = '\xff'\n")
    (tmp_path / "empty.py").write_text("")
    for argv, message in [
        (["--prefix-file", str(tmp_path / "bad.py")], "bad.py' is not UTF-8"),
        (["--prefix-file", str(tmp_path / "empty.py")], "both empty"),
        (["--prefix-file", str(tmp_path / "nope.py")], "nope.py': no such file"),
        ([], "give --prefix-file"),
    ]:
        with pytest.raises(SystemExit) as exit_info:
            main(["infill", "--model", str(tiny_model_dir)] + argv)
        assert exit_info.value.code == 2
        assert message in capsys.readouterr().err


def test_missing_bundled_model_is_a_usage_error(src, capsys, monkeypatch):
    from seqdiff_code import domain

    monkeypatch.setattr(domain.CodeDomain, "default_model", lambda self: None)
    with pytest.raises(SystemExit) as exit_info:
        main(["infill", "--file", str(src), "--line", "2"])
    assert exit_info.value.code == 2 and "bundled code model is not installed" in capsys.readouterr().err


def test_parse_line_range():
    assert parse_line_range("3", 5) == (3, 3) and parse_line_range(" 2 - 4 ", 5) == (2, 4)
