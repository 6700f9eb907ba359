"""Temporal windows and scene cuts: every frame kept once, context on both sides, never across a cut."""

from __future__ import annotations

import numpy as np
import pytest

from test_pipeline import moving_clip
from vsrcli.pipeline.chunking import SceneCutDetector, fade_weights, next_window, plan_windows


@pytest.mark.parametrize("frames, cuts", [(1, []), (7, []), (40, []), (101, []), (101, [3, 50, 51, 90])])
@pytest.mark.parametrize("chunk, overlap", [(1, 0), (5, 2), (16, 8), (40, 10)])
def test_cores_tile_the_clip_exactly_once(frames, cuts, chunk, overlap):
    windows = plan_windows(frames, cuts, chunk, overlap)
    kept = [i for w in windows for i in range(w.core_start, w.core_stop)]
    assert kept == list(range(frames))
    for w in windows:
        assert w.start <= w.core_start < w.core_stop <= w.stop
        assert w.core_stop - w.core_start <= chunk
        assert not any(w.start < c < w.stop for c in cuts), "a window crosses a scene cut"


def test_windows_get_overlap_context_on_both_sides():
    windows = plan_windows(100, [], 20, 6)
    assert [(w.start, w.core_start, w.core_stop, w.stop) for w in windows] == [
        (0, 0, 20, 26),
        (14, 20, 40, 46),
        (34, 40, 60, 66),
        (54, 60, 80, 86),
        (74, 80, 100, 100),
    ]


def test_context_is_clipped_at_scene_cuts():
    windows = plan_windows(30, [12], 10, 5)
    assert [(w.start, w.core_start, w.core_stop, w.stop) for w in windows] == [
        (0, 0, 10, 12),
        (5, 10, 12, 12),
        (12, 12, 22, 27),
        (17, 22, 30, 30),
    ]


def test_fade_out_only_inside_a_scene():
    windows = plan_windows(30, [12], 10, 5, fade=3)
    assert [w.fade_out for w in windows] == [2, 0, 3, 0]
    assert windows[2].keep == slice(0, 13)


def test_streaming_decisions_match_the_plan():
    cuts = [17, 18, 60]
    frames, chunk, overlap = 83, 12, 4
    planned = plan_windows(frames, cuts, chunk, overlap, fade=2)
    streamed, next_out, decoded = [], 0, 0
    while True:
        known = [c for c in cuts if c < decoded]
        win = next_window(len(streamed), next_out, decoded, decoded == frames, known, chunk, overlap, 2)
        if win is None:
            if decoded == frames:
                break
            decoded += 1
            continue
        assert win.stop <= decoded, "a window needs frames not yet decoded"
        assert decoded - win.core_start <= chunk + overlap + 1, "decoding ran further ahead than needed"
        streamed.append(win)
        next_out = win.core_stop
    assert streamed == planned


def test_fade_weights_rise_strictly_inside_zero_one():
    w = fade_weights(4)
    assert np.all(np.diff(w) > 0) and 0 < w[0] and w[-1] < 1
    np.testing.assert_allclose(w + w[::-1], 1.0)


def test_hard_cut_is_detected_and_panning_is_not():
    detector = SceneCutDetector()
    frames = np.concatenate([moving_clip(15, 72, 96, seed=1), moving_clip(15, 72, 96, seed=2)])
    cuts = [c for f in frames if (c := detector.push(f)) is not None]
    assert cuts == [15]
    assert detector.finish() is None


def test_cut_on_the_last_frame_is_reported_at_the_end():
    detector = SceneCutDetector()
    frames = np.concatenate([moving_clip(12, 48, 64, seed=1), moving_clip(1, 48, 64, seed=2)])
    assert [c for f in frames if (c := detector.push(f)) is not None] == []
    assert detector.finish() == 12


def test_real_cuts_between_davis_sequences_are_found_and_motion_is_not_a_cut(shared_data):
    from vsrcli.io.frames import list_frames, read_image

    root = shared_data / "DAVIS2016_val_480p" / "JPEGImages"
    detector, cuts, bounds, index = SceneCutDetector(), [], [], 0
    for seq in sorted(p for p in root.iterdir() if p.is_dir()):
        bounds.append(index)
        for file in list_frames(seq)[:16]:
            image = read_image(file)[::2, ::2]
            if (c := detector.push(image)) is not None:
                cuts.append(c)
            index += 1
    assert cuts == bounds[1:]


def test_slow_brightness_change_is_not_a_cut():
    base = moving_clip(1, 48, 64)[0].astype(np.int32)
    detector = SceneCutDetector()
    cuts = [i for i in range(40) if detector.push(np.clip(base + 3 * i, 0, 255).astype(np.uint8))]
    assert cuts == []


def test_detector_reads_16_bit_frames_on_the_8_bit_scale():
    a, b = moving_clip(1, 48, 64, seed=1)[0], moving_clip(1, 48, 64, seed=2)[0]
    d8, d16 = SceneCutDetector(), SceneCutDetector()
    for f in (a, a, b, b):
        d8.push(f)
        d16.push(f.astype(np.uint16) * 257)
    assert d16.last_score == pytest.approx(d8.last_score, rel=1e-4)
