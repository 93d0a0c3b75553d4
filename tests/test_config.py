"""playground.toml loading and CLI-style overrides."""

from __future__ import annotations

from pathlib import Path

import pytest

from precompute.config import ConfigError, load_config


def test_repo_config_loads_with_the_documented_defaults() -> None:
    cfg = load_config()
    assert cfg.metrics == ("cosine", "euclidean", "sqeuclidean", "minkowski")
    assert cfg.top_k == 15 and cfg.minkowski_p == 3 and cfg.pooling == "avg"
    assert cfg.featurevis.channels == 30 and cfg.featurevis.steps == 512 and cfg.featurevis.size == 128


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


def test_quick_profile_applies_only_when_asked() -> None:
    from dataclasses import replace

    fv = load_config().featurevis
    assert fv.effective().steps == 512
    quick = replace(fv, quick=True).effective()
    assert quick.steps < 512 and quick.channels < 30 and quick.quick
