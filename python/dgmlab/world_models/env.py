"""CarRacing-v3 for World Models: 64x64 observations, per-episode seeds, corrupt-frame checks, a fast render path.

Profiling ``CarRacing-v3.step`` with random actions (``bench/wm_env_speed.py``) shows ~95% of the time in
``_render``, and ~70% in ``_render_road``: every step it rotates ~800 road and grass polygons vertex by vertex with
``pygame.math.Vector2`` in Python, then tests each one against the screen, although only ~90 are visible.
:class:`FastCarRacing` does the same arithmetic with numpy over all vertices at once and hands the *same* visible
polygons, in the same order, to the same ``pygame.gfxdraw`` calls, so frames match Gymnasium's (the reference path,
``fast=False``) pixel for pixel; ``bench/wm_env_speed.py --verify`` checks this on many seeds and policies.
"""

from __future__ import annotations

import math

import numpy as np

from dgmlab.data.car_racing import FRAME_SHAPE, process_frame

TIME_PENALTY = -0.1  # CarRacing's reward per frame besides the +1000/N per new tile


class CorruptFrameError(RuntimeError):
    """A frame that cannot be a CarRacing observation (wrong shape, blank, or garbage)."""


def check_frame(frame: np.ndarray, where: str = "frame") -> np.ndarray:
    """Raise :class:`CorruptFrameError` unless ``frame`` looks like a rendered 96x96 CarRacing frame.

    The write-up's corrupt frames (pyglet not dispatching events) came out blank or as uninitialised memory. A real
    frame is uint8 (96, 96, 3), not a single colour, and has the black dashboard bar in its bottom rows.
    """
    frame = np.asarray(frame)
    if frame.shape != FRAME_SHAPE or frame.dtype != np.uint8:
        raise CorruptFrameError(f"{where}: expected uint8 {FRAME_SHAPE}, got {frame.dtype} {frame.shape}")
    if int(frame.max()) == int(frame.min()):
        raise CorruptFrameError(f"{where}: blank frame (every pixel = {int(frame.max())}); the renderer did not draw")
    if frame[90:].mean() > 40.0:
        raise CorruptFrameError(
            f"{where}: the dashboard rows 90-95 are not dark (mean {frame[90:].mean():.1f}); the frame is garbage"
        )
    return frame


def _fast_class():
    """Build :class:`FastCarRacing` lazily so importing this module does not import Box2D/pygame."""
    from gymnasium.envs.box2d import car_racing as cr
    from pygame import gfxdraw

    class FastCarRacing(cr.CarRacing):
        """``CarRacing`` whose road/grass drawing is vectorised with numpy; same polygons, same pixels."""

        def reset(self, *, seed=None, options=None):
            out = super().reset(seed=seed, options=options)
            self._fast_cache = None
            return out

        def _static_polygons(self):
            """Grass then road polygons, as Gymnasium draws them: one vertex array and the live colour objects.

            Road colours are kept by reference: the environment recolours a tile in place when the car visits it.
            """
            if getattr(self, "_fast_cache", None) is None:
                d = cr.GRASS_DIM
                polys, colors = [], []
                for x in range(-20, 20, 2):
                    for y in range(-20, 20, 2):
                        polys.append([(d * x + d, d * y), (d * x, d * y), (d * x, d * y + d), (d * x + d, d * y + d)])
                        colors.append(self.grass_color)
                for poly, color in self.road_poly:
                    polys.append([(p[0], p[1]) for p in poly])
                    colors.append(color)
                self._fast_cache = (np.asarray(polys, dtype=np.float64), colors)
            return self._fast_cache

        def _render_road(self, zoom, translation, angle):
            b = cr.PLAYFIELD
            field = [(b, b), (b, -b), (-b, -b), (-b, b)]
            self._draw_colored_polygon(self.surf, field, self.bg_color, zoom, translation, angle, clip=False)
            verts, colors = self._static_polygons()
            c, s = math.cos(angle), math.sin(angle)  # libm, as pygame's Vector2.rotate_rad uses
            x, y = verts[..., 0], verts[..., 1]
            px = (c * x - s * y) * zoom + translation[0]
            py = (s * x + c * y) * zoom + translation[1]
            m = cr.MAX_SHAPE_DIM
            inside = ((px >= -m) & (px <= cr.WINDOW_W + m) & (py >= -m) & (py <= cr.WINDOW_H + m)).any(axis=1)
            for i in np.flatnonzero(inside):
                poly = list(zip(px[i].tolist(), py[i].tolist()))
                color = [int(c) for c in colors[i]]
                gfxdraw.aapolygon(self.surf, poly, color)
                gfxdraw.filled_polygon(self.surf, poly, color)

    return FastCarRacing


