"""Training: loss goes down, only LoRA moves, save/load/checkpoints, resume, config errors,
distillation, torchrun data parallel, and the paper-scale configs built on tiny stand-ins.

Every run uses the tiny local model (a random 4-layer Gemma 3 + a tiny TopK SAE) and the
MS MARCO toy triples, with small batches and ``doc_max_length`` 64, so a step is ~1 s on CPU.
"""
import json
import math
import os
import pathlib
import re
import shutil
import socket
import subprocess
import sys

import pytest
import torch
import yaml
from safetensors.torch import load_file

from splare_pyserini.training import trainer as train_mod
from splare_pyserini.modeling.model import SplareModel
from splare_pyserini.training.data import build_examples, read_examples, to_dataset
from splare_pyserini.training.trainer import TrainConfig, build_loss, build_model, main, train
from splare_pyserini.training.callbacks import KeepLightCheckpoint, SplareConfigOnSave

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TEXTS = ["what is the capital of france", "caffeine during pregnancy is best limited to 200 mg a day",
         "Sparse autoencoders find interpretable features.", "BM25 is a strong lexical baseline."]
ADAPTER = os.path.join("0_CausalLMBackbone", "adapter_model.safetensors")


# -- helpers -------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def toy_triples(shared_data):
    path = shared_data / "msmarco-toy" / "original" / "triplets" / "raw.tsv"
    if not path.exists():
        pytest.skip(f"{path} missing")
    return path


def merge(base: dict, extra: dict) -> dict:
    out = dict(base)
    for key, value in extra.items():
        out[key] = merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def write_config(path, model_dir, source, output_dir, **sections) -> str:
    """A small, fast training config (float32, LoRA r=4 without dropout, batch 4, 64 tokens)."""
    values = {
        "model": {"base": str(model_dir), "torch_dtype": "float32", "query_top_k": 8, "doc_top_k": 40},
        "lora": {"r": 4, "alpha": 8, "dropout": 0.0},
        "data": {"sources": [{"kind": "triples", "path": str(source), "name": "toy"}], "hard_negatives": 1,
                 "doc_max_length": 64},
        "loss": {"kind": "infonce"},
        "train": {"output_dir": str(output_dir), "batch_size": 4, "learning_rate": 1.0e-3, "max_steps": 4,
                  "save_steps": 2, "logging_steps": 1, "seed": 0},
    }
    path.write_text(yaml.safe_dump(merge(values, sections), sort_keys=False), encoding="utf-8")
    return str(path)


def logged_steps(output_dir) -> list[int]:
    """Steps of the training-loss lines of ``train_log.jsonl`` (not the end-of-run summaries)."""
    lines = (output_dir / "train_log.jsonl").read_text(encoding="utf-8").splitlines()
    return [entry["step"] for entry in map(json.loads, lines) if "loss" in entry]


def fixed_batch_loss(model, config, rows) -> dict[str, float]:
    """The SplareLoss (full FLOPS weights, Top-K as configured) of a fixed batch, eval mode, no grad."""
    loss = build_loss(model, config)
    columns = [list(column) for column in zip(*rows)]
    features = [model.backbone.preprocess(column, max_length=config.data.doc_max_length) for column in columns]
    was_training = model.encoder.training
    model.encoder.eval()
    with torch.no_grad():
        out = {name: float(value) for name, value in loss(features, None).items()}
    model.encoder.train(was_training)
    out["total"] = sum(out.values())
    return out


def capture_build_model(monkeypatch, on_build=None) -> dict:
    """Record the model train() builds (and a copy of its state before any step)."""
    box: dict = {}
    original = train_mod.build_model

    def wrapped(config):
        model = original(config)
        box["model"] = model
        box["before"] = {k: v.detach().clone() for k, v in model.encoder.state_dict().items()}
        if on_build:
            on_build(model, config, box)
        return model

    monkeypatch.setattr(train_mod, "build_model", wrapped)
    return box


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# -- one 15-step run shared by the loss / LoRA-only / save-load tests -----------------------
@pytest.fixture(scope="module")
def trained(tmp_path_factory, tiny_model_dir, toy_triples):
    """15 seeded steps at a high learning rate (1e-2), checkpoints every 5 (the last 2 kept)."""
    mp = pytest.MonkeyPatch()
    root = tmp_path_factory.mktemp("trained")
    rows = [line.split("\t") for line in toy_triples.read_text(encoding="utf-8").splitlines()[:8]]
    config = TrainConfig.from_yaml(write_config(
        root / "config.yaml", tiny_model_dir, toy_triples, root / "run",
        train={"learning_rate": 1.0e-2, "max_steps": 15, "save_steps": 5, "logging_steps": 5}))

    def before(model, config, box):
        box["loss_before"] = fixed_batch_loss(model, config, rows)

    box = capture_build_model(mp, before)
    try:
        final = train(config)
    finally:
        mp.undo()
    box.update(final=final, out=root / "run", config=config, rows=rows)
    return box


