"""spanscope.convert, read and write against `spanscope convert`: same files, same losses."""

import json
import warnings
import pytest

import spanscope
from conftest import CONLL04_DEV, ROOT, cli

INTEROP = ROOT.parent / "shared" / "data" / "interop"
DOCCANO_RE = INTEROP / "doccano" / "doccano" / "export_relation_extraction_example.jsonl"


def test_convert_writes_the_files_the_cli_writes(tmp_path):
    cli("convert", CONLL04_DEV, tmp_path / "cli", "--to", "brat")
    with pytest.warns(spanscope.ConversionWarning):
        # SpERT's orig_id has no place in brat: the same loss the CLI reports.
        done = spanscope.convert(CONLL04_DEV, tmp_path / "py", to_format="brat")
    cli_files = sorted(p.name for p in (tmp_path / "cli").iterdir())
    py_files = sorted(p.name for p in (tmp_path / "py").iterdir())
    assert py_files == cli_files and "annotation.conf" in py_files
    for name in cli_files:
        assert (tmp_path / "py" / name).read_bytes() == (tmp_path / "cli" / name).read_bytes()
    assert (done.from_format, done.to_format, done.sentences) == ("spert", "brat", 231)
    gold = json.loads(CONLL04_DEV.read_text(encoding="utf-8"))
    assert done.entities == sum(len(r["entities"]) for r in gold)
    assert done.relations == sum(len(r["relations"]) for r in gold)


def test_read_of_real_brat_files_is_the_cli_conversion_with_its_losses(tmp_path):
    source = INTEROP / "brat" / "nlplab-bionlp-st-2011-ge"
    report = cli("convert", source, tmp_path / "cli.json").stderr
    with pytest.warns(spanscope.ConversionWarning) as caught:
        records = spanscope.read(source)
    assert records == json.loads((tmp_path / "cli.json").read_text(encoding="utf-8"))
    assert sum(len(r["entities"]) for r in records) > 50
    # BioNLP events do not fit SpERT: the warning says what the CLI's report says.
    warned = str(caught[0].message)
    assert "event, dropped" in warned and "event, dropped" in report


def test_brat_written_then_read_keeps_the_entities_and_relations(tmp_path):
    records = json.loads(CONLL04_DEV.read_text(encoding="utf-8"))
    with pytest.warns(spanscope.ConversionWarning, match="orig_id"):
        spanscope.write(records, tmp_path / "brat", format="brat")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # reading back what spanscope wrote loses nothing
        back = spanscope.read(tmp_path / "brat")

    def mentions(rows):
        found = []
        for row in rows:
            text = ["".join(row["tokens"][e["start"]:e["end"]]) for e in row["entities"]]
            found += [(e["type"], t) for e, t in zip(row["entities"], text)]
            found += [(r["type"], text[r["head"]], text[r["tail"]]) for r in row["relations"]]
        return sorted(found)

    # brat re-tokenises its text, so words may split differently; every mention and every
    # relation between them comes back.
    assert mentions(back) == mentions(records)


def test_losses_are_named_counted_and_warned(tmp_path):
    with pytest.warns(spanscope.ConversionWarning, match="relation") as caught:
        losses = spanscope.write(
            json.loads(CONLL04_DEV.read_text(encoding="utf-8")), tmp_path / "dev.bio"
        )
    kinds = {loss.kind: loss for loss in losses}
    dropped = kinds["relation_not_carried"]
    assert dropped.stage == "write"
    gold = json.loads(CONLL04_DEV.read_text(encoding="utf-8"))
    assert dropped.count == sum(len(r["relations"]) for r in gold)
    assert dropped.examples and len(dropped.examples) <= 3
    assert "cannot carry relations" in str(caught[0].message)
    # The CLI reports the same count for the same conversion.
    report = cli("convert", CONLL04_DEV, tmp_path / "cli.bio").stderr
    assert f"{dropped.count} × {dropped.description}" in report
    assert (tmp_path / "dev.bio").read_bytes() == (tmp_path / "cli.bio").read_bytes()


def test_read_gives_the_records_the_cli_converts_to(tmp_path):
    cli("convert", DOCCANO_RE, tmp_path / "out.json", "--from", "doccano")
    records = spanscope.read(DOCCANO_RE, format="doccano")
    assert records == json.loads((tmp_path / "out.json").read_text(encoding="utf-8"))
    assert any(r["relations"] for r in records)


def test_bad_formats_and_files_are_errors_naming_them(tmp_path):
    with pytest.raises(ValueError, match="cannot tell the format.*to_format="):
        spanscope.convert(CONLL04_DEV, tmp_path / "out.xyz")
    with pytest.raises(ValueError, match='unknown format "brt"; known: spert'):
        spanscope.read(CONLL04_DEV, format="brt")
    broken = tmp_path / "broken.jsonl"
    broken.write_text('{"text": "A b", "entities": [[0, 1, "X"]]}\nnot json\n', encoding="utf-8")
    with pytest.raises(spanscope.DataError) as caught:
        spanscope.read(broken, format="doccano")
    assert caught.value.file == str(broken)
    assert str(broken) in str(caught.value)
    with pytest.raises(spanscope.DataError) as caught:
        spanscope.write([{"tokens": ["a"], "entities": [{"type": "X", "start": 0, "end": 5}]}],
                        tmp_path / "x.json")
    assert caught.value.record == 0 and caught.value.part == "entity 0"
    assert not (tmp_path / "x.json").exists()