def make_car_racing(fast: bool = True):
    """A raw ``CarRacing`` (v3 dynamics, continuous actions, no wrappers): the fast path or Gymnasium's reference."""
    from gymnasium.envs.box2d.car_racing import CarRacing

    cls = _fast_class() if fast else CarRacing
    return cls(render_mode=None, continuous=True)


class CarRacingEnv:
    """CarRacing with 64x64 uint8 observations (crop 84 rows, PIL bilinear), a step limit and frame checks.

    :param fast: use :class:`FastCarRacing` (pixel-identical, ~3x faster) instead of Gymnasium's renderer.
    :param max_steps: episode length cap (the paper's horizon is 1000).
    :param check_frames: validate every raw frame with :func:`check_frame`.
    :param patience: if > 0, end the episode after this many frames in a row without a new road tile (a stalled or
        lost car) and charge the time penalty (-0.1 per frame) for the frames it would still have run, so a cut
        episode never scores more than the same car standing still to the end. Training-only economy; 0 = off.
    """

    def __init__(self, fast: bool = True, max_steps: int = 1000, check_frames: bool = True,
                 patience: int = 0) -> None:
        if max_steps < 1:
            raise ValueError(f"max_steps must be >= 1, got {max_steps}")
        if patience < 0:
            raise ValueError(f"patience must be >= 0 (0: never cut an episode), got {patience}")
        self.patience, self.stalled = patience, 0
        self.env = make_car_racing(fast)
        self.max_steps = max_steps
        self.check_frames = check_frames
        self.seed: int | None = None
        self.t = 0
        self.last_frame: np.ndarray | None = None

    def _obs(self, frame: np.ndarray) -> np.ndarray:
        self.last_frame = frame
        if self.check_frames:
            check_frame(frame, f"CarRacing frame (seed {self.seed}, step {self.t})")
        return process_frame(frame)

    def reset(self, seed: int) -> np.ndarray:
        """Start the track of ``seed``; returns the first 64x64 observation."""
        self.seed, self.t, self.stalled = int(seed), 0, 0
        frame, _ = self.env.reset(seed=self.seed)
        return self._obs(frame)

    def step(self, action: np.ndarray) -> tuple[np.ndarray, float, bool]:
        """Apply ``action`` = (steer in [-1,1], gas in [0,1], brake in [0,1]); returns (obs, reward, done)."""
        action = np.asarray(action, dtype=np.float64)
        if action.shape != (3,) or not np.all(np.isfinite(action)):
            raise ValueError(f"action: expected 3 finite floats (steer, gas, brake), got {action!r}")
        frame, reward, terminated, truncated, _ = self.env.step(action)
        self.t += 1
        done = bool(terminated or truncated or self.t >= self.max_steps)
        self.stalled = 0 if reward > 0 else self.stalled + 1
        if self.patience and self.stalled >= self.patience and not done:
            reward, done = reward + TIME_PENALTY * (self.max_steps - self.t), True
        return self._obs(frame), float(reward), done

    def close(self) -> None:
        self.env.close()