def test_a_few_steps_decrease_the_loss_on_a_fixed_batch(trained):
    before = trained["loss_before"]
    after = fixed_batch_loss(trained["model"], trained["config"], trained["rows"])
    assert all(math.isfinite(v) for v in after.values())
    assert after["total"] < 0.9 * before["total"], (before, after)
    assert after["base_loss"] < before["base_loss"]
    assert logged_steps(trained["out"]) == [5, 10, 15]


def test_only_lora_parameters_change_and_the_sae_stays_frozen(trained, tiny_model_dir):
    model, before = trained["model"], trained["before"]
    after = model.encoder.state_dict()
    assert after.keys() == before.keys()
    changed = [name for name in before if not torch.equal(before[name], after[name])]
    assert changed, "training changed nothing"
    assert all("lora_" in name for name in changed), [n for n in changed if "lora_" not in n]
    assert any("lora_B" in name for name in changed)
    sae_params = dict(model.sae.sae.named_parameters())
    assert sae_params and all(not p.requires_grad for p in sae_params.values())
    for name, param in sae_params.items():
        assert torch.equal(param, before[f"1.sae.{name}"]), name
    trainable = [n for n, p in model.encoder.named_parameters() if p.requires_grad]
    assert trainable and all("lora_" in n for n in trainable)
    # the SAE written with the trained model is the original one, bit for bit
    saved = load_file(trained["final"] / "1_SAELatents" / "sae_weights.safetensors")
    original = load_file(tiny_model_dir / "1_SAELatents" / "sae_weights.safetensors")
    assert saved.keys() == original.keys() and all(torch.equal(saved[k], original[k]) for k in saved)


def test_saved_model_and_checkpoints_encode_like_the_trained_model(trained):
    model, out = trained["model"], trained["out"]
    assert trained["final"] == out / "model"
    loaded = SplareModel.from_pretrained(out / "model")
    assert loaded.backbone.has_adapter()
    assert loaded.config == model.config
    for kind in ("query", "document"):
        assert loaded.encode(TEXTS, kind) == model.encode(TEXTS, kind)
    checkpoints = sorted(p.name for p in out.glob("checkpoint-*"))
    assert checkpoints == ["checkpoint-10", "checkpoint-15"]  # save_total_limit: 2
    assert json.loads((out / "checkpoint-10" / "splare_config.json").read_text()) == model.config.to_dict()
    checkpoint = SplareModel.from_pretrained(out / "checkpoint-15")  # a checkpoint is a full model directory
    assert checkpoint.encode(TEXTS, "document") == loaded.encode(TEXTS, "document")
    summary = json.loads((out / "train_summary.json").read_text())
    assert summary["global_step"] == 15 and summary["examples"] == 100
    assert TrainConfig.from_yaml(out / "train_config.yaml").to_dict() == trained["config"].to_dict()


# -- resume --------------------------------------------------------------------------------
class Stop(Exception):
    """Stands for a kill right after a checkpoint was written."""


def train_until_killed(monkeypatch, callback, config: str, step: int) -> None:
    """Run the training CLI and stop it (as a kill would) right after ``callback``'s save at ``step``."""
    original_on_save = callback.on_save

    def on_save(self, args, state, control, **kwargs):
        original_on_save(self, args, state, control, **kwargs)
        if state.global_step == step:
            raise Stop

    monkeypatch.setattr(callback, "on_save", on_save)
    with pytest.raises(Stop):
        main(["--config", config])
    monkeypatch.undo()


