"""Calibrate and measure face matching on ../shared/datasets/faces.

Experiment 1 (photo vs photo): every pair formed from identities.csv (plus the pairs.csv pairs,
which are a subset and whose labels are checked against identities.csv). Prints the genuine and
impostor distance distributions, the EER, FRR at FAR 0.1 %, and fits the distance->similarity
mapping hard-coded in gateway/verification/faces/recognition.py (EER_DISTANCE, SIMILARITY_SLOPE).
A two-fold split by identity then checks the EER threshold out of sample: the threshold fitted
on one half of the people is applied to the other half.

Experiment 2 (document photo vs selfie): each photo's face is rendered small and printed-looking
(120-160 px face, slight blur, faded warm colours, JPEG q60, on a light card with fake text
lines, the card JPEG-compressed again) and matched against every other photo. Same figures, at
the mapping fitted in experiment 1, with and without the upsampled second detection pass.

Usage (from the repo root, venv active; ~2-3 min on 2 cores):
    nice python eval/face_match_eval.py [--roc-png docs/face-match-roc.png] [--json-out F]
"""

from __future__ import annotations

import argparse
import csv
import io
import itertools
import json
import math
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

from gateway.progress import progress  # noqa: E402
from gateway.verification.faces import recognition as face_service  # noqa: E402
from gateway.verification.images import load_image  # noqa: E402

DEFAULT_FACES_DIR = REPO_ROOT.parent / "shared" / "datasets" / "faces"
FAR_TARGET = 0.001
# The similarity the mapping gives the median impostor distance: sets the slope.
IMPOSTOR_MEDIAN_SIMILARITY = 0.05


def read_identities(faces_dir: Path) -> dict[str, str]:
    with (faces_dir / "identities.csv").open(newline="") as handle:
        return {row["file"]: row["identity"] for row in csv.DictReader(handle)}


def read_listed_pairs(faces_dir: Path, identities: dict[str, str]) -> list[tuple[str, str]]:
    """pairs.csv, with each label checked against identities.csv (a mismatch stops the run)."""
    pairs = []
    with (faces_dir / "pairs.csv").open(newline="") as handle:
        for row in csv.DictReader(handle):
            same = identities[row["file_x"]] == identities[row["file_y"]]
            if same != (row["Decision"] == "Yes"):
                raise SystemExit(f"pairs.csv disagrees with identities.csv on {row}")
            pairs.append((row["file_x"], row["file_y"]))
    return pairs


@dataclass
class ErrorRates:
    genuine_count: int
    impostor_count: int
    genuine_median: float
    impostor_median: float
    genuine_max: float
    impostor_min: float
    eer: float
    eer_distance: float
    frr_at_far_target: float
    far_at_eer_distance: float
    frr_at_eer_distance: float
    auc: float

    def lines(self, title: str) -> list[str]:
        far_resolution = 1 / self.impostor_count
        return [
            f"{title}",
            f"  pairs: {self.genuine_count} genuine, {self.impostor_count} impostor "
            f"(one impostor = {far_resolution:.4%} FAR)",
            f"  genuine distance: median {self.genuine_median:.3f}, max {self.genuine_max:.3f}",
            f"  impostor distance: median {self.impostor_median:.3f}, min {self.impostor_min:.3f}",
            f"  EER {self.eer:.2%} at distance {self.eer_distance:.3f} (there FAR "
            f"{self.far_at_eer_distance:.2%}, FRR {self.frr_at_eer_distance:.2%}: the rates move "
            "in steps, the EER is their mean at the closest crossing)",
            f"  FRR at FAR <= {FAR_TARGET:.1%}: {self.frr_at_far_target:.2%}",
            f"  AUC {self.auc:.5f}",
        ]


