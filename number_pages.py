"""MNIST digits composed into numbers, and the pieces of numbers that are no digit.

``number_image`` writes a row of MNIST digits as a person writes an amount: uneven spacing,
some pairs touching or overlapping, a separator or two, a trailing dash, a printed baseline,
a grey paper; seeded, for tests and benchmarks. ``reader_pieces`` cuts such rows as the
number reader does and keeps what it offers the network that is not one digit (two touching
digits as one, part of a digit, a digit with a slice of its neighbour), with the whole
digits cut beside them; train.py --not-a-digit teaches the first as "none".
"""

from __future__ import annotations

import math

import cv2
import numpy as np

import whole_numbers
from batch import map_in_processes

INK = 0.3  # an MNIST pixel above this (0-1) is ink
NONE = 10  # reader_pieces' label for a piece that is no digit
WHOLE = 0.8  # a cut piece is a digit where it holds this share of one digit's ink, and that ink this share of its own
NEARLY = (0.65, 0.7)  # and neither a digit nor none where it holds nearly that much: left out


def _cropped(digit: np.ndarray) -> np.ndarray:
    """An MNIST digit (uint8 28x28) as 0-1 ink cropped to its strokes (whole, where it has none)."""
    ink = digit.astype(np.float32) / 255
    inked_rows, inked_cols = np.flatnonzero(ink.max(1) > INK), np.flatnonzero(ink.max(0) > INK)
    if len(inked_rows) == 0:
        return ink
    return ink[inked_rows[0]:inked_rows[-1] + 1, inked_cols[0]:inked_cols[-1] + 1]


def number_image(digits: np.ndarray, rng: np.random.Generator, touching: bool = False, broken: bool = False,
                 separators: bool = True, baseline: bool = True, height: int = 48) -> np.ndarray:
    """A grey image (0-1, dark ink on light paper) of the MNIST digits ``digits`` (uint8,
    N x 28 x 28) written left to right at about ``height`` pixels: spacing varies, one pair
    touches where ``touching``, one digit's strokes are broken across its middle where
    ``broken`` (a pen that skipped), and with ``separators`` there may be a thousands dot
    and a trailing dash or "=", with ``baseline`` a printed line under it all."""
    return number_row(digits, rng, touching, broken, separators, baseline, height)[0]


