"""params.yaml is validated before any stage works; every mistake names its key."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

from cotchar.cli import main
from cotchar.params import ParamsError, load_params, parse_params


@pytest.fixture()
def raw(root: Path) -> dict:
    return yaml.safe_load((root / "params.yaml").read_text())


def test_repository_params_are_valid(root: Path) -> None:
    p = load_params(root / "params.yaml")
    assert p.size == "paper"
    assert p.world_size == p.sizes.paper.world
    assert p.model_copy(update={"size": "smoke"}).world_size == p.sizes.smoke.world


def test_typo_in_a_key_names_the_key(raw: dict) -> None:
    bad = copy.deepcopy(raw)
    bad["world"]["attacked_shares"] = bad["world"].pop("attacked_share")
    with pytest.raises(ParamsError) as err:
        parse_params(bad)
    msg = str(err.value)
    assert "world.attacked_shares: unknown key" in msg
    assert "world.attacked_share: required key is missing" in msg


def test_typo_in_a_nested_size_key(raw: dict) -> None:
    bad = copy.deepcopy(raw)
    bad["sizes"]["smoke"]["world"]["train_trace"] = 10
    with pytest.raises(ParamsError, match=r"sizes\.smoke\.world\.train_trace: unknown key"):
        parse_params(bad)


def test_wrong_type_and_out_of_range_are_named(raw: dict) -> None:
    bad = copy.deepcopy(raw)
    bad["world"]["seed"] = "forty-two"
    bad["world"]["attacked_share"] = 1.5
    with pytest.raises(ParamsError) as err:
        parse_params(bad)
    msg = str(err.value)
    assert "world.seed:" in msg and "'forty-two'" in msg
    assert "world.attacked_share:" in msg and "less than or equal to 1" in msg


def test_task_mix_must_sum_to_one(raw: dict) -> None:
    bad = copy.deepcopy(raw)
    bad["world"]["task_mix"]["harmful"] = 0.9
    with pytest.raises(ParamsError, match=r"world\.task_mix: .*sum to 1"):
        parse_params(bad)


def test_unknown_size_set_is_rejected(raw: dict) -> None:
    bad = copy.deepcopy(raw)
    bad["size"] = "huge"
    with pytest.raises(ParamsError, match=r"size: .*'paper' or 'smoke'"):
        parse_params(bad)


def test_cli_check_params_reports_the_file_and_key(tmp_path: Path, raw: dict, capsys: pytest.CaptureFixture) -> None:
    bad = copy.deepcopy(raw)
    bad["wrold"] = bad.pop("world")
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(bad))
    assert main(["check-params", str(path)]) == 2
    err = capsys.readouterr().err
    assert str(path) in err and "wrold: unknown key" in err


def test_missing_and_unparsable_files(tmp_path: Path) -> None:
    with pytest.raises(ParamsError, match="no such parameters file"):
        load_params(tmp_path / "absent.yaml")
    broken = tmp_path / "broken.yaml"
    broken.write_text("world: [unclosed\n")
    with pytest.raises(ParamsError, match="not valid YAML"):
        load_params(broken)