def error_rates(genuine: np.ndarray, impostor: np.ndarray) -> ErrorRates:
    """EER, FRR at the target FAR and AUC; a pair is accepted when distance <= threshold."""
    genuine = np.sort(genuine)
    impostor = np.sort(impostor)
    candidates = np.unique(np.concatenate([genuine, impostor]))
    # Thresholds halfway between consecutive observed distances, plus both ends.
    thresholds = np.concatenate(
        [[candidates[0] - 1e-6], (candidates[:-1] + candidates[1:]) / 2, [candidates[-1] + 1e-6]]
    )
    far = np.searchsorted(impostor, thresholds, side="right") / impostor.size
    frr = 1.0 - np.searchsorted(genuine, thresholds, side="right") / genuine.size
    gap = np.abs(far - frr)
    best = np.flatnonzero(gap == gap.min())
    # Several thresholds tie when the sets separate: take the middle of the tied range.
    middle = best[len(best) // 2]
    eer = float((far[middle] + frr[middle]) / 2)
    if genuine.max() < impostor.min():
        eer_distance = float((genuine.max() + impostor.min()) / 2)
    else:
        eer_distance = float(thresholds[middle])
    allowed = far <= FAR_TARGET
    frr_at_far = float(frr[allowed].min()) if allowed.any() else 1.0
    # AUC: probability a random genuine pair is closer than a random impostor pair.
    ranks = np.searchsorted(impostor, genuine, side="right")
    ties = np.searchsorted(impostor, genuine, side="right") - np.searchsorted(
        impostor, genuine, side="left"
    )
    auc = float(((impostor.size - ranks) + ties / 2).sum() / (genuine.size * impostor.size))
    return ErrorRates(
        genuine_count=genuine.size,
        impostor_count=impostor.size,
        genuine_median=float(np.median(genuine)),
        impostor_median=float(np.median(impostor)),
        genuine_max=float(genuine.max()),
        impostor_min=float(impostor.min()),
        eer=eer,
        eer_distance=eer_distance,
        frr_at_far_target=frr_at_far,
        far_at_eer_distance=float(np.mean(impostor <= eer_distance)),
        frr_at_eer_distance=float(np.mean(genuine > eer_distance)),
        auc=auc,
    )


def rates_at(genuine: np.ndarray, impostor: np.ndarray, distance: float) -> tuple[float, float]:
    """(FAR, FRR) when accepting pairs at or below `distance`."""
    return float(np.mean(impostor <= distance)), float(np.mean(genuine > distance))


def roc_points(genuine: np.ndarray, impostor: np.ndarray) -> list[tuple[float, float]]:
    """(FAR, TAR) for every threshold, for plotting."""
    thresholds = np.unique(np.concatenate([genuine, impostor]))
    return [
        (float(np.mean(impostor <= t)), float(np.mean(genuine <= t)))
        for t in np.concatenate([[0.0], thresholds])
    ]


def fit_slope(eer_distance: float, impostor_median: float) -> float:
    """Slope putting the impostor median at IMPOSTOR_MEDIAN_SIMILARITY (0.75 stays at EER).

    similarity(d) = 1 / (1 + exp(k (d - d_eer)) / 3); solving similarity(median) = s gives
    k = ln(3 (1 - s) / s) / (median - d_eer). A maximum-likelihood logistic fit is not used:
    on a set this well separated its slope runs off to infinity (a step function).
    """
    odds = 3 * (1 - IMPOSTOR_MEDIAN_SIMILARITY) / IMPOSTOR_MEDIAN_SIMILARITY
    return math.log(odds) / (impostor_median - eer_distance)


@dataclass
class Embedded:
    file: str
    identity: str
    embedding: np.ndarray | None
    face_count: int
    face_width_px: int | None
    upsampled: bool
    detect_ms: float


def embed_image(rgb: np.ndarray, *, upsample_if_none: bool = True) -> tuple:
    """(embedding or None, face count, face width, upsampled, detection ms) for one image."""
    started = time.perf_counter()
    found = face_service.detect_faces(rgb, upsample_if_none=upsample_if_none)
    detect_ms = (time.perf_counter() - started) * 1000
    if len(found) != 1:
        return None, len(found), None, False, detect_ms
    face = found[0]
    return (
        face_service.embed_face(rgb, face),
        1,
        face.width_px,
        face.upsampled,
        detect_ms,
    )


def genuine_impostor(
    left: list[Embedded],
    right: list[Embedded],
    pairs: list[tuple[int, int]],
) -> tuple[np.ndarray, np.ndarray, int]:
    """Distances split by label; pairs where either side has no usable face are counted."""
    genuine, impostor, skipped = [], [], 0
    for i, j in pairs:
        a, b = left[i], right[j]
        if a.embedding is None or b.embedding is None:
            skipped += 1
            continue
        distance = face_service.face_distance(a.embedding, b.embedding)
        (genuine if a.identity == b.identity else impostor).append(distance)
    return np.array(genuine), np.array(impostor), skipped


def hardest(photos: list[Embedded], pairs: list[tuple[int, int]], *, genuine_pairs: bool) -> str:
    """The three pairs nearest the wrong side, to look at by eye (file names, not people)."""
    scored = []
    for i, j in pairs:
        a, b = photos[i], photos[j]
        if (
            a.embedding is None
            or b.embedding is None
            or (a.identity == b.identity) != genuine_pairs
        ):
            continue
        scored.append((face_service.face_distance(a.embedding, b.embedding), a.file, b.file))
    scored.sort(reverse=genuine_pairs)
    return ", ".join(f"{x}/{y} {d:.3f}" for d, x, y in scored[:3])


def render_document_photo(
    rgb: np.ndarray,
    face_box: tuple[int, int, int, int],
    rng: np.random.Generator,
    face_px_range: tuple[int, int] = (120, 160),
) -> tuple[np.ndarray, int]:
    """A printed-ID-card look-alike holding this face; returns (card RGB, target face px).

    The portrait is cropped around the detected face, shrunk so the face is `face_px_range` px wide,
    softened, faded towards warm tones and JPEG-compressed like a printed, re-photographed
    picture, then pasted on a light card with text-like bars; the card is compressed again.
    """
    left, top, right, bottom = face_box
    face_px = right - left
    centre_x, centre_y = (left + right) / 2, (top + bottom) / 2
    # Passport-style portrait: 1.6 face widths wide, 2.0 tall, face slightly above centre.
    crop = (
        round(centre_x - 0.8 * face_px),
        round(centre_y - 1.05 * face_px),
        round(centre_x + 0.8 * face_px),
        round(centre_y + 0.95 * face_px),
    )
    portrait = Image.fromarray(rgb).crop(crop)  # areas outside the photo become black
    target_face_px = int(rng.integers(face_px_range[0], face_px_range[1] + 1))
    scale = target_face_px / face_px
    portrait = portrait.resize(
        (round(portrait.width * scale), round(portrait.height * scale)), Image.Resampling.LANCZOS
    )
    portrait = portrait.filter(ImageFilter.GaussianBlur(radius=float(rng.uniform(0.6, 1.1))))
    pixels = np.asarray(portrait, dtype=np.float32)
    grey = pixels.mean(axis=2, keepdims=True)
    saturation = rng.uniform(0.55, 0.8)
    pixels = grey + (pixels - grey) * saturation  # faded print
    tint = np.array([rng.uniform(1.0, 1.08), rng.uniform(0.97, 1.03), rng.uniform(0.85, 0.95)])
    pixels = pixels * tint * rng.uniform(0.8, 0.9) + rng.uniform(20, 40)  # warm, low contrast
    pixels += rng.normal(0.0, 4.0, size=pixels.shape)  # print grain
    portrait = Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))
    portrait = _jpeg(portrait, 60)

    card_w, card_h = 1000, 630  # ID-1 aspect ratio (85.6 x 54 mm)
    background = tuple(int(v) for v in rng.integers(222, 246, size=3))
    card = Image.new("RGB", (card_w, card_h), background)
    draw = ImageDraw.Draw(card)
    draw.rectangle((0, 0, card_w, 70), fill=(150, 175, 205))
    x0, y0 = 50, 110
    card.paste(portrait, (x0, y0))
    for row in range(9):
        y = 120 + row * 48
        length = int(rng.integers(180, 520))
        draw.rectangle(
            (x0 + portrait.width + 40, y, x0 + portrait.width + 40 + length, y + 16),
            fill=(70, 70, 80),
        )
    card = card.filter(ImageFilter.GaussianBlur(radius=0.5))
    return np.asarray(_jpeg(card, 60)), target_face_px


