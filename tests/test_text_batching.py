"""Bucketed batches: every example once per epoch, less padding than random, deterministic."""

import torch

from rnnkit.data.batching import BucketedBatches, batch_indices, padding_fraction


def make(n=500, seed=0):
    g = torch.Generator().manual_seed(seed)
    lengths = torch.randint(1, 80, (n,), generator=g)
    seqs = [[i % 97 + 2] * int(length) for i, length in enumerate(lengths)]
    return seqs, torch.arange(n)


def test_every_example_once_per_epoch_with_padding_and_lengths():
    seqs, targets = make()
    batches = BucketedBatches(
        seqs, targets, batch_size=32, shuffle=True, generator=torch.Generator().manual_seed(1)
    )
    for _ in range(2):  # re-iterable
        seen = []
        for b in batches:
            assert b.inputs.dtype == torch.int64 and b.lengths.dtype == torch.int64
            assert b.inputs.shape[1] == int(b.lengths.max())
            assert torch.equal(b.targets, b.extras["index"])
            for row, length, i in zip(b.inputs, b.lengths, b.extras["index"]):
                assert row[:length].tolist() == seqs[i]
                assert (row[length:] == 0).all()
            seen.extend(b.extras["index"].tolist())
        assert sorted(seen) == list(range(len(seqs)))
    assert len(batches) == 16


def test_bucketing_pads_far_less_than_random_batching():
    seqs, targets = make()
    gen = torch.Generator().manual_seed(2)
    bucketed = BucketedBatches(seqs, targets, batch_size=32, shuffle=True, generator=gen)
    plain = BucketedBatches(
        seqs, targets, batch_size=32, shuffle=True, generator=gen, bucket_batches=1
    )
    assert padding_fraction(bucketed) < 0.1 < 0.3 < padding_fraction(plain)


def test_same_generator_seed_gives_the_same_batches_and_epochs_differ():
    seqs, targets = make()

    def orders(seed):
        b = BucketedBatches(
            seqs,
            targets,
            batch_size=16,
            shuffle=True,
            generator=torch.Generator().manual_seed(seed),
        )
        return [[x.tolist() for x in b.order()] for _ in range(2)]

    first, again = orders(5), orders(5)
    assert first == again
    assert first[0] != first[1]  # a new order each epoch


def test_unshuffled_batches_are_sorted_by_length():
    seqs, targets = make(100)
    lengths = [int(b.lengths.max()) for b in BucketedBatches(seqs, targets, batch_size=10)]
    assert lengths == sorted(lengths)


def test_batch_indices_is_one_seeded_permutation_cut_in_batches():
    parts = list(batch_indices(7, 3, shuffle=True, generator=torch.Generator().manual_seed(5)))
    assert [len(p) for p in parts] == [3, 3, 1]
    # the order of the tasks' batches before the helper: one randperm(n) of the generator
    expected = torch.randperm(7, generator=torch.Generator().manual_seed(5))
    assert torch.equal(torch.cat(parts), expected)
    assert [p.tolist() for p in batch_indices(5, 2)] == [[0, 1], [2, 3], [4]]
    assert list(batch_indices(0, 4)) == []