def test_resume_continues_an_interrupted_run_like_an_uninterrupted_one(tmp_path, monkeypatch, capsys, tiny_model_dir,
                                                                       toy_triples):
    source = tmp_path / "triples.tsv"
    shutil.copy(toy_triples, source)
    reference = tmp_path / "reference"
    train(TrainConfig.from_yaml(write_config(tmp_path / "ref.yaml", tiny_model_dir, source, reference)))

    out = tmp_path / "run"
    config = write_config(tmp_path / "config.yaml", tiny_model_dir, source, out)  # max_steps 4, save_steps 2
    train_until_killed(monkeypatch, SplareConfigOnSave, config, step=2)
    assert sorted(p.name for p in out.glob("checkpoint-*")) == ["checkpoint-2"] and not (out / "model").exists()
    assert logged_steps(out) == [1, 2]
    data = (out / "train_data.jsonl").read_bytes()
    stamp = (out / "train_data.jsonl").stat().st_mtime_ns

    with pytest.raises(SystemExit) as stop:
        main(["--config", config])  # never silently restarts over a run's checkpoints: exit 2 with the reason
    assert stop.value.code == 2
    assert "already holds checkpoints; pass --resume" in capsys.readouterr().err
    assert not (out / "model").exists() and (out / "train_data.jsonl").stat().st_mtime_ns == stamp

    source.write_text("", encoding="utf-8")  # rebuilding the examples now would fail: they must be reused
    proc = subprocess.run([sys.executable, "-m", "splare_pyserini.train", "--config", config, "--resume"],
                          capture_output=True, text=True, cwd=REPO)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "resume: 100 examples" in proc.stderr
    assert (out / "train_data.jsonl").read_bytes() == data and (out / "train_data.jsonl").stat().st_mtime_ns == stamp
    assert json.loads((out / "checkpoint-4" / "trainer_state.json").read_text())["global_step"] == 4
    assert logged_steps(out) == [1, 2, 3, 4]  # continues, no restart at 1
    summary = json.loads((out / "train_summary.json").read_text())
    assert summary["global_step"] == 4 and summary["steps_this_run"] == 2

    resumed, uninterrupted = load_file(out / "model" / ADAPTER), load_file(reference / "model" / ADAPTER)
    assert resumed.keys() == uninterrupted.keys()
    moved = max((uninterrupted[k] - load_file(out / "checkpoint-2" / ADAPTER)[k]).abs().max() for k in resumed)
    assert moved > 1e-4  # steps 3-4 did move the adapter, so the comparison below means something
    # identical batches, RNG, optimizer and LR state: observed bit-identical (max diff 0.0); 1e-6 leaves room
    # for other CPUs/BLAS builds. (Extending a finished max_steps=2 run to 4 is NOT comparable: its optimizer
    # resumes at the 2-step schedule's final LR of 0, so step 3 is lost; the adapters then differ by ~8e-4.)
    for name in resumed:
        torch.testing.assert_close(resumed[name], uninterrupted[name], rtol=0, atol=1e-6, msg=name)


def test_a_lost_output_dir_resumes_from_the_kept_light_checkpoint(tmp_path, monkeypatch, tiny_model_dir, toy_triples):
    """train.keep_checkpoint: every save leaves a committable copy (no optimizer state, no SAE, adapter
    in float16); on a machine without output_dir, --resume goes on from it at its step and LR."""
    reference = tmp_path / "reference"
    train(TrainConfig.from_yaml(write_config(tmp_path / "ref.yaml", tiny_model_dir, toy_triples, reference)))
    out, kept = tmp_path / "run", tmp_path / "kept"
    config = write_config(tmp_path / "config.yaml", tiny_model_dir, toy_triples, out,
                          train={"keep_checkpoint": str(kept)})
    train_until_killed(monkeypatch, KeepLightCheckpoint, config, step=2)
    names = {p.relative_to(kept).as_posix() for p in kept.rglob("*")}
    assert "trainer_state.json" in names and "scheduler.pt" in names and "splare_config.json" in names
    assert not {"optimizer.pt", "1_SAELatents"} & names
    adapter = load_file(kept / ADAPTER)
    assert {t.dtype for t in adapter.values()} == {torch.float16}
    at_two = load_file(out / "checkpoint-2" / ADAPTER)
    for name, value in adapter.items():
        torch.testing.assert_close(value.float(), at_two[name].float(), rtol=1e-3, atol=1e-4, msg=name)

    shutil.rmtree(out)  # the machine is lost: only the kept copy remains
    assert main(["--config", config, "--resume"]) == 0
    assert (out / "checkpoint-2" / "1_SAELatents").is_dir()  # restored, SAE from the base model
    assert logged_steps(out) == [3, 4]
    lr = {e["step"]: e["learning_rate"] for e in map(json.loads, (out / "train_log.jsonl").open()) if "loss" in e}
    ref_lr = {e["step"]: e["learning_rate"] for e in map(json.loads, (reference / "train_log.jsonl").open()) if "loss" in e}
    assert lr == {3: ref_lr[3], 4: ref_lr[4]} and ref_lr[3] != ref_lr[1]  # the schedule went on, not restarted
    final = load_file(out / "model" / ADAPTER)
    assert max((final[k].float() - at_two[k].float()).abs().max() for k in final) > 1e-4  # steps 3-4 trained


