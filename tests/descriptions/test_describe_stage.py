"""`filo describe`: the stage functions and the command line, offline and against a local LLM server."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from fake_chat_server import chat_reply

from filo.cli import main
from filo.data.manifest import write_manifest
from filo.descriptions import load_descriptions
from filo.descriptions.defaults import load_generic_descriptions
from filo.descriptions.stage import DescribeSettings, describe_category, describe_manifest
from filo.errors import FiloError


def make_manifest(path, categories: list[str]) -> None:
    """A valid manifest with one normal test image per category."""
    rows = [
        {
            "image_id": f"{category}/test/good/000.png",
            "dataset": "mvtec",
            "category": category,
            "split": "test",
            "label": 0,
            "defect_type": "good",
            "image_path": f"data/mvtec/{category}/test/good/000.png",
            "mask_path": None,
            "width": 8,
            "height": 8,
        }
        for category in categories
    ]
    write_manifest(pd.DataFrame(rows), path, root="data/mvtec", has_masks=True)


def test_offline_manifest_uses_shipped_defaults_and_writes_the_artifact(tmp_path):
    manifest = tmp_path / "manifest.parquet"
    make_manifest(manifest, ["woven_fabric", "metal_nut", "pcb1"])
    out = tmp_path / "out" / "descriptions.json"
    table = describe_manifest(manifest, out, DescribeSettings(cache_dir=tmp_path / "cache"))
    assert load_descriptions(out) == table
    assert list(table) == ["metal_nut", "pcb1", "woven_fabric"]
    assert table["metal_nut"].source == "paper" and table["metal_nut"].descriptions[0] == "cracks"
    assert table["woven_fabric"].source == "user"
    assert not (tmp_path / "cache").exists()


def test_user_file_overrides_defaults_by_display_name(tmp_path):
    manifest = tmp_path / "manifest.parquet"
    make_manifest(manifest, ["metal_nut", "bottle"])
    user_file = tmp_path / "mine.yaml"
    user_file.write_text("categories:\n  Metal Nut: [bent thread, burr]\n")
    table = describe_manifest(manifest, tmp_path / "d.json", DescribeSettings(user_file=user_file))
    assert table["metal_nut"].descriptions == ("bent thread", "burr")
    assert table["metal_nut"].source == "user"
    assert table["bottle"].source == "paper"


def test_categories_nobody_described_get_the_generic_states_marked_generic_in_the_artifact(tmp_path):
    manifest = tmp_path / "manifest.parquet"
    make_manifest(manifest, ["bottle", "ceramic_mug"])
    describe_manifest(manifest, tmp_path / "d.json")
    artifact = load_descriptions(tmp_path / "d.json")
    assert artifact["bottle"].source == "paper"
    assert artifact["ceramic_mug"].source == "generic"
    assert artifact["ceramic_mug"].descriptions == load_generic_descriptions().descriptions
    assert "scratch" in artifact["ceramic_mug"].descriptions


def test_category_without_any_source_is_an_error_naming_it_and_the_fixes(tmp_path):
    manifest = tmp_path / "manifest.parquet"
    make_manifest(manifest, ["bottle", "ceramic_mug", "lamp"])
    out = tmp_path / "d.json"
    without_generic = DescribeSettings(sources=("user", "cache", "llm", "defaults"))
    with pytest.raises(FiloError, match=r"\['ceramic_mug', 'lamp'\].*--llm-model.*OPENAI_API_KEY.*--user-file"):
        describe_manifest(manifest, out, without_generic)
    assert not out.exists()


def test_source_order_is_validated(tmp_path):
    with pytest.raises(FiloError, match="source order.*invalid"):
        describe_category("bottle", DescribeSettings(sources=("defaults", "internet")))
    with pytest.raises(FiloError, match="source order.*invalid"):
        describe_category("bottle", DescribeSettings(sources=("defaults", "defaults")))


def test_describe_category_accepts_display_names():
    key, entry = describe_category("Metal Nut")
    assert key == "metal_nut" and entry.source == "paper"


def test_describe_category_finds_user_entries_under_any_spelling(tmp_path):
    user_file = tmp_path / "mine.yaml"
    user_file.write_text("categories:\n  Metal Nut: [burr]\n  ceramic mug: [chipped rim]\n")
    assert describe_category("metal_nut", DescribeSettings(user_file=user_file))[1].descriptions == ("burr",)
    assert describe_category("Ceramic-Mug", DescribeSettings(user_file=user_file)) == (
        "ceramic_mug",
        describe_category("ceramic mug", DescribeSettings(user_file=user_file))[1],
    )
    assert describe_category("ceramic_mug", DescribeSettings(user_file=user_file))[1].source == "user"


def test_cli_prints_one_category(capsys):
    assert main(["describe", "--category", "pipe fryum"]) == 0
    printed = capsys.readouterr().out.splitlines()
    assert printed[0] == "pipe_fryum (source: paper)"
    assert printed[1:3] == ["  - uneven shape", "  - presence of foreign objects"]


def test_cli_reports_user_errors_without_traceback(tmp_path, capsys):
    assert main(["describe", "--category", "ceramic mug", "--sources", "defaults"]) == 2
    error = capsys.readouterr().err
    assert "ceramic_mug" in error and "Traceback" not in error
    assert main(["describe", "--manifest", str(tmp_path / "m.parquet")]) == 2
    assert "--out" in capsys.readouterr().err


def test_cli_with_llm_writes_artifact_with_llm_source_and_cache_key(tmp_path, chat_server, api_key):
    chat_server.script = [chat_reply('{"descriptions": ["Chipped Glaze", "hairline crack"]}')]
    manifest = tmp_path / "manifest.parquet"
    make_manifest(manifest, ["ceramic_mug", "bottle"])
    out = tmp_path / "descriptions.json"
    argv = [
        "describe",
        "--manifest",
        str(manifest),
        "--out",
        str(out),
        "--cache-dir",
        str(tmp_path / "cache"),
        "--llm-model",
        "local-model",
        "--llm-base-url",
        chat_server.base_url,
        "--sources",
        "user,defaults,cache,llm",
        "--llm-max-attempts",
        "2",
        "--llm-request-timeout-s",
        "2",
    ]
    assert main(argv) == 0
    document = json.loads(out.read_text())["categories"]
    assert document["bottle"]["source"] == "paper"
    assert document["ceramic_mug"]["descriptions"] == ["chipped glaze", "hairline crack"]
    assert document["ceramic_mug"]["source"] == "llm:local-model"
    assert (tmp_path / "cache" / document["ceramic_mug"]["cache_key"][:2]).is_dir()
    assert chat_server.calls == 1
    assert main(argv) == 0  # second run: served from the cache
    assert chat_server.calls == 1


def test_the_hint_given_for_generic_descriptions_works_and_predict_reads_its_artifact(tmp_path, chat_server, api_key):
    """`filo describe --category "gear wheel" --llm-model ... --out D.json`, as the generic-descriptions hint says."""
    from filo.descriptions.resolve import better_descriptions_hint
    from filo.prediction import DescriptionLookup

    hint = better_descriptions_hint("gear_wheel")
    assert '`filo describe --category "gear wheel" --llm-model MODEL --llm-base-url URL --out D.json`' in hint
    chat_server.script = [chat_reply('{"descriptions": ["chipped tooth", "worn flank"]}')]
    out = tmp_path / "D.json"
    argv = ["describe", "--category", "gear wheel", "--llm-model", "local-model", "--llm-base-url",
            chat_server.base_url, "--out", str(out), "--cache-dir", str(tmp_path / "cache")]
    assert main(argv) == 0
    lookup = DescriptionLookup.from_file(out)
    found = lookup.find(lookup.category_key("Gear Wheel"))
    assert (found.source, found.descriptions) == ("llm:local-model", ("chipped tooth", "worn flank"))
