"""Modality stylisation: tissue map (+ bone map) -> RGB with the modality's look.

Every style maps tissue to brightness monotonically (higher tissue = brighter), so a
finding's fixed positive tissue contrast stays a brighter blob in every modality; what
differs is colour, field of view, texture, noise and how bone shows. Styles only use the
latent's own random generator, so rendering stays a pure function of the latent.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from medmat.registry import Registry
from medmat.synth.grids import Grid, band, ellipse

StyleFn = Callable[[np.ndarray, np.ndarray, Grid, np.random.Generator], np.ndarray]
MODALITIES: Registry[StyleFn] = Registry("synthetic modality")


def _gray(lum: np.ndarray) -> np.ndarray:
    return np.repeat(lum[:, :, None], 3, axis=2)


def _tint(lum: np.ndarray, dark, light) -> np.ndarray:
    dark, light = np.asarray(dark, np.float32), np.asarray(light, np.float32)
    return dark + lum[:, :, None] * (light - dark)


@MODALITIES.register("X-ray")
def xray(t, bone, g, rng):
    """Projection radiograph: air black, soft tissue grey, bone bright, soft haze."""
    lum = 0.06 + 0.72 * t + 0.26 * bone + 0.025 * g.smooth(rng, 4)
    lum += 0.012 * rng.standard_normal(t.shape, dtype=np.float32)
    return _gray(lum * (1.0 - 0.12 * (g.Y + 1.0) * 0.5))


@MODALITIES.register("CT")
def ct(t, bone, g, rng):
    """Axial slice: circular field of view, soft-tissue window, bright bone, a table line."""
    fov = ellipse(g.X, g.Y, 0.97, 0.97, g.edge)
    lum = np.clip((t - 0.04) / 0.8, 0, 1) ** 0.9 + 0.38 * bone
    lum += 0.02 * rng.standard_normal(t.shape, dtype=np.float32)
    table = 0.35 * band(g.Y - 0.9, 0.012, g.edge)
    return _gray(fov * (lum + table) + 0.015 * (1 - fov))


@MODALITIES.register("MRI")
def mri(t, bone, g, rng):
    """MR contrast: bright soft tissue, dark bone, a smooth multiplicative bias field."""
    bias = 1.0 + 0.22 * g.smooth(rng, 3)
    lum = (0.05 + 1.05 * t - 0.3 * bone) * bias
    noise = 0.025 * rng.standard_normal((2,) + t.shape, dtype=np.float32)
    lum = np.sqrt((lum + noise[0]) ** 2 + noise[1] ** 2)  # Rician magnitude noise
    return _gray(lum)


@MODALITIES.register("Ultrasound")
def ultrasound(t, bone, g, rng):
    """Sector scan: fan from the top, speckle, depth attenuation, echogenic bone rim."""
    X, Y = g.X, g.Y + 1.6
    rho = np.sqrt(X * X + Y * Y)
    fan = np.clip(0.5 - (np.abs(np.arctan2(X, Y)) - 0.66) / (g.edge * 2), 0, 1)
    fan *= np.clip(0.5 - (0.55 - rho) / g.edge, 0, 1) * np.clip(0.5 - (rho - 2.55) / g.edge, 0, 1)
    speckle = rng.standard_exponential(t.shape, dtype=np.float32) * 0.2 + 0.8
    lum = (0.12 + 0.95 * t + 0.2 * bone) * speckle * (1.12 - 0.22 * (rho - 0.55))
    return _tint(fan * lum, (0.0, 0.0, 0.0), (0.98, 0.96, 0.9))


@MODALITIES.register("Fundus Photography")
def fundus(t, bone, g, rng):
    """Orange retina in a round aperture, bright optic disc with dark vessels arching out."""
    ap = ellipse(g.X, g.Y, 0.98, 0.98, g.edge)
    # the disc sits near the rim (outside the |r| < 0.8 disc where findings lie) and is
    # dimmer than a finding, so it does not read as a one-sided lesion (laterality!)
    dx, dy = 0.84 + 0.02 * rng.standard_normal(), 0.05 * rng.standard_normal()
    disc = ellipse(g.X, g.Y, 0.12, 0.15, g.edge * 2, dx, dy)
    vessels = np.zeros_like(t)
    for k in range(4):
        c = (0.35 + 0.25 * rng.random()) * (1 if k % 2 else -1)
        s = 0.4 * rng.standard_normal()
        x = g.X - dx
        vessels = np.maximum(vessels, band(g.Y - dy - c * x * x - s * x, 0.012, g.edge) * (g.X < dx + 0.05))
    l = (0.28 + 0.85 * t) * (1.0 - 0.35 * g.R ** 2) + 0.05 * g.smooth(rng, 5)
    rgb = _tint(l, (0.25, 0.06, 0.0), (1.0, 0.62, 0.25))
    rgb = rgb * (1 - 0.35 * vessels[:, :, None]) + disc[:, :, None] * np.float32([0.14, 0.18, 0.12])
    return rgb * ap[:, :, None]


@MODALITIES.register("Dermoscopy")
def dermoscopy(t, bone, g, rng):
    """Skin tones under a round dermatoscope contact plate with a dark rim and a few hairs."""
    plate = ellipse(g.X, g.Y, 1.08, 1.08, g.edge * 3)
    l = 0.35 + 0.9 * t + 0.05 * g.smooth(rng, 6)
    rgb = _tint(l, (0.42, 0.24, 0.17), (0.98, 0.82, 0.72))
    hair = np.zeros_like(t)
    for _ in range(int(rng.integers(0, 3))):
        a, off = rng.uniform(0, np.pi), rng.uniform(-0.8, 0.8)
        hair = np.maximum(hair, band(np.cos(a) * g.X + np.sin(a) * g.Y - off + 0.1 * np.sin(4 * g.X), 0.006, g.edge))
    return rgb * (1 - 0.6 * hair[:, :, None]) * plate[:, :, None]


@MODALITIES.register("Microscopy")
def microscopy(t, bone, g, rng):
    """H&E: pink eosin stroma (lighter where tissue is higher), purple haematoxylin nuclei."""
    l = 0.25 + 0.95 * t + 0.06 * g.smooth(rng, 8)
    rgb = _tint(l, (0.55, 0.2, 0.45), (0.99, 0.86, 0.93))
    n = g.size
    r = max(1, n // 40)
    p = r + 1
    nuclei = np.zeros((n + 2 * p, n + 2 * p), np.float32)
    yy, xx = np.mgrid[-r:r + 1, -r:r + 1]
    stamp = ((yy * yy + xx * xx) <= r * r + r).astype(np.float32)
    for i, j in rng.integers(0, n, size=(int(0.012 * n * n / (r * r)), 2)):
        sub = nuclei[i + p - r:i + p + r + 1, j + p - r:j + p + r + 1]
        np.maximum(sub, stamp, out=sub)
    nuc = nuclei[p:n + p, p:n + p, None] * 0.75
    return rgb * (1 - nuc) + nuc * np.float32([0.3, 0.12, 0.42])


@MODALITIES.register("Endoscopy")
def endoscopy(t, bone, g, rng):
    """Pink-red mucosa, strong vignette in a rounded-octagon view, small specular glints."""
    view = np.clip(0.5 - (np.maximum(np.abs(g.X) + np.abs(g.Y) * 0.42, g.R * 0.92) - 0.98) / g.edge, 0, 1)
    l = (0.3 + 0.95 * t + 0.05 * g.smooth(rng, 5)) * (1.0 - 0.45 * g.R ** 2)
    rgb = _tint(l, (0.2, 0.03, 0.03), (1.0, 0.7, 0.62))
    glint = np.zeros_like(t)
    for _ in range(int(rng.integers(1, 4))):
        cx, cy = rng.uniform(-0.7, 0.7, size=2)
        glint = np.maximum(glint, ellipse(g.X, g.Y, 0.025, 0.018, g.edge, cx, cy))
    return (rgb + glint[:, :, None]) * view[:, :, None]