def _jpeg(image: Image.Image, quality: int) -> Image.Image:
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=quality)
    buffer.seek(0)
    return Image.open(buffer).convert("RGB")


def draw_roc(curves: dict[str, list[tuple[float, float]]], path: Path) -> None:
    """ROC with a log FAR axis (1e-4 .. 1), drawn with Pillow to keep dependencies at zero."""
    width, height, margin = 720, 480, 70
    image = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(image)
    font = ImageFont.load_default(size=13)
    plot = (margin, 30, width - 20, height - margin)
    log_min = -4.0
    tar_min = 0.8  # every curve here is above 0.85 past FAR 1e-4: show the part that differs

    def to_xy(far: float, tar: float) -> tuple[float, float]:
        x_frac = (max(math.log10(max(far, 1e-12)), log_min) - log_min) / -log_min
        y_frac = max(tar - tar_min, 0.0) / (1.0 - tar_min)
        return (
            plot[0] + x_frac * (plot[2] - plot[0]),
            plot[3] - y_frac * (plot[3] - plot[1]),
        )

    for exponent in range(-4, 1):
        x, _ = to_xy(10.0**exponent, 0)
        draw.line((x, plot[1], x, plot[3]), fill=(225, 225, 225))
        draw.text((x - 14, plot[3] + 6), f"1e{exponent}", fill="black", font=font)
    for step in range(5):
        tar = tar_min + step * (1.0 - tar_min) / 4
        _, y = to_xy(1, tar)
        draw.line((plot[0], y, plot[2], y), fill=(225, 225, 225))
        draw.text((plot[0] - 40, y - 7), f"{tar:.2f}", fill="black", font=font)
    draw.rectangle(plot, outline="black")
    draw.text(
        ((plot[0] + plot[2]) / 2 - 150, height - 30),
        "false accept rate (log scale; 0 drawn at 1e-4)",
        fill="black",
        font=font,
    )
    draw.text((8, 8), f"true accept rate (from {tar_min})", fill="black", font=font)
    colours = [(31, 119, 180), (214, 39, 40), (44, 160, 44)]
    for index, (label, points) in enumerate(curves.items()):
        colour = colours[index % len(colours)]
        xy = [to_xy(far, tar) for far, tar in sorted(points)]
        # Step curve: TAR holds until the next FAR value.
        steps = []
        for (x1, y1), (x2, _) in itertools.pairwise(xy):
            steps += [(x1, y1), (x2, y1)]
        steps.append(xy[-1])
        draw.line(steps, fill=colour, width=2)
        draw.text((plot[0] + 260, plot[3] - 60 - 18 * index), label, fill=colour, font=font)
    image.save(path, optimize=True)


