"""The site's rankings and calibration files: typed arrays that decode within their stated bound, and a similarity
that equals the pair sample's exact count among the closest pairs and stays between its knots beyond."""

from __future__ import annotations

import numpy as np
import pytest

from precompute import contract as c
from precompute import sitefiles
from precompute.search import EXACT_KNOTS, calibration_table, near_ppm


def shard_of(ids: np.ndarray, dist: np.ndarray, n_images: int) -> c.RankShard:
    fields = sitefiles.encode_rankings(ids, dist, n_images)
    data = c.to_builtins(c.RankShard(first=0, exact=True, recall=None, squared=None, **fields))  # type: ignore[arg-type]
    return c.decode(c.kind_of("d/m/l/avg/cosine/0"), data)  # type: ignore[return-value]


@pytest.mark.parametrize("n_images, nbytes", [(200, 2), (65_536, 2), (65_537, 3), (101_000, 3), (1 << 24, 3)])
def test_ids_take_the_fewest_bytes_and_come_back_exactly(n_images: int, nbytes: int) -> None:
    rng = np.random.default_rng(n_images)
    ids = rng.integers(0, n_images, (40, 15))
    ids[0, :2] = [0, n_images - 1]  # both ends of the range
    dist = np.sort(rng.random((40, 15)), axis=1)
    shard = shard_of(ids, dist, n_images)
    assert shard.id_bytes == nbytes
    got, _, _ = sitefiles.decode_rankings(shard)
    assert np.array_equal(got, ids)


def test_rank_shards_decode_within_their_stated_bound() -> None:
    rng = np.random.default_rng(0)
    rows = [
        np.sort(rng.random(15)) * 2,  # a cosine row
        np.sort(rng.random(15)) * 1e4 + 1e4,  # large, narrow
        1.0 + np.sort(rng.random(15)) * 1e-9,  # near-duplicates: a spread far below float32's resolution of 1
        np.zeros(15),  # identical images
        np.full(15, 0.25),  # a constant row
        np.concatenate([np.sort(rng.random(12)), [np.inf, np.inf, np.nan]]),  # non-finite distances sort last
        np.full(15, np.inf),
    ]
    dist = np.stack(rows)
    shard = shard_of(np.arange(dist.size).reshape(dist.shape) % 200, dist, 200)
    _, got, slack = sitefiles.decode_rankings(shard)
    finite = np.isfinite(dist)
    assert np.array_equal(np.isfinite(got), finite)  # 65535 marks a non-finite distance
    err, bound = np.abs(got[finite] - dist[finite]), slack[finite]
    assert (err <= bound).all()
    # the bound is tight: half a step of the row's spread, float32 rounding of its nearest distance
    assert (err[bound > 0] / bound[bound > 0]).max() > 0.4
    np.testing.assert_allclose(slack[0], (dist[0, -1] - dist[0, 0]) / 65534 / 2 + dist[0, 0] * 2.0**-24, rtol=1e-6)
    assert (got[3] == 0).all() and (got[4] == np.float32(0.25)).all()
    # typed arrays: 2 bytes per id and per distance, 8 per row, base64
    assert len(shard.ids) == len(shard.dist) == 4 * ((dist.size * 2 + 2) // 3)


def sample(n: int, seed: int) -> np.ndarray:
    """A sorted pair sample with ties, as pair distances have (duplicate images, float rounding)."""
    rng = np.random.default_rng(seed)
    d = np.sort(np.round(rng.gamma(8.0, 0.05, n), 5))
    return d


def exact_near(pairs: np.ndarray, x: np.ndarray) -> np.ndarray:
    """The definition: parts per million of the sample at most this far apart (float32, as the knots), rounded up."""
    p32 = pairs.astype(np.float32).astype(np.float64)
    return np.ceil(np.round(1e6 * np.searchsorted(p32, x, side="right") / len(p32), 6)).astype(np.int64)


def test_calibration_counts_the_closest_pairs_exactly() -> None:
    pairs = sample(500_000, 1)
    cal = calibration_table(pairs)
    assert len(cal.dist) <= 1024 and cal.pairs == len(pairs) and np.all(np.diff(cal.dist) > 0)
    assert np.array_equal(cal.dist[: cal.head], np.unique(pairs[:EXACT_KNOTS].astype(np.float32)))
    # among the closest pairs: every distance, on a pair or between two, gets the sample's exact count
    edge = cal.dist[cal.head - 1]
    rng = np.random.default_rng(2)
    x = np.concatenate([cal.dist[: cal.head - 1], rng.uniform(0, edge, 5000)])
    x = x[x < edge]
    assert np.array_equal(near_ppm(cal.similarity(x)), exact_near(pairs, x))
    # beyond them: between the counts of the knots around it
    y = rng.uniform(edge, pairs[-1], 5000)
    got = 1e6 * (1 - cal.similarity(y))
    j = np.searchsorted(cal.dist, y, side="right") - 1
    lo, hi = cal.count[j] / cal.pairs * 1e6, np.append(cal.count, cal.pairs)[j + 1] / cal.pairs * 1e6
    assert ((got >= lo - 1e-6) & (got <= hi + 1e-6)).all()
    # and closer than every pair, or farther than all of them
    assert cal.similarity(np.array([pairs[0] / 2]))[0] == 1.0 and cal.similarity(np.array([pairs[-1] * 2]))[0] == 0.0


def test_a_stored_distance_counts_its_own_pair_whichever_way_it_rounded() -> None:
    """A dataset image's neighbour is at a pair's distance; stored in uint16 steps it lands a little below or
    above it. With the row's slack the count includes that pair either way; without, it would not below it."""
    pairs = sample(300, 3)  # a small dataset: every pair is a knot
    cal = calibration_table(pairs)
    assert cal.head == len(cal.dist)
    v = cal.dist[10:200]
    slack = 1e-6 * v  # (the sample is rounded to 1e-5: its distinct pairs are farther apart than this)
    below = v - slack / 2
    want = exact_near(pairs, v)
    assert np.array_equal(near_ppm(cal.similarity(below, slack)), want)
    assert np.array_equal(near_ppm(cal.similarity(v + slack / 2, slack)), want)
    assert (near_ppm(cal.similarity(below)) < want).all()  # the slack is what makes it count


def test_calibration_files_round_trip() -> None:
    cal = calibration_table(sample(20_000, 4))
    f = c.decode(c.kind_of("d/m/l/avg/cosine/calib"), c.to_builtins(sitefiles.calibration_file(cal)))
    back = sitefiles.read_calibration(f)  # type: ignore[arg-type]
    assert back.pairs == cal.pairs and back.head == cal.head
    assert np.array_equal(back.dist, cal.dist) and np.array_equal(back.count, cal.count)
    assert len(f.dist) + len(f.count) <= 2 * 4 * ((4 * 1024 + 2) // 3)  # type: ignore[attr-defined]
