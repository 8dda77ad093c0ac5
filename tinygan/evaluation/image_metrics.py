"""How good are generated images? Measures judged by a classifier and by nearest neighbours.

Every measure is also computed for held-out real images (never seen by the GAN nor by the
classifier), with the same number of samples: that is what a perfect generator would score.
All functions take host arrays of images as rows, (n, 64) for the digits, in data units.

* Classes: the classifier labels each sample. A class is *covered* if it holds at least 50% of
  its fair share; the *reverse KL* KL(p_gen || p_data) = sum_k p_gen(k) log(p_gen(k) / p_data(k))
  of the class histograms is 0 when the shares match (a lost class costs little in this
  direction; over-produced classes cost most).
* Frechet distance (the FID's formula, Heusel et al. 2017) between Gaussians fitted to the
  classifier's hidden features: |mu_1 - mu_2|^2 + Tr(S_1 + S_2 - 2 (S_1 S_2)^{1/2}). Its floor is
  held-out vs train: two real samples differ by that much already.
* Precision and recall (Kynkaanniemi et al. 2019): the real manifold is the union of balls around
  each training image with radius its distance to its k-th nearest training neighbour. Precision
  is the fraction of generated images inside it (are they realistic?); recall is the fraction of
  training images inside the manifold built the same way around the generated ones (is every kind
  of digit made?). Computed in pixel space with scikit-learn's NearestNeighbors.
* Memorisation: median distance from each generated image to its nearest training image, divided
  by the same median for held-out images. Near 1: as novel as new real digits; well below 1: G
  copies its training set.
* Conditional accuracy: the share of samples the classifier labels as the class asked for.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from .metrics import check_points

COVERAGE_SHARE = 0.5  # a class counts as covered with at least this fraction of its fair share
K_NEAREST = 3  # Kynkaanniemi et al.'s default


def class_histogram(predicted: np.ndarray, num_classes: int) -> np.ndarray:
    """Share of samples in each class, (num_classes,), summing to 1."""
    predicted = np.asarray(predicted)
    if predicted.ndim != 1 or len(predicted) == 0:
        raise ValueError(f"predicted must be a non-empty 1-D array of labels, got shape {predicted.shape}")
    return np.bincount(predicted, minlength=num_classes)[:num_classes] / len(predicted)


def classes_covered(histogram: np.ndarray, reference: np.ndarray) -> int:
    """Number of classes holding at least COVERAGE_SHARE of their reference share."""
    return int(np.sum(np.asarray(histogram) >= COVERAGE_SHARE * np.asarray(reference)))


def reverse_kl(histogram: np.ndarray, reference: np.ndarray) -> float:
    """KL(p || q) = sum_k p_k log(p_k / q_k), with 0 log 0 = 0; q must be positive where p is."""
    p, q = np.asarray(histogram, dtype=np.float64), np.asarray(reference, dtype=np.float64)
    if p.shape != q.shape:
        raise ValueError(f"histogram and reference must have the same shape, got {p.shape} and {q.shape}")
    if np.any((p > 0) & (q <= 0)):
        raise ValueError("reference must be positive wherever histogram is")
    used = p > 0
    return float(np.sum(p[used] * np.log(p[used] / q[used])))


def frechet_distance(features_a: np.ndarray, features_b: np.ndarray) -> float:
    """|mu_a - mu_b|^2 + Tr(S_a + S_b - 2 sqrtm(S_a S_b)) of Gaussians fitted to two feature sets (n, f)."""
    from scipy.linalg import LinAlgWarning, sqrtm

    a, b = check_points(features_a, "features_a"), check_points(features_b, "features_b")
    if a.shape[1] != b.shape[1] or len(a) < 2 or len(b) < 2:
        raise ValueError(f"need two sets of >= 2 feature rows of one width, got {a.shape} and {b.shape}")
    mu_a, mu_b = a.mean(0), b.mean(0)  # (f,)
    cov_a, cov_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)  # (f, f)
    # ReLU units that never fire make the covariances singular, where sqrtm is ill-conditioned:
    # like the reference FID code, add eps to both diagonals (it moves the distance by ~eps f).
    eps = 1e-6 * np.eye(len(cov_a))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", LinAlgWarning)
        root = sqrtm((cov_a + eps) @ (cov_b + eps))  # (f, f)
    root = np.real(root)  # round-off can leave a tiny imaginary part
    return float(np.sum((mu_a - mu_b) ** 2) + np.trace(cov_a) + np.trace(cov_b) - 2 * np.trace(root))


def manifold_radii(reference: np.ndarray, k: int = K_NEAREST) -> tuple[Any, np.ndarray]:
    """A NearestNeighbors index of the reference points and each one's k-th neighbour distance (n,)."""
    from sklearn.neighbors import NearestNeighbors

    reference = check_points(reference, "reference")
    if len(reference) <= k:
        raise ValueError(f"reference needs more than k={k} points, got {len(reference)}")
    index = NearestNeighbors(n_neighbors=k + 1).fit(reference)
    distances, _ = index.kneighbors(reference)  # (n, k+1); column 0 is the point itself
    return index, distances[:, k]


