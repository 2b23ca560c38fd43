"""ResumableRandomSampler and the datamodule's checkpoint state (bit-exact mid-epoch resume)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import pytorch_lightning as pl
import torch
from pytorch_lightning.callbacks import ModelCheckpoint
from torch.utils.data import TensorDataset

from gan_lightning.data import GANDataModule, ResumableRandomSampler
from tests.data.fakes import fake_trainer


def test_same_seed_and_epoch_same_order_and_epochs_differ():
    a, b = ResumableRandomSampler(50, seed=3), ResumableRandomSampler(50, seed=3)
    assert list(a) == list(b)
    assert sorted(a) == list(range(50))
    a.set_epoch(1)
    assert list(a) != list(b)
    assert list(a) == torch.randperm(50, generator=torch.Generator().manual_seed(4)).tolist()
    assert list(ResumableRandomSampler(50, seed=4)) != list(b)  # seed matters too


def test_no_shuffle_is_arange():
    s = ResumableRandomSampler(7, shuffle=False)
    s.set_epoch(5)
    assert list(s) == list(range(7))


def test_resume_from_yields_tail_once_and_only_for_its_epoch():
    s = ResumableRandomSampler(40, seed=1)
    s.set_epoch(2)
    full = list(s)
    s.resume_from(2, 13)
    assert list(s) == full[13:]
    assert len(s) == 40  # Lightning counts batch_idx from the restored value
    assert list(s) == full  # one-shot
    s.resume_from(1, 13)  # another epoch: ignored (and cleared)
    assert list(s) == full
    assert list(s) == full


def test_global_rng_untouched():
    before = torch.get_rng_state()
    s = ResumableRandomSampler(1000, seed=0)
    for e in range(3):
        s.set_epoch(e)
        list(s)
    assert torch.equal(before, torch.get_rng_state())


class TinyDataModule(GANDataModule):
    """Labels are the sample indices, so batches show the order."""

    name, channels, num_classes = "tiny", 1, None

    def __init__(self, n: int = 40, **kw):
        super().__init__(data_dir="unused", image_size=2, **kw)
        self.n = n

    def build_datasets(self):
        ds = TensorDataset(torch.full((self.n, 1, 2, 2), -1.0), torch.arange(self.n))  # uint8 0: on_device works
        return ds, ds



def test_state_dict_round_trip_skips_consumed_samples():
    dm = TinyDataModule(batch_size=2, batches_per_step=3, seed=5)
    assert dm.state_dict() == {}  # no trainer
    dm.trainer = fake_trainer(epoch=2, processed=3)
    state = dm.state_dict()
    assert state == {"epoch": 2, "samples_done": 3 * 6}

    fresh = TinyDataModule(batch_size=2, batches_per_step=3, seed=5)
    fresh.trainer = SimpleNamespace(current_epoch=2)
    fresh.load_state_dict(state)
    loader = fresh.train_dataloader()
    assert loader.batch_size == 6 and len(loader) == 40 // 6
    seen = torch.cat([y for _, y in loader]).tolist()
    order = ResumableRandomSampler(40, seed=5).order(2).tolist()
    assert seen == order[18:36]  # the tail, minus the partial batch dropped by drop_last
    assert torch.cat([y for _, y in loader]).tolist() == order[:36]  # the skip was one-shot


def test_train_loader_leaves_global_rng_alone():
    dm = TinyDataModule(batch_size=4)
    before = torch.get_rng_state()
    for _ in dm.train_dataloader():
        pass
    assert torch.equal(before, torch.get_rng_state())


class BatchRecorder(pl.LightningModule):
    """Records what each training batch holds (``record``: here the labels) to compare the order of two runs."""

    def __init__(self):
        super().__init__()
        self.w = torch.nn.Parameter(torch.zeros(1))
        self.seen: list[list[int]] = []

    def record(self, batch) -> list[int]:
        return batch[1].tolist()

    def training_step(self, batch, batch_idx):
        self.seen.append(self.record(batch))
        return (self.w - 1).pow(2).sum()

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)


def fit_recording(tmp_path, dm, ckpt_path=None, callbacks=(), recorder=BatchRecorder) -> list[list[int]]:
    """Two epochs of ``recorder`` on ``dm`` (resumed from ``ckpt_path`` if given); the batches it saw."""
    model = recorder()
    trainer = pl.Trainer(
        max_epochs=2, accelerator="cpu", logger=False, enable_progress_bar=False, enable_model_summary=False,
        default_root_dir=tmp_path, callbacks=list(callbacks), enable_checkpointing=bool(callbacks),
    )
    trainer.fit(model, datamodule=dm, ckpt_path=ckpt_path)
    return model.seen


@pytest.mark.filterwarnings("ignore:.*resuming from a checkpoint that ended before the epoch ended")
@pytest.mark.parametrize(("num_workers", "on_device"), [(0, False), (1, False), (0, True)])
def test_lightning_resume_mid_epoch_and_epoch_end_is_bit_exact(tmp_path, num_workers, on_device):
    kw = dict(n=40, batch_size=2, batches_per_step=2, seed=7, num_workers=num_workers,
              on_device=on_device)  # 10 batches per epoch
    ckpt = ModelCheckpoint(dirpath=tmp_path / "ckpt", every_n_train_steps=1, save_top_k=-1, filename="{step}")
    straight = fit_recording(tmp_path, TinyDataModule(**kw), callbacks=[ckpt])
    assert len(straight) == 20 and straight[0] != straight[10]
    for step in (3, 10, 13, 0):  # mid-epoch 0, last batch of epoch 0, mid-epoch 1, end of epoch 0
        path = tmp_path / "ckpt" / f"step={step}.ckpt"
        if step == 0:  # epoch-end checkpoint (saved in on_train_epoch_end)
            path, step = tmp_path / "end.ckpt", 10
            _save_epoch_end(tmp_path, kw, path)
        resumed = fit_recording(tmp_path, TinyDataModule(**kw), ckpt_path=path)
        assert resumed == straight[step:], f"resume from step {step}"


def _save_epoch_end(tmp_path, kw, path):
    model = BatchRecorder()
    trainer = pl.Trainer(max_epochs=1, accelerator="cpu", logger=False, enable_progress_bar=False,
                         enable_model_summary=False, default_root_dir=tmp_path,
                         callbacks=[ModelCheckpoint(dirpath=tmp_path / "end", save_top_k=-1, filename="end")])
    trainer.fit(model, datamodule=TinyDataModule(**kw))
    (tmp_path / "end" / "end.ckpt").rename(path)


def test_ddp_shards_are_disjoint_equal_and_cover_the_permutation():
    n, world = 103, 2
    shards = [ResumableRandomSampler(n, seed=3, num_replicas=world, rank=r) for r in range(world)]
    for s in shards:
        s.set_epoch(4)
    orders = [list(s) for s in shards]
    assert [len(o) for o in orders] == [len(s) for s in shards] == [51, 51]  # the odd tail is dropped
    assert not set(orders[0]) & set(orders[1])
    full = ResumableRandomSampler(n, seed=3)
    full.set_epoch(4)
    assert sorted(orders[0] + orders[1]) == sorted(list(full)[:102])


def test_ddp_shard_resumes_within_its_own_share():
    s = ResumableRandomSampler(40, seed=1, num_replicas=2, rank=1)
    whole = list(s)
    s.resume_from(0, 6)
    assert list(s) == whole[6:]


def test_rank_outside_world_is_refused():
    with pytest.raises(ValueError, match="rank must be in"):
        ResumableRandomSampler(10, num_replicas=2, rank=2)