# -- config errors, before any training ----------------------------------------------------
def test_config_errors_name_the_file_and_field(tmp_path, tiny_model_dir, toy_triples, capsys):
    path = tmp_path / "bad.yaml"
    write_config(path, tiny_model_dir, toy_triples, tmp_path / "out", train={"learning_rat": 0.1})
    with pytest.raises(ValueError, match=r"bad\.yaml: unknown field\(s\) \['learning_rat'\] in section 'train'"):
        TrainConfig.from_yaml(path)
    with pytest.raises(SystemExit) as exc:
        main(["--config", str(path)])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert str(path) in err and "learning_rat" in err

    good = write_config(tmp_path / "good.yaml", tiny_model_dir, toy_triples, tmp_path / "out")
    with pytest.raises(ValueError, match=r"good\.yaml: unknown field\(s\) \['bogus'\] in section 'model'"):
        TrainConfig.from_yaml(good, ["model.bogus=1"])
    with pytest.raises(ValueError, match=r"good\.yaml: unknown section\(s\) \['trian'\]"):
        TrainConfig.from_yaml(good, ["trian.max_steps=1"])
    with pytest.raises(ValueError, match=r"--set 'train': expected section.key=value"):
        TrainConfig.from_yaml(good, ["train"])
    with pytest.raises(ValueError, match=r"good\.yaml.*data\.teacher_scale=0 must be positive"):
        TrainConfig.from_yaml(good, ["data.teacher_scale=0"])

    values = yaml.safe_load(path.read_text())
    del values["data"]
    path.write_text(yaml.safe_dump(values))
    with pytest.raises(ValueError, match=r"bad\.yaml: missing section 'data'"):
        TrainConfig.from_yaml(path)
    assert not (tmp_path / "out").exists()


def test_numbers_in_exponent_form_are_floats(tmp_path, tiny_model_dir, toy_triples):
    """YAML 1.1 reads ``3e-3`` (no dot) as a string; it used to reach AdamW and fail after the model loaded."""
    path = write_config(tmp_path / "c.yaml", tiny_model_dir, toy_triples, tmp_path / "out",
                        loss={"flops_doc": "5e-5"})
    config = TrainConfig.from_yaml(path, ["train.learning_rate=3e-3", "loss.temperature=5e-2"])
    assert config.train.learning_rate == 0.003 and config.loss.flops_doc == 5e-5 and config.loss.temperature == 0.05
    with pytest.raises(ValueError, match=r"c\.yaml: train\.learning_rate='fast' is not a number"):
        TrainConfig.from_yaml(path, ["train.learning_rate=fast"])