def inside_manifold(points: np.ndarray, reference: np.ndarray, k: int = K_NEAREST) -> np.ndarray:
    """For each point (m,): is it within some reference point's k-NN radius? (bool)"""
    index, radii = manifold_radii(reference, k)
    distances, neighbours = index.radius_neighbors(check_points(points), radius=float(radii.max()))
    return np.array([bool(np.any(d <= radii[j])) for d, j in zip(distances, neighbours)])


def precision_recall(real: np.ndarray, generated: np.ndarray, k: int = K_NEAREST) -> tuple[float, float]:
    """(precision, recall): generated inside the real manifold; real inside the generated one."""
    precision = float(inside_manifold(generated, real, k).mean())
    recall = float(inside_manifold(real, generated, k).mean())
    return precision, recall


def nearest_distance(points: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Each point's Euclidean distance to its nearest reference point, (m,)."""
    from sklearn.neighbors import NearestNeighbors

    index = NearestNeighbors(n_neighbors=1).fit(check_points(reference, "reference"))
    return index.kneighbors(check_points(points))[0][:, 0]


def image_scores(
    images: np.ndarray, classifier: Any, train_x: np.ndarray, train_features: np.ndarray, reference: np.ndarray
) -> dict[str, Any]:
    """The unlabelled measures for one set of images against the train split."""
    predicted = classifier.predict(images)
    histogram = class_histogram(predicted, len(reference))
    precision, recall = precision_recall(train_x, images)
    return {
        "class_histogram": histogram.tolist(),
        "classes_covered": classes_covered(histogram, reference),
        "reverse_kl": reverse_kl(histogram, reference),
        "frechet_distance": frechet_distance(classifier.features(images), train_features),
        "precision": precision,
        "recall": recall,
        "nearest_train_distance": float(np.median(nearest_distance(images, train_x))),
    }


def evaluate_images(
    generated: np.ndarray,
    classifier: Any,
    split: Any,
    *,
    requested: np.ndarray | None = None,
) -> dict[str, Any]:
    """Every measure for the generated images and for the held-out real ones (the baseline).

    ``generated`` should hold as many images as the held-out split (the measures depend on n);
    ``requested`` (n,) are the labels a conditional GAN was asked for.
    """
    generated = check_points(generated, "generated")
    held_out = check_points(split.held_out_x, "held_out_x")
    if generated.shape[1] != held_out.shape[1]:
        raise ValueError(f"generated images must have {held_out.shape[1]} pixels, got {generated.shape[1]}")
    if not np.all(np.isfinite(generated)):
        return {"n": len(generated), "finite": False}
    num_classes = int(split.train_y.max()) + 1
    reference = np.bincount(split.train_y, minlength=num_classes) / len(split.train_y)  # p_data(class)
    train_features = classifier.features(split.train_x)
    fake = image_scores(generated, classifier, split.train_x, train_features, reference)
    real = image_scores(held_out, classifier, split.train_x, train_features, reference)
    result: dict[str, Any] = {"n": len(generated), "finite": True, "generated": fake, "held_out": real}
    result["frechet_ratio"] = fake["frechet_distance"] / real["frechet_distance"]
    result["memorisation_ratio"] = fake["nearest_train_distance"] / real["nearest_train_distance"]
    result["held_out"]["accuracy"] = float(np.mean(classifier.predict(held_out) == split.held_out_y))
    if requested is not None:
        requested = np.asarray(requested)
        if requested.shape != (len(generated),):
            raise ValueError(f"requested must have shape ({len(generated)},), got {requested.shape}")
        result["generated"]["conditional_accuracy"] = float(np.mean(classifier.predict(generated) == requested))
    return result
