"""playground.toml loading and CLI-style overrides."""

from __future__ import annotations

from pathlib import Path

import pytest

from precompute.config import ConfigError, load_config


def test_repo_config_loads_with_the_documented_defaults() -> None:
    cfg = load_config()
    assert cfg.metrics == ("cosine", "euclidean", "sqeuclidean", "minkowski")
    assert cfg.top_k == 15 and cfg.minkowski_p == 3 and cfg.pooling == ("avg", "grid2") and cfg.gem_p == 3
    assert cfg.featurevis.channels == 30 and cfg.featurevis.steps == 512 and cfg.featurevis.size == 0
    assert cfg.engine == "local" and cfg.budget == 0 and cfg.probe_folds == 5 and cfg.serve_host == "127.0.0.1"
    # each model renders at its own input size (playground-net 64 px), capped
    assert cfg.featurevis.render_size(64) == 64 and cfg.featurevis.render_size(456) == cfg.featurevis.max_size


def test_overrides_win_and_paths_resolve(tmp_path: Path) -> None:
    cfg = load_config(datasets=("a", "b"), weights="random", out=tmp_path / "o", top_k=5)
    assert cfg.datasets == ("a", "b") and cfg.weights == "random" and cfg.top_k == 5
    assert cfg.site_dir == (tmp_path / "o" / "site").resolve()


def test_bad_settings_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="unknown metric"):
        load_config(metrics=("cosine", "hamming"))
    with pytest.raises(ConfigError, match="minkowski_p"):
        load_config(minkowski_p=0.5)
    bad = tmp_path / "p.toml"
    bad.write_text("[build]\nmodles = ['vgg16']\n")
    with pytest.raises(ConfigError, match="modles"):
        load_config(bad)
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "missing.toml")
    wrong_table = tmp_path / "w.toml"
    wrong_table.write_text("[search]\nbatch_size = 8\n")  # a [build] setting in the wrong table
    with pytest.raises(ConfigError, match=r"batch_size.*\[search\]"):
        load_config(wrong_table)
    unknown = tmp_path / "u.toml"
    unknown.write_text("[serch]\ntop_k = 8\n")
    with pytest.raises(ConfigError, match="unknown table"):
        load_config(unknown)
    with pytest.raises(ConfigError, match="unknown pooling"):
        load_config(pooling="avg,median")
    with pytest.raises(ConfigError, match="duration"):
        load_config(budget="five hours")
    with pytest.raises(ConfigError, match="engine"):
        load_config(engine="spark")


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("5h", 18000), ("90m", 5400), ("1h30m", 5400), ("45s", 45), ("120", 120), (0, 0), ("", 0), (3600, 3600)],
)
def test_durations(text: object, seconds: float) -> None:
    from precompute.config import parse_duration

    assert parse_duration(text) == seconds


def test_pooling_lists_from_the_file_and_the_flag(tmp_path: Path) -> None:
    f = tmp_path / "p.toml"
    f.write_text('[search]\npooling = ["gem", "flatten"]\ngem_p = 4\n[build]\nbudget = "2h"\n')
    cfg = load_config(f)
    assert cfg.pooling == ("gem", "flatten") and cfg.gem_p == 4 and cfg.budget == 7200
    assert load_config(f, pooling="max").pooling == ("max",)


def test_quick_profile_applies_only_when_asked() -> None:
    from dataclasses import replace

    fv = load_config().featurevis
    assert fv.effective().steps == 512
    quick = replace(fv, quick=True).effective()
    assert quick.steps < 512 and quick.channels < 30 and quick.quick


def test_per_model_featurevis_settings_and_the_quick_profile_on_top(tmp_path: Path) -> None:
    cfg = load_config()  # the repo's file: playground-net renders fewer steps, every other model the default
    assert cfg.featurevis.effective("playground-net").steps == 256
    assert cfg.featurevis.effective("vgg16").steps == cfg.featurevis.steps == 512
    quick = load_config(fv_quick=True).featurevis
    assert quick.effective("playground-net").steps == quick.effective("vgg16").steps == 64
    bad = tmp_path / "m.toml"
    bad.write_text("[featurevis.model.vgg16]\nstep = 10\n")
    with pytest.raises(ConfigError, match=r"unknown setting\(s\) \['step'\] in \[featurevis.model.vgg16\]"):
        load_config(bad)