def test_data_errors_stop_before_the_model_is_built(tmp_path, monkeypatch, tiny_model_dir, toy_triples):
    def no_model(config):
        raise AssertionError("the model was built before the data error was found")

    monkeypatch.setattr(train_mod, "build_model", no_model)
    empty = tmp_path / "empty.tsv"
    empty.write_text("", encoding="utf-8")
    config = TrainConfig.from_yaml(write_config(tmp_path / "c.yaml", tiny_model_dir, empty, tmp_path / "a"))
    with pytest.raises(ValueError, match="the training set is empty"):
        train(config)

    bad = tmp_path / "bad.tsv"
    lines = toy_triples.read_text(encoding="utf-8").splitlines()[:3]
    bad.write_text(f"{lines[0]}\n{lines[1]}\nonly a query\tand a positive\n{lines[2]}\n", encoding="utf-8")
    config = TrainConfig.from_yaml(write_config(tmp_path / "c.yaml", tiny_model_dir, bad, tmp_path / "b"))
    with pytest.raises(ValueError, match=rf"{re.escape(str(bad))}:3: .*got 2 field"):
        train(config)

    # caught when the config is read, before any data is touched
    with pytest.raises(ValueError, match=r"c.yaml: loss.kind=margin_mse needs data.teacher_scores"):
        TrainConfig.from_yaml(write_config(tmp_path / "c.yaml", tiny_model_dir, toy_triples, tmp_path / "c",
                                           loss={"kind": "margin_mse"}))
    with pytest.raises(ValueError, match=r"section 'loss'.*loss.kind='hinge'"):
        TrainConfig.from_yaml(tmp_path / "c.yaml", ["loss.kind=hinge"])
    for out in ("a", "b", "c"):
        assert not list((tmp_path / out).glob("checkpoint-*")) and not (tmp_path / out / "model").exists()


# -- distillation --------------------------------------------------------------------------
@pytest.fixture
def id_triples(tmp_path, toy_triples):
    """8 id-based triples with their collection, queries and a 'qid docid score' teacher file."""
    rows = [line.split("\t") for line in toy_triples.read_text(encoding="utf-8").splitlines()[:8]]
    folder = tmp_path / "ids"
    folder.mkdir()
    with open(folder / "queries.tsv", "w", encoding="utf-8") as queries, \
            open(folder / "collection.tsv", "w", encoding="utf-8") as collection, \
            open(folder / "triples.tsv", "w", encoding="utf-8") as triples, \
            open(folder / "teacher.txt", "w", encoding="utf-8") as teacher:
        for i, (query, positive, negative) in enumerate(rows):
            queries.write(f"q{i}\t{query}\n")
            collection.write(f"p{i}\t{positive}\nn{i}\t{negative}\n")
            triples.write(f"q{i}\tp{i}\tn{i}\n")
            teacher.write(f"q{i} p{i} {12 + i / 4}\nq{i} n{i} {4 - i / 8}\n")
    return folder


@pytest.mark.parametrize("kind, loss_class", [("margin_mse", "SparseMarginMSELoss"),
                                               ("kl", "SparseDistillKLDivLoss")])
def test_distillation_from_teacher_scores_trains(tmp_path, monkeypatch, tiny_model_dir, id_triples, kind, loss_class):
    source = {"kind": "triples", "path": str(id_triples / "triples.tsv"),
              "collection": str(id_triples / "collection.tsv"), "queries": str(id_triples / "queries.tsv")}
    out = tmp_path / "run"
    config = TrainConfig.from_yaml(write_config(
        tmp_path / "c.yaml", tiny_model_dir, id_triples / "triples.tsv", out,
        data={"sources": [source], "teacher_scores": str(id_triples / "teacher.txt")},
        loss={"kind": kind}, train={"max_steps": 2}))
    losses = []
    original = train_mod.build_loss
    monkeypatch.setattr(train_mod, "build_loss", lambda model, cfg: losses.append(original(model, cfg)) or losses[-1])
    final = train(config)
    assert type(losses[0].loss).__name__ == loss_class
    if kind == "kl":  # the student's scores over tau, the teacher's over its own temperature (1: as in the paper)
        assert (losses[0].loss.student_temperature, losses[0].loss.teacher_temperature) == (1.0, 1.0)
        config.loss.temperature, config.loss.teacher_temperature = 10.0, 2.0
        rebuilt = train_mod.build_loss(SplareModel.from_pretrained(final), config).loss
        assert (rebuilt.student_temperature, rebuilt.teacher_temperature) == (10.0, 2.0)
        config.loss.temperature, config.loss.teacher_temperature = 1.0, 1.0
    assert SplareModel.from_pretrained(final).backbone.has_adapter()
    entries = [json.loads(line) for line in (out / "train_log.jsonl").read_text().splitlines()]
    assert [e["step"] for e in entries if "loss" in e] == [1, 2]
    assert all(math.isfinite(e["loss"]) for e in entries if "loss" in e)
    examples = read_examples(out / "train_data.jsonl")
    assert [(e.qid, e.pos_id, e.neg_ids) for e in examples] == [(f"q{i}", f"p{i}", [f"n{i}"]) for i in range(8)]
    labels = to_dataset(examples, config)["label"]
    expected = [[12 + i / 4 - (4 - i / 8)] if kind == "margin_mse" else [12 + i / 4, 4 - i / 8] for i in range(8)]
    assert [len(row) for row in labels] == [len(row) for row in expected]
    assert sum(labels, []) == pytest.approx(sum(expected, []))
    config.data.teacher_scale = 2.5  # teacher scores rescaled to the student's score scale
    assert sum(to_dataset(examples, config)["label"], []) == pytest.approx([2.5 * v for v in sum(expected, [])])
    config.data.teacher_scale = 1.0
    # a pair the teacher did not score is an error naming the file, the query and the document
    scores = id_triples / "teacher.txt"
    scores.write_text("".join(scores.read_text().splitlines(keepends=True)[:-1]))
    with pytest.raises(ValueError, match=r"teacher\.txt: no teacher score for query 'q7', document 'n7'"):
        to_dataset(examples, config)