def document_experiment(
    photos: list[Embedded],
    originals: dict[str, np.ndarray],
    boxes: dict[str, tuple[int, int, int, int]],
    rng: np.random.Generator,
    face_px_range: tuple[int, int],
    *,
    figures_only: bool = False,
) -> tuple[dict, list[tuple[float, float]] | None, np.ndarray | None, list[Embedded]]:
    """Render every photo as a printed card, match it against every other photo.

    Each card is detected twice, with and without the upsampled second pass, so the value of
    that pass (faces found, cost) is measured on the same renders.
    Returns (figures, ROC points with the second pass, the last card rendered, the documents'
    embeddings with the second pass).
    """
    with_second: list[Embedded] = []
    first_only: list[Embedded] = []
    card = None
    for done, photo in enumerate(photos, 1):
        if photo.file not in originals:
            with_second.append(Embedded(photo.file, photo.identity, None, 0, None, False, 0))
            first_only.append(with_second[-1])
        else:
            card, _ = render_document_photo(
                originals[photo.file], boxes[photo.file], rng, face_px_range
            )
            for target, upsample in ((with_second, True), (first_only, False)):
                embedding, count, width, upsampled, detect_ms = embed_image(
                    card, upsample_if_none=upsample
                )
                target.append(
                    Embedded(
                        photo.file, photo.identity, embedding, count, width, upsampled, detect_ms
                    )
                )
        progress("documents: render + match", done, len(photos))

    figures: dict = {}
    curve = None
    cross_pairs = [(i, j) for i in range(len(photos)) for j in range(len(photos)) if i != j]
    for key, docs in (("with_second_pass", with_second), ("first_pass_only", first_only)):
        found = sum(d.embedding is not None for d in docs)
        widths = [d.face_width_px for d in docs if d.face_width_px]
        detect_ms = [d.detect_ms for d in docs if d.detect_ms]
        upsampled = sum(d.upsampled for d in docs)
        median_width = statistics.median(widths) if widths else 0
        print(
            f"  {key.replace('_', ' ')}: document faces found {found}/{len(docs)} "
            f"({upsampled} only by the second pass), detected width median {median_width:.0f} px,"
            f" detection on the 1000x630 card median {statistics.median(detect_ms):.0f} ms, "
            f"max {max(detect_ms):.0f} ms"
        )
        entry: dict = {
            "documents_found": found,
            "found_by_second_pass": upsampled,
            "face_width_median_px": median_width,
            "detect_ms_median": statistics.median(detect_ms),
            "detect_ms_max": max(detect_ms),
        }
        figures[key] = entry
        if found < 2:
            continue
        genuine, impostor, skipped = genuine_impostor(docs, photos, cross_pairs)
        rates = error_rates(genuine, impostor)
        shipped_far, shipped_frr = rates_at(genuine, impostor, face_service.EER_DISTANCE)
        entry |= vars(rates) | {
            "pairs_skipped": skipped,
            "far_at_shipped": shipped_far,
            "frr_at_shipped": shipped_frr,
        }
        if key == "with_second_pass":
            curve = roc_points(genuine, impostor)
            kept = [
                d
                if d.face_width_px is not None and d.face_width_px >= face_service.MIN_FACE_PX
                else Embedded(d.file, d.identity, None, d.face_count, None, False, 0)
                for d in docs
            ]
            refused = found - sum(d.embedding is not None for d in kept)
            kept_genuine, kept_impostor, _ = genuine_impostor(kept, photos, cross_pairs)
            entry["refused_by_min_face_px"] = refused
            if kept_genuine.size and kept_impostor.size:
                kept_far, kept_frr = rates_at(
                    kept_genuine, kept_impostor, face_service.EER_DISTANCE
                )
                entry |= {"as_shipped_far": kept_far, "as_shipped_frr": kept_frr}
                print(
                    f"    as the service decides (MIN_FACE_PX {face_service.MIN_FACE_PX}): "
                    f"{refused} documents refused as too small; on the rest at 0.75: "
                    f"FAR {kept_far:.2%}, FRR {kept_frr:.2%}"
                )
            else:
                print(
                    f"    as the service decides (MIN_FACE_PX {face_service.MIN_FACE_PX}): "
                    f"all {refused} found faces refused as too small"
                )
        if figures_only and key == "first_pass_only":
            print(f"    EER {rates.eer:.2%}, at 0.75: FAR {shipped_far:.2%} FRR {shipped_frr:.2%}")
            continue
        lines = rates.lines("")[1:]
        lines.append(f"  pairs skipped (document face not found): {skipped}")
        lines.append(
            f"  at the shipped threshold 0.75: FAR {shipped_far:.2%}, FRR {shipped_frr:.2%}"
        )
        for line in lines:
            print("  " + line)
    return figures, curve, card, with_second


