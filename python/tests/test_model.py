"""spanscope.Model against the command line: load, predict, explain, and bad input."""

import json
import struct

import pytest

import spanscope
from conftest import CONLL04_DEV, cli


def f32(x):
    return struct.unpack("<f", struct.pack("<f", x))[0]


def test_bundled_model_loads_with_its_types(model):
    assert model.device == "cpu"
    assert model.entity_types == ["Loc", "Org", "Peop", "Other"]
    assert "Live_In" in model.relation_types
    assert (model.path / "spanscope.json").is_file()


def test_predict_is_the_cli_output_byte_for_byte(model, dev_records, cli_predict_text):
    predicted = model.predict(dev_records, batch_size=8)
    assert len(predicted) == len(dev_records) == 231
    assert json.dumps(predicted, indent=2, ensure_ascii=False) + "\n" == cli_predict_text
    # The model finds something: a byte-equal pair of empty outputs would prove nothing.
    assert sum(len(p["entities"]) for p in predicted) > 300
    assert sum(len(p["relations"]) for p in predicted) > 50


def test_token_lists_predict_as_records_do(model, dev_records, cli_predict_text):
    # The same batches as the CLI's (batch size and order): padding a sentence to another
    # batch's length may move a score by an ulp.
    from_tokens = model.predict([r["tokens"] for r in dev_records], batch_size=8)
    expected = json.loads(cli_predict_text)
    for got, want in zip(from_tokens, expected):
        assert list(got) == ["tokens", "entities", "relations"]
        assert got["entities"] == want["entities"]
        assert got["relations"] == want["relations"]


def test_extra_keys_are_kept_in_place_and_gold_is_ignored(model):
    record = {
        "tokens": ["John", "Smith", "lives", "in", "Berlin", "."],
        "entities": [{"type": "Org", "start": 0, "end": 1}],
        "relations": [],
        "orig_id": 7,
        "note": {"kept": True},
    }
    [out] = model.predict([record])
    assert list(out) == ["tokens", "entities", "relations", "orig_id", "note"]
    assert out["orig_id"] == 7 and out["note"] == {"kept": True}
    assert {"type": "Org", "start": 0, "end": 1} not in out["entities"]
    assert all(e["source"] == "model" for e in out["entities"])


def test_explain_gives_the_numbers_of_heads_json(model):
    text = "John Smith lives in Berlin ."
    got = model.explain(text, (0, 2))
    want = json.loads(cli("heads", "--text", text, "--span", "0:2", "--json").stdout)
    assert (got["layers"], got["heads"]) == (want["layers"], want["heads"]) == (6, 12)
    assert len(got["contribution"]) == 6
    assert all(len(row) == 12 for row in got["contribution"])
    for got_row, want_row in zip(got["contribution"], want["contribution"]):
        assert [f32(v) for v in got_row] == [f32(v) for v in want_row]
    assert max(max(row) for row in got["contribution"]) > 0
    # Tokens and text are the same sentence; another θ and fusion change the numbers.
    assert model.explain(text.split(), [0, 2]) == got
    assert model.explain(text, (0, 2), theta=0.0, fusion="max") != got


def test_bad_records_raise_data_error_with_record_and_reason(model):
    records = [
        {"tokens": ["fine", "."]},
        {"tokens": []},
        {"tokens": ["a", 3]},
        {"tokens": ["a", "b"], "entities": [{"type": "Loc", "start": 1, "end": 5}]},
        "just a string",
    ]
    with pytest.raises(spanscope.DataError) as caught:
        model.predict(records)
    err = caught.value
    assert err.file is None
    assert err.record == 1
    assert err.reason == "`tokens` is empty"
    assert str(err) == "record 1: `tokens` is empty"
    assert [(p.record, p.part) for p in err.problems] == [
        (1, None),
        (2, "token 1"),
        (3, "entity 0"),
        (4, None),
    ]
    assert err.problems[1].reason == "a token must be a string, found number 3"
    assert "out of range" in err.problems[2].reason
    assert isinstance(err, spanscope.SpanscopeError)


def test_wrong_shapes_and_arguments_are_value_errors(model):
    with pytest.raises(ValueError, match="list of records"):
        model.predict({"tokens": ["a"]})
    with pytest.raises(ValueError, match="batch_size"):
        model.predict([["a"]], batch_size=0)
    with pytest.raises(ValueError, match="3 words"):
        model.explain("one two three", (1, 4))
    with pytest.raises(ValueError, match="fusion"):
        model.explain("one two three", (0, 1), fusion="median")
    with pytest.raises(ValueError, match="unknown device"):
        spanscope.Model.load(device="tpu")


def test_a_directory_that_is_no_checkpoint_is_a_model_error(tmp_path):
    with pytest.raises(spanscope.ModelError, match="not a spanscope checkpoint"):
        spanscope.Model.load(tmp_path)


def test_validate_reports_what_the_cli_prints(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text(
        '{"tokens": ["a", "b"], "entities": [{"type": "Loc", "start": 0, "end": 3}]}\n'
        '{"tokens": ["c"], "entities": [], "relations": [], "x": 1}\n'
        "not json\n",
        encoding="utf-8",
    )
    problems = spanscope.validate(bad)
    printed = cli("validate", bad, check=False)
    assert printed.returncode == 1
    assert [str(p) for p in problems] == printed.stdout.splitlines()
    syntax, span = problems
    assert (syntax.record, syntax.line, syntax.kind) == (None, 3, "syntax")
    assert (span.file, span.record, span.line, span.part) == (str(bad), 0, 1, "entity 0")
    assert span.kind == "structure"
    assert spanscope.validate(CONLL04_DEV, types=CONLL04_DEV.with_name("conll04_types.json")) == []


def test_validate_of_a_missing_file_names_it(tmp_path):
    [problem] = spanscope.validate(tmp_path / "missing.json")
    assert problem.file == str(tmp_path / "missing.json") and problem.kind == "io"