def test_examples_source_reuses_a_runs_examples(tmp_path, tiny_model_dir):
    """kind: examples re-reads a train_data.jsonl[.gz] as written (texts, ids, mined negatives, sources)."""
    shipped = pathlib.Path(REPO) / "encode_scripts/train_configs/default_v1_train_data.jsonl.gz"
    path = write_config(tmp_path / "c.yaml", tiny_model_dir, shipped, tmp_path / "out",
                        data={"sources": [{"kind": "examples", "path": str(shipped), "max_examples": 50}]})
    config = TrainConfig.from_yaml(path)
    examples = build_examples(config, tmp_path / "work")
    everything = {(ex.source, ex.qid, ex.pos_id): ex for ex in read_examples(shipped)}
    assert len(examples) == 50 and not (tmp_path / "work").exists()  # nothing mined
    assert all(everything[(ex.source, ex.qid, ex.pos_id)] == ex for ex in examples)
    assert examples == build_examples(config, tmp_path / "work")  # same seed, same sample


def test_bidirectional_setting_reaches_the_saved_model(tmp_path, tiny_model_dir, toy_triples):
    config = TrainConfig.from_yaml(write_config(tmp_path / "c.yaml", tiny_model_dir, toy_triples, tmp_path / "out",
                                                model={"bidirectional": True}))
    model = build_model(config)
    assert model.backbone.bidirectional and model.backbone.has_adapter()
    model.save_pretrained(tmp_path / "saved")
    assert SplareModel.from_pretrained(tmp_path / "saved").backbone.bidirectional


def test_training_computes_the_sae_in_float32_whatever_the_base_uses_at_inference(tmp_path, tiny_model_dir, toy_triples):
    base = SplareModel.from_pretrained(tiny_model_dir)
    base.sae.set_compute_dtype("bfloat16")
    base.save_pretrained(tmp_path / "base-bf16")
    assert SplareModel.from_pretrained(tmp_path / "base-bf16").sae.compute_dtype == "bfloat16"
    config = TrainConfig.from_yaml(write_config(tmp_path / "c.yaml", tmp_path / "base-bf16", toy_triples, tmp_path / "out"))
    model = build_model(config)
    assert model.sae.compute_dtype == "float32"
    assert all(p.dtype == torch.float32 for p in model.sae.sae.parameters())