def number_row(digits: np.ndarray, rng: np.random.Generator, touching: bool = False, broken: bool = False,
               separators: bool = True, baseline: bool = True, height: int = 48) -> tuple[np.ndarray, np.ndarray]:
    """``number_image``, and which digit drew each of its pixels (int32: 0 none, k + 1 the
    k-th of ``digits``; where two overlap, the darker ink's)."""
    scale = height / 20 * rng.uniform(0.9, 1.1)
    pieces = [cv2.resize(_cropped(d), None, fx=scale, fy=scale, interpolation=cv2.INTER_LINEAR) for d in digits]
    if broken:
        piece = pieces[int(rng.integers(0, len(pieces)))]
        gap = int(rng.uniform(0.4, 0.6) * piece.shape[0])
        piece[gap:gap + max(2, height // 16)] = 0
    touch = int(rng.integers(0, len(pieces) - 1)) if touching and len(pieces) > 1 else -1
    pad = int(0.4 * height)
    width = sum(p.shape[1] for p in pieces) + pad * (len(pieces) + 4)
    canvas = np.zeros((height * 2, width), np.float32)
    owner = np.zeros(canvas.shape, np.int32)
    x, base = pad, int(1.5 * height)
    dot_after = len(pieces) - 4 if separators and len(pieces) > 3 and rng.random() < 0.6 else -1
    for i, piece in enumerate(pieces):
        top = base - piece.shape[0] + int(rng.integers(-2, 3))
        region = canvas[top:top + piece.shape[0], x:x + piece.shape[1]]
        owner[top:top + piece.shape[0], x:x + piece.shape[1]][piece > region] = i + 1
        np.maximum(region, piece, out=region)
        x += piece.shape[1]
        if i == touch:
            x -= int(rng.uniform(0.05, 0.2) * piece.shape[1])  # the next digit's stroke meets this one's
        elif i == dot_after:
            dot = max(2, height // 12)
            cv2.circle(canvas, (x + pad // 2, base - dot), dot, 1.0, -1)
            x += pad
        else:
            x += int(rng.uniform(0.12, 0.45) * height)
    if separators and rng.random() < 0.5:
        y = base - height // 2
        cv2.line(canvas, (x + pad // 2, y), (x + pad // 2 + height // 2, y), 1.0, max(2, height // 14))
        if rng.random() < 0.4:
            cv2.line(canvas, (x + pad // 2, y + height // 5), (x + pad // 2 + height // 2, y + height // 5), 1.0,
                     max(2, height // 14))
        x += pad + height // 2
    canvas, owner = canvas[:, :x + pad], owner[:, :x + pad]
    if baseline:
        cv2.line(canvas, (0, base + 3), (canvas.shape[1] - 1, base + 3), 0.6, 1)
    paper = rng.uniform(0.75, 0.95)
    image = paper - canvas * (paper - rng.uniform(0.05, 0.3))
    image += rng.normal(0, 0.02, image.shape)
    return np.clip(image, 0, 1).astype(np.float32), owner


def reader_pieces(images: np.ndarray, labels: np.ndarray, count: int, seed: int,
                  workers: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """What the number reader itself (whole_numbers.py) cuts from rows of 2 to 7 of ``images``
    (MNIST-like, uint8 N x 28 x 28, their digits ``labels``) drawn by ``number_row`` 28 to
    72 pixels tall, two rows in five with a touching pair and one in seven with a broken
    digit: ``count`` candidates that are no digit (part of one, or parts of two: label NONE)
    and the whole digits cut alongside them (about three for every five), each framed as the
    reader frames it: uint8 (M, 28, 28) and int64 labels; fewer where the rows give no such
    pieces (blank images). A candidate is a digit where it holds most of one digit's ink
    and little else (WHOLE), and no digit where it holds much less of any; one in between,
    or a separator, is left out. Taught these, the network learns the cuts as the reader
    makes them, rather than pieces of digits cut by hand (docs/inference.md: 2 points more
    of the real check amounts). A digit with a slice cut off, or a slice of its neighbour
    in, is still that digit, as a cut between touching digits leaves them: WHOLE at 0.8
    rather than 0.9 read 2.3 points more of the real amounts (each of seeds 1-3 gained) and
    0.5 and 1.5 more of the drawn rows; at 0.7, 8 to 10 points fewer of the drawn rows.
    About 35 s for 40,000 on one core."""
    made_images, made_labels = [np.zeros((0, 28, 28), np.uint8)], [np.zeros(0, np.int64)]
    nones, row = 0, 0
    while nones < count:
        rows = range(row, row + math.ceil((count - nones) / 12) + 1)  # a row gives about 15 such pieces
        jobs = []
        for k in rows:
            rng = np.random.default_rng([seed, 27, k])
            pick = rng.integers(0, len(images), int(rng.integers(2, 8)))
            jobs.append((images[pick], labels[pick], (seed, 28, k)))
        before = nones
        for cut, cut_labels in map_in_processes(_cut_row, jobs, workers, chunksize=16):
            made_images.append(cut)
            made_labels.append(cut_labels)
            nones += int((cut_labels == NONE).sum())
        if nones == before:
            break  # nothing to cut: the images hold no ink
        row = rows.stop
    images_out, labels_out = np.concatenate(made_images), np.concatenate(made_labels)
    keep = (labels_out != NONE) | (np.cumsum(labels_out == NONE) <= count)
    return images_out[keep], labels_out[keep]


def ink_by_digit(line: whole_numbers.Line, owner: np.ndarray, digits: int) -> np.ndarray:
    """How many of each atom's pixels each digit drew (``number_row``'s ``owner`` map, over
    the line): int (atoms + 1, digits + 1), row 0 no atom, column 0 no digit's ink (the
    baseline's, a dash's)."""
    owners = digits + 1
    return np.bincount((line.atoms * owners + whole_numbers.to_line(line, owner)).ravel(),
                       minlength=(len(line.boxes) + 1) * owners).reshape(-1, owners)


def digit_held(by_atom: np.ndarray, candidate: whole_numbers.Candidate) -> tuple[int, float, float]:
    """The digit whose ink a candidate holds most of (``ink_by_digit``'s column less one), the
    share of that digit's ink it holds, and that ink's share of all digits' ink it holds: a
    digit where both reach WHOLE."""
    held = by_atom[candidate.first + 1:candidate.last + 2, 1:].sum(0)
    k = int(np.argmax(held))
    return k, held[k] / max(by_atom[1:, 1 + k].sum(), 1), held[k] / max(held.sum(), 1)


def _cut_row(job: tuple[np.ndarray, np.ndarray, tuple[int, ...]]) -> tuple[np.ndarray, np.ndarray]:
    """One row drawn and cut as the reader cuts it: its candidates and their labels."""
    digits, values, seed = job
    rng = np.random.default_rng(seed)
    image, owner = number_row(digits, rng, touching=rng.random() < 0.4, broken=rng.random() < 0.15,
                              baseline=rng.random() < 0.7, height=int(rng.integers(28, 73)))
    made, kinds = [], []
    line = whole_numbers.ink_line(image)
    if line is not None:
        by_atom = ink_by_digit(line, owner, len(digits))
        for candidate in whole_numbers.candidates(line):
            inside = by_atom[candidate.first + 1:candidate.last + 2].sum(0)
            if candidate.separator or inside[1:].sum() < 0.5 * inside.sum():
                continue  # a separator, or mostly the baseline's or a dash's ink
            k, of_digit, of_piece = digit_held(by_atom, candidate)
            if of_digit >= WHOLE and of_piece >= WHOLE:
                kinds.append(int(values[k]))
            elif of_digit >= NEARLY[0] and of_piece >= NEARLY[1]:
                continue
            else:
                kinds.append(NONE)
            made.append(candidate.digit)
    if not made:
        return np.zeros((0, 28, 28), np.uint8), np.zeros(0, np.int64)
    return np.stack(made), np.array(kinds, np.int64)