def frame_aggregation(
    documents: list[Embedded], photos: list[Embedded], *, frames_per_set: int
) -> dict:
    """How the frame aggregate changes errors: min (best frame), median and mean of distances.

    Each "submission" is a document against `frames_per_set` photos of one person standing in
    for selfie frames (never the document's own source photo). Real frames of one capture are
    far more alike than different photos, so this shows the direction, not the size, of the
    effect on false accepts. Reuses experiment 2's embeddings: no extra model runs.
    """
    by_identity: dict[str, list[int]] = {}
    for index, photo in enumerate(photos):
        if photo.embedding is not None:
            by_identity.setdefault(photo.identity, []).append(index)
    aggregates = {"best frame (min)": min, "median": statistics.median, "mean": statistics.mean}
    decisions: dict[str, dict[str, list[bool]]] = {
        name: {"genuine": [], "impostor": []} for name in aggregates
    }
    for document_index, document in enumerate(documents):
        if document.embedding is None:
            continue
        for identity, indexes in by_identity.items():
            frame_pool = [i for i in indexes if i != document_index]
            kind = "genuine" if identity == document.identity else "impostor"
            for frame_set in itertools.combinations(frame_pool, frames_per_set):
                distances = [
                    face_service.face_distance(document.embedding, photos[i].embedding)
                    for i in frame_set
                ]
                for name, aggregate in aggregates.items():
                    accepted = aggregate(distances) <= face_service.EER_DISTANCE
                    decisions[name][kind].append(accepted)
    figures = {}
    for name, by_kind in decisions.items():
        genuine, impostor = by_kind["genuine"], by_kind["impostor"]
        far = sum(impostor) / len(impostor)
        frr = 1 - sum(genuine) / len(genuine)
        figures[name] = {"far": far, "frr": frr, "genuine": len(genuine), "impostor": len(impostor)}
        print(
            f"  {name:<17} at 0.75: FAR {far:.3%}, FRR {frr:.2%} "
            f"({len(genuine)} genuine, {len(impostor)} impostor submissions)"
        )
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--faces-dir", type=Path, default=DEFAULT_FACES_DIR)
    parser.add_argument("--roc-png", type=Path, default=REPO_ROOT / "docs" / "face-match-roc.png")
    parser.add_argument("--json-out", type=Path)
    parser.add_argument(
        "--face-size-sweep",
        type=int,
        nargs="*",
        default=[40, 50, 60, 80, 100],
        help="document face widths (px) for experiment 2b; none to skip",
    )
    parser.add_argument("--sample-card", type=Path, help="save the last rendered card here")
    parser.add_argument("--seed", type=int, default=20261123)
    parser.add_argument("--limit", type=int, help="use only the first N photos (quick runs)")
    args = parser.parse_args()

    identities = read_identities(args.faces_dir)
    files = sorted(identities, key=lambda name: int("".join(filter(str.isdigit, name))))
    if args.limit:
        files = files[: args.limit]
    listed_pairs = read_listed_pairs(args.faces_dir, identities)
    report: dict = {"photos": len(files)}

    started = time.perf_counter()
    face_service.get_face_models()
    print(f"model load: {(time.perf_counter() - started) * 1000:.0f} ms")

    photos: list[Embedded] = []
    originals: dict[str, np.ndarray] = {}
    boxes: dict[str, tuple[int, int, int, int]] = {}
    for done, name in enumerate(files, 1):
        rgb = load_image(args.faces_dir / name)
        found = face_service.detect_faces(rgb)
        embedding = face_service.embed_face(rgb, found[0]) if len(found) == 1 else None
        if len(found) == 1:
            originals[name], boxes[name] = rgb, found[0].box
        photos.append(
            Embedded(
                name,
                identities[name],
                embedding,
                len(found),
                found[0].width_px if found else None,
                bool(found) and found[0].upsampled,
                0,
            )
        )
        progress("photos: detect + embed", done, len(files))
    usable = sum(p.embedding is not None for p in photos)
    print(f"\nphotos with exactly one face: {usable}/{len(photos)}")
    report["photos_with_one_face"] = usable

    # ---- Experiment 1: photo vs photo -------------------------------------------------
    all_pairs = list(itertools.combinations(range(len(photos)), 2))
    index_of = {p.file: i for i, p in enumerate(photos)}
    listed = [
        (index_of[a], index_of[b]) for a, b in listed_pairs if a in index_of and b in index_of
    ]
    genuine, impostor, skipped = genuine_impostor(photos, photos, all_pairs)
    rates = error_rates(genuine, impostor)
    print()
    for line in rates.lines(f"Experiment 1: all {len(all_pairs)} pairs from identities.csv"):
        print(line)
    print(f"  pairs skipped (no single face): {skipped}")
    listed_genuine, listed_impostor, _ = genuine_impostor(photos, photos, listed)
    listed_rates = error_rates(listed_genuine, listed_impostor)
    for line in listed_rates.lines("Experiment 1b: the pairs.csv pairs only"):
        print(line)
    print(
        "  genuine distance deciles:",
        " ".join(f"{q:.2f}" for q in np.quantile(genuine, np.linspace(0, 1, 11))),
    )
    print(
        "  impostor distance deciles:",
        " ".join(f"{q:.2f}" for q in np.quantile(impostor, np.linspace(0, 1, 11))),
    )

    print("  closest impostor pairs:", hardest(photos, all_pairs, genuine_pairs=False))
    print("  farthest genuine pairs:", hardest(photos, all_pairs, genuine_pairs=True))

    slope = fit_slope(rates.eer_distance, rates.impostor_median)
    print("\nFitted mapping: similarity(d) = 1 / (1 + exp(k * (d - d_eer)) / 3)")
    print(f"  d_eer = {rates.eer_distance:.4f}   k = {slope:.3f}")
    shipped = (face_service.EER_DISTANCE, face_service.SIMILARITY_SLOPE)
    print(f"  shipped in faces.py: EER_DISTANCE = {shipped[0]}, SIMILARITY_SLOPE = {shipped[1]}")
    shipped_far, shipped_frr = rates_at(genuine, impostor, face_service.EER_DISTANCE)
    print(
        f"  at the shipped threshold 0.75 (distance {face_service.EER_DISTANCE}): "
        f"FAR {shipped_far:.2%}, FRR {shipped_frr:.2%}"
    )
    report["photo_vs_photo"] = vars(rates) | {
        "pairs_skipped": skipped,
        "far_at_shipped": shipped_far,
        "frr_at_shipped": shipped_frr,
    }
    report["pairs_csv"] = vars(listed_rates)
    report["fitted"] = {"eer_distance": rates.eer_distance, "slope": slope}

    # Out-of-sample check: threshold fitted on half the identities, applied to the other half.
    people = sorted({p.identity for p in photos})
    folds = [set(people[0::2]), set(people[1::2])]
    for fit_fold, test_fold in ((0, 1), (1, 0)):

        def within(fold: set[str]) -> list[tuple[int, int]]:
            return [
                (i, j)
                for i, j in all_pairs
                if photos[i].identity in fold and photos[j].identity in fold
            ]

        fit_g, fit_i, _ = genuine_impostor(photos, photos, within(folds[fit_fold]))
        test_g, test_i, _ = genuine_impostor(photos, photos, within(folds[test_fold]))
        fitted = error_rates(fit_g, fit_i).eer_distance
        far, frr = rates_at(test_g, test_i, fitted)
        print(
            f"  2-fold by identity: fold {fit_fold} threshold {fitted:.3f} on fold {test_fold} "
            f"({test_g.size} genuine, {test_i.size} impostor): FAR {far:.2%}, FRR {frr:.2%}"
        )
        report[f"fold_{fit_fold}_to_{test_fold}"] = {"threshold": fitted, "far": far, "frr": frr}

    # ---- Experiment 2: document photo vs selfie ---------------------------------------
    rng = np.random.default_rng(args.seed)
    print("\nExperiment 2: printed document photo (face 120-160 px) vs another photo")
    document_figures, document_curve, card, documents = document_experiment(
        photos, originals, boxes, rng, (120, 160)
    )
    report["document_vs_selfie"] = document_figures
    print("\nExperiment 3: one document against 3 selfie frames, best frame vs median")
    report["frame_aggregation"] = frame_aggregation(documents, photos, frames_per_set=3)
    if args.sample_card and card is not None:
        Image.fromarray(card).save(args.sample_card, quality=85)
    if args.face_size_sweep:
        print("\nExperiment 2b: the same at fixed document face widths (sets MIN_FACE_PX)")
        report["face_size_sweep"] = {}
        for face_px in args.face_size_sweep:
            print(f"\n face {face_px} px:")
            figures, _, _, _ = document_experiment(
                photos, originals, boxes, rng, (face_px, face_px), figures_only=True
            )
            report["face_size_sweep"][face_px] = figures

    curves = {"photo vs photo": roc_points(genuine, impostor)}
    if document_curve is not None:
        curves["printed document vs photo"] = document_curve
    args.roc_png.parent.mkdir(parents=True, exist_ok=True)
    draw_roc(curves, args.roc_png)
    print(f"\nROC written to {args.roc_png} ({args.roc_png.stat().st_size / 1024:.0f} KB)")
    if args.json_out:
        args.json_out.write_text(json.dumps(report, indent=2, default=float))


if __name__ == "__main__":
    main()