# -- data parallel ---------------------------------------------------------------------------
def test_torchrun_two_processes_gloo_train_and_write_one_model(tmp_path, tiny_model_dir, toy_triples):
    out = tmp_path / "ddp"
    config = write_config(tmp_path / "c.yaml", tiny_model_dir, toy_triples, out,
                          train={"batch_size": 2, "max_steps": 2, "save_steps": 2})
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", str(free_port()),
           "-m", "splare_pyserini.train", "--config", config]
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO, env={**os.environ, "OMP_NUM_THREADS": "1"},
                          timeout=600)  # a hung rank would fail the test instead of stalling the suite
    assert proc.returncode == 0, proc.stderr[-4000:]
    assert [p.name for p in out.glob("model*")] == ["model"]
    assert sorted(p.name for p in out.glob("checkpoint-*")) == ["checkpoint-2"]
    checkpoint = out / "checkpoint-2"
    assert (checkpoint / "rng_state_0.pth").exists() and (checkpoint / "rng_state_1.pth").exists()  # two ranks
    state = json.loads((checkpoint / "trainer_state.json").read_text())
    assert state["global_step"] == 2
    assert state["epoch"] == pytest.approx(2 * 2 * 2 / 100)  # 2 steps x 2 ranks x 2 per device of 100 examples
    assert logged_steps(out) == [1, 2]  # logged once, by rank 0
    assert not list(out.glob("*.tmp"))
    assert len(read_examples(out / "train_data.jsonl")) == 100
    model = SplareModel.from_pretrained(out / "model")
    assert model.backbone.has_adapter() and all(model.encode(TEXTS[:2], "query"))


# -- paper-scale configs on tiny stand-ins -------------------------------------------------
COMMIT = "0123456789abcdef0123456789abcdef01234567"
PAPER_CONFIGS = {
    "splare-2b-gemma-scope": dict(backbone="google/gemma-2-2b", layer=12, sae_release="gemma-scope-2b-pt-res-canonical",
                                  sae_id="layer_12/width_16k/canonical"),
    "splare-7b-llama-scope": dict(backbone="meta-llama/Llama-3.1-8B", layer=15, sae_release="llama_scope_lxr_8x",
                                  sae_id="l15r_8x"),
}


def hub_snapshot(hub, repo_id: str):
    """A local Hugging Face cache entry for ``repo_id`` (refs/main -> one snapshot)."""
    repo = hub / ("models--" + repo_id.replace("/", "--"))
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(COMMIT)
    return repo / "snapshots" / COMMIT


