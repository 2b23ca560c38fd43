"""Hungarian clustering accuracy: permuted ids, exact partial values, one-to-one constraint, errors."""

import itertools

import numpy as np
import pytest
import torch

from gan_lightning.metrics.clustering import clustering_accuracy, confusion_matrix, hungarian_mapping, majority_mapping


def test_perfect_clustering_with_permuted_ids_scores_one():
    target = torch.tensor([0, 0, 1, 1, 2, 2, 3])
    pred = torch.tensor([2, 2, 0, 0, 3, 3, 1])  # cluster c means class perm[c]
    assert clustering_accuracy(pred, target, 4) == 1.0
    assert hungarian_mapping(pred, target, 4) == {2: 0, 0: 1, 3: 2, 1: 3}
    # Raw agreement would be 0: the ids are arbitrary.
    assert (pred == target).float().mean() == 0


def test_known_partial_case():
    # Cluster 1 holds two class-0 images; cluster 0 one class-0 and three class-1 images.
    target = [0, 0, 0, 1, 1, 1]
    pred = [1, 1, 0, 0, 0, 0]
    assert confusion_matrix(pred, target, 2).tolist() == [[1, 3], [2, 0]]
    assert clustering_accuracy(pred, target, 2) == pytest.approx(5 / 6)  # 1 -> 0, 0 -> 1


def test_mapping_is_one_to_one_not_majority_vote():
    # Both clusters are mostly class 0: majority vote would map both to 0 and score (3 + 2) / 8.
    target = np.array([0, 0, 0, 1, 1, 0, 0, 1])
    pred = np.array([0, 0, 0, 0, 0, 1, 1, 1])
    assert clustering_accuracy(pred, target, 2) == pytest.approx(4 / 8)


def test_majority_mapping_is_many_to_one():
    # The same case: by majority both clusters map to class 0, (3 + 2) / 8.
    target = np.array([0, 0, 0, 1, 1, 0, 0, 1])
    pred = np.array([0, 0, 0, 0, 0, 1, 1, 1])
    assert majority_mapping(pred, target, 2) == {0: 0, 1: 0}
    assert clustering_accuracy(pred, target, 2, mapping="majority") == pytest.approx(5 / 8)


def test_majority_scores_more_clusters_than_classes():
    # K = 20 clusters, 2 per class (CatGAN's unsupervised MNIST setting): perfect under majority, half the
    # images are in unmatched clusters under Hungarian.
    target = np.repeat(np.arange(10), 4)
    pred = 2 * target + np.tile([0, 0, 1, 1], 10)
    assert clustering_accuracy(pred, target, 20, mapping="majority") == 1.0
    assert clustering_accuracy(pred, target, 20) == pytest.approx(0.5)
    assert set(majority_mapping(pred, target, 20)) == set(range(20))


def test_majority_matches_brute_force_per_cluster():
    rng = np.random.default_rng(1)
    for _ in range(20):
        target, pred = rng.integers(0, 3, 60), rng.integers(0, 6, 60)
        best = sum(max((target[pred == c] == y).sum() for y in range(3)) for c in range(6))
        assert clustering_accuracy(pred, target, 6, mapping="majority") == pytest.approx(best / 60)


def test_unused_clusters_count_as_errors():
    # 3 clusters for 2 classes: cluster 2 is left unmatched.
    assert clustering_accuracy([0, 0, 1, 1, 2, 2], [0, 0, 1, 1, 1, 1], 3) == pytest.approx(4 / 6)


def test_matches_brute_force_over_all_permutations():
    rng = np.random.default_rng(0)
    for _ in range(20):
        target = rng.integers(0, 4, 50)
        pred = rng.integers(0, 4, 50)
        best = max((np.array(perm)[pred] == target).mean() for perm in itertools.permutations(range(4)))
        assert clustering_accuracy(pred, target, 4) == pytest.approx(best)


def test_chance_level_of_a_constant_prediction():
    target = torch.arange(10).repeat(30)  # balanced, 10 classes
    assert clustering_accuracy(torch.zeros(300, dtype=torch.long), target, 10) == pytest.approx(0.1)


@pytest.mark.parametrize(
    ("pred", "target", "match"),
    [
        ([0, 1], [0], "same length"),
        ([0, 5], [0, 1], r"pred ids must be in \[0, 3\)"),
        ([0, 1], [-1, 1], r"target ids must be in \[0, 3\)"),
        ([0.5, 1.0], [0, 1], "integer"),
        ([], [], "at least one sample"),
    ],
)
def test_invalid_inputs(pred, target, match):
    with pytest.raises(ValueError, match=match):
        clustering_accuracy(pred, target, 3)


def test_unknown_mapping():
    with pytest.raises(ValueError, match="mapping must be one of"):
        clustering_accuracy([0, 1], [0, 1], 2, mapping="vote")