def char_tokenizer():
    """A ~100-token character tokenizer: keeps the stand-ins' embeddings small (2304 wide for Gemma Scope)."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = ["<pad>", "<eos>", "<bos>", "<unk>"] + [chr(c) for c in range(32, 127)]
    tokenizer = Tokenizer(models.WordLevel({w: i for i, w in enumerate(vocab)}, unk_token="<unk>"))
    tokenizer.pre_tokenizer = pre_tokenizers.Split("", "isolated")
    return PreTrainedTokenizerFast(tokenizer_object=tokenizer, pad_token="<pad>", eos_token="<eos>",
                                   bos_token="<bos>", unk_token="<unk>"), len(vocab)


@pytest.fixture(scope="module")
def paper_stand_ins(tmp_path_factory):
    """Tiny backbones of the right family and depth, and the two SAE releases in a local HF cache, in the
    files sae-lens' own loaders read: Gemma Scope ``params.npz`` (its d_in=2304 and 16k width are fixed by
    sae-lens for gemma-2-2b, so that stand-in is 2304 wide) and Llama Scope ``hyperparams.json`` +
    ``checkpoints/final.safetensors``."""
    import numpy as np
    from safetensors.torch import save_file
    from transformers import Gemma2Config, Gemma2ForCausalLM, LlamaConfig, LlamaForCausalLM

    root = tmp_path_factory.mktemp("paper")
    tokenizer, vocab = char_tokenizer()
    small = dict(vocab_size=vocab, intermediate_size=32, num_attention_heads=1, num_key_value_heads=1, head_dim=32,
                 bos_token_id=2, eos_token_id=1, pad_token_id=0)
    torch.manual_seed(0)
    backbones = {}
    for name, model in (("splare-2b-gemma-scope", Gemma2ForCausalLM(Gemma2Config(hidden_size=2304, num_hidden_layers=13,
                                                                                  sliding_window=16, **small))),
                        ("splare-7b-llama-scope", LlamaForCausalLM(LlamaConfig(hidden_size=64, num_hidden_layers=16,
                                                                                **small)))):
        backbones[name] = root / name
        model.save_pretrained(backbones[name])
        tokenizer.save_pretrained(backbones[name])

    hub = root / "hub"
    gemma = hub_snapshot(hub, "google/gemma-scope-2b-pt-res") / "layer_12" / "width_16k" / "average_l0_82"
    gemma.mkdir(parents=True)
    rng = np.random.default_rng(0)
    w_enc = (rng.standard_normal((2304, 16384), dtype=np.float32) * 0.05).astype(np.float16)
    np.savez(gemma / "params.npz", W_enc=w_enc,
             W_dec=np.zeros((16384, 2304), np.float16), b_enc=np.zeros(16384, np.float32),
             b_dec=np.zeros(2304, np.float32), threshold=np.full(16384, 0.01, np.float32))
    llama = hub_snapshot(hub, "fnlp/Llama3_1-8B-Base-LXR-8x") / "Llama3_1-8B-Base-L15R-8x"
    (llama / "checkpoints").mkdir(parents=True)
    (llama / "hyperparams.json").write_text(json.dumps({
        "d_model": 64, "d_sae": 512, "hook_point_in": "blocks.15.hook_resid_post",
        "hook_point_out": "blocks.15.hook_resid_post", "jump_relu_threshold": 0.01,
        "dataset_average_activation_norm": {"in": 8.0, "out": 8.0}}))
    generator = torch.Generator().manual_seed(0)
    save_file({"encoder.weight": (torch.randn(512, 64, generator=generator) * 0.1).bfloat16(),
               "encoder.bias": torch.zeros(512).bfloat16(),
               "decoder.weight": (torch.randn(64, 512, generator=generator) * 0.1).bfloat16(),
               "decoder.bias": torch.zeros(64).bfloat16()}, llama / "checkpoints" / "final.safetensors")
    return backbones, hub


@pytest.mark.parametrize("name", sorted(PAPER_CONFIGS))
def test_paper_scale_config_resolves_and_trains_a_step_on_stand_ins(name, paper_stand_ins, monkeypatch, bf16_cpu):
    import huggingface_hub.constants

    path = os.path.join(REPO, "encode_scripts", "train_configs", f"{name}.yaml")
    expected = PAPER_CONFIGS[name]
    config = TrainConfig.from_yaml(path)
    for field, value in expected.items():
        assert getattr(config.model, field) == value, field
    assert config.model.base is None and config.model.sae_path is None
    assert config.model.torch_dtype == "bfloat16" and config.train.gradient_checkpointing is True
    source = config.data.sources[0]
    assert source.kind == "triples" and source.collection and source.queries and config.data.hard_negatives == 1

    backbones, hub = paper_stand_ins
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(hub))
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    # only the backbone is swapped: layer, sae_release and sae_id resolve through sae-lens as written
    config = TrainConfig.from_yaml(path, [f"model.backbone={backbones[name]}"])
    model = train_mod.build_model(config)
    assert model.backbone.layer == expected["layer"]
    assert model.sae.hook_name == f"blocks.{expected['layer']}.hook_resid_post"
    assert (model.sae.release, model.sae.sae_id) == (expected["sae_release"], expected["sae_id"])
    assert type(model.sae.sae).__name__ == "JumpReLUSAE"
    if name == "splare-2b-gemma-scope":
        assert (model.sae.d_in, model.sae.d_sae) == (2304, 16384)
    base = model.backbone.model.get_base_model()
    assert model.backbone.has_adapter()
    assert getattr(base, "is_activation_checkpointing", None) or base.is_gradient_checkpointing
    assert next(base.parameters()).dtype == torch.bfloat16
    assert all(p.dtype == torch.float32 and not p.requires_grad for p in model.sae.parameters())

    loss = build_loss(model, config)
    model.encoder.train()
    columns = [["cat?", "sun?"], ["a cat.", "the sun."], ["a dog.", "the sea."]]
    features = [model.backbone.preprocess(column, max_length=16) for column in columns]
    losses = loss(features, None)
    total = sum(losses.values())
    assert torch.isfinite(total)
    total.backward()
    grads = {n: p.grad for n, p in model.encoder.named_parameters() if p.requires_grad}
    assert grads and all("lora_" in n for n in grads)
    assert any(g is not None and g.abs().sum() > 0 for n, g in grads.items() if "lora_B" in n)
    assert all(p.grad is None for p in model.sae.parameters())
