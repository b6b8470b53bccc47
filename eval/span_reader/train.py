"""Fine-tune multilingual-e5-small into an extractive QA reader (answer span, or "no answer"
at <s>, SQuAD 2.0 style) with LoRA adapters, on ../shared/evaldata/train/ only, and write
the adapters + span head as rag/answer/span_reader.npz (small: the base weights are the
e5 model every install already builds).

    nice -n 10 python -m eval.span_reader.train [--limit N] [--minutes M]

The committed adapters took three stages over the same shuffled rows (see eval/README.md):
    python -m eval.span_reader.train --limit 11000
    python -m eval.span_reader.train --init rag/answer/span_reader.npz --skip 11000 --limit 12000 --lr 5e-4
    python -m eval.span_reader.train --init rag/answer/span_reader.npz --skip 23000 --lr 5e-4 --hard-neg 0.2

Negatives (target <s>): the same question over another passage of its article (XQuAD) or
a random passage in its language (TyDi QA), about one per three answerable rows. With
--hard-neg R a later stage adds, for a share R of its answerable rows, the hardest kind: the
sentences around the answer with every sentence holding it removed (the documents talk
about the topic but don't say the answer).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

from eval.span_reader.lora import LORA_TARGETS, add_lora, load_lora_state, lora_state
from rag.eval.sets import read_jsonl
from rag.index.e5_weights import QUERY_PREFIX
from rag.text.sentences import split_spans

TRAIN = Path("../shared/evaldata/train")
OUT = Path("rag/answer/span_reader.npz")
MAX_LEN = 160  # tokens per (question, passage window); windows overlap by STRIDE
STRIDE = 48
NEG_RATE = 0.35  # rows of a question over a passage without its answer, per answerable row
KEEP_EMPTY = 0.3  # share kept of an answerable row's windows that miss the answer
TOP_LAYERS = 6  # adapters on the top layers only: the bottom ones run without gradients
HARD_CONTEXT = 3  # sentences kept on each side of the removed answer sentence(s)


def examples(seed: int = 0) -> list[tuple[str, str, int, str]]:
    """(question, passage text, answer char start or -1, answer) rows, negatives included."""
    rng = random.Random(seed)
    rows: list[tuple[str, str, int, str]] = []
    for name in ("xquad", "tydiqa"):
        passages = {p["passage_id"]: p for p in read_jsonl(TRAIN / f"{name}.train.passages.jsonl")}
        by_group: dict[str, list[str]] = {}
        for pid, p in passages.items():
            group = pid.rsplit(".p", 1)[0] if name == "xquad" else p["lang"]
            by_group.setdefault(group, []).append(pid)
        for q in read_jsonl(TRAIN / f"{name}.train.questions.jsonl"):
            p = passages[q["passage_id"]]
            text = p["text"]
            answer = q["answers"][0]
            start = text.find(answer)
            if start < 0:
                continue
            rows.append((q["question"], text, start, answer))
            if rng.random() < NEG_RATE:
                group = q["passage_id"].rsplit(".p", 1)[0] if name == "xquad" else p["lang"]
                others = [o for o in by_group[group] if o not in q["relevant_passage_ids"]]
                if others:
                    rows.append((q["question"], passages[rng.choice(others)]["text"], -1, ""))
    rng.shuffle(rows)
    return rows


def hard_negatives(rows: list[tuple[str, str, int, str]], rate: float, seed: int = 2,
                   ) -> list[tuple[str, str, int, str]]:
    """For a share `rate` of the answerable rows: the question over the sentences around its
    answer with every sentence that holds the answer removed (target: no answer)."""
    rng = random.Random(seed)
    out = []
    for question, text, start, answer in rows:
        if start < 0 or rng.random() >= rate:
            continue
        spans = split_spans(text)
        hit = [i for i, (s, e) in enumerate(spans) if answer in text[s:e]]
        if not hit:
            continue
        lo, hi = max(0, hit[0] - HARD_CONTEXT), min(len(spans), hit[-1] + 1 + HARD_CONTEXT)
        kept = [text[s:e] for i, (s, e) in enumerate(spans[lo:hi], lo) if i not in hit]
        rest = " ".join(kept)
        if len(rest) >= 40 and answer not in rest:
            out.append((question, rest, -1, ""))
    return out


def encode(tok, rows: list[tuple[str, str, int, str]]) -> dict[str, torch.Tensor]:
    """Tokenise question/passage pairs into windows with start/end token targets (0 = none)."""
    enc = tok(
        [QUERY_PREFIX + q for q, _, _, _ in rows], [t for _, t, _, _ in rows],
        truncation="only_second", max_length=MAX_LEN, stride=STRIDE, padding="max_length",
        return_overflowing_tokens=True, return_offsets_mapping=True,
    )
    starts, ends, keep = [], [], []
    rng = random.Random(1)
    seen: set[int] = set()
    for i, offsets in enumerate(enc["offset_mapping"]):
        _, _, a0, answer = rows[enc["overflow_to_sample_mapping"][i]]
        seq = enc.sequence_ids(i)
        s = e = 0
        if a0 >= 0:
            a1 = a0 + len(answer)
            for t, (o, sid) in enumerate(zip(offsets, seq, strict=True)):
                if sid != 1:
                    continue
                if s == 0 and o[0] <= a0 < o[1]:
                    s = t
                if o[0] < a1 <= o[1]:
                    e = t
            if not (s and e >= s):
                s = e = 0  # the answer is outside this window
        row = enc["overflow_to_sample_mapping"][i]
        if s == 0 and (row in seen if a0 < 0 else rng.random() > KEEP_EMPTY):
            continue  # one window per negative row; some empty windows of answerable rows
        seen.add(row)
        keep.append(i)
        starts.append(s)
        ends.append(e)
    return {
        "input_ids": torch.tensor([enc["input_ids"][i] for i in keep]),
        "attention_mask": torch.tensor([enc["attention_mask"][i] for i in keep]),
        "start": torch.tensor(starts), "end": torch.tensor(ends),
    }


class Reader(nn.Module):
    """The e5 encoder (LoRA-adapted) with a linear start/end head."""

    def __init__(self, encoder: nn.Module, hidden: int) -> None:
        super().__init__()
        self.encoder = encoder
        self.head = nn.Linear(hidden, 2)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        h = self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        logits = self.head(h)
        return logits.masked_fill(attention_mask[..., None] == 0, -1e4)


def main() -> None:
    from transformers import AutoModel, AutoTokenizer

    from rag.index.e5_onnx import default_model_dir
    from rag.settings import Settings

    ap = argparse.ArgumentParser()
    ap.add_argument("--limit", type=int, default=0)
    ap.add_argument("--minutes", type=float, default=0.0, help="stop after this long")
    ap.add_argument("--rank", type=int, default=8)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--out", type=Path, default=OUT)
    ap.add_argument("--init", type=Path, help="continue from these adapters and head")
    ap.add_argument("--skip", type=int, default=0, help="start after this many rows (a later stage)")
    ap.add_argument("--hard-neg", type=float, default=0.0,
                    help="share of answerable rows also given as a hard negative (answer sentences removed)")
    ap.add_argument("--hard-from", type=int, default=0,
                    help="draw the hard negatives from the rows from this index on (earlier stages' rows too)")
    args = ap.parse_args()
    torch.manual_seed(0)
    torch.set_num_threads(2)
    ckpt = default_model_dir(Settings.from_env().models_dir)
    tok = AutoTokenizer.from_pretrained(ckpt)
    encoder = AutoModel.from_pretrained(ckpt, add_pooling_layer=False)
    every = examples()
    rows = every[args.skip :]
    if args.limit:
        rows = rows[: args.limit]
    if args.hard_neg:
        hard = hard_negatives(every[args.hard_from : args.skip + len(rows)], args.hard_neg)
        print(f"{len(hard)} hard negatives")
        rows = rows + hard
        random.Random(3).shuffle(rows)
    data = encode(tok, rows)
    n = len(data["start"])
    print(f"{len(rows)} rows -> {n} windows, {(data['start'] > 0).float().mean():.2f} answerable")
    for p in encoder.parameters():
        p.requires_grad = False
    add_lora(encoder, args.rank, TOP_LAYERS)
    model = Reader(encoder, encoder.config.hidden_size)
    stages: list[dict] = []
    if args.init:
        with np.load(args.init) as z:
            init = {k: z[k] for k in z.files}
        load_lora_state(encoder, init)
        with torch.no_grad():
            model.head.weight.copy_(torch.from_numpy(init["head.weight"].astype(np.float32)))
            model.head.bias.copy_(torch.from_numpy(init["head.bias"].astype(np.float32)))
        before = json.loads(str(init["meta"]))
        stages = before.pop("stages", [])
        stages.append(before)
    params = [p for p in model.parameters() if p.requires_grad]
    print(f"trainable {sum(p.numel() for p in params):,} params")
    opt = torch.optim.AdamW(params, lr=args.lr, weight_decay=0.01)
    # Batches of similar length (less padding), in random order.
    lengths = data["attention_mask"].sum(1)
    order = torch.argsort(lengths + torch.rand(n) * 24)
    batches = [order[i : i + args.batch] for i in range(0, n, args.batch)]
    random.Random(0).shuffle(batches)
    steps = len(batches)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min(1.0, (s + 1) / 50) * max(0.0, 1 - s / steps))
    loss_f = nn.CrossEntropyLoss()
    model.train()
    t0 = time.time()
    for step in range(steps):
        sl = batches[step]
        mask = data["attention_mask"][sl]
        width = int(mask.sum(1).max())
        logits = model(data["input_ids"][sl][:, :width], mask[:, :width])
        loss = (loss_f(logits[..., 0], data["start"][sl]) + loss_f(logits[..., 1], data["end"][sl])) / 2
        loss.backward()
        opt.step()
        sched.step()
        opt.zero_grad()
        if step % 20 == 0:
            el = time.time() - t0
            print(f"step {step}/{steps} loss {loss.item():.3f} {el:.0f}s", flush=True)
        if args.minutes and time.time() - t0 > args.minutes * 60:
            print(f"stopped at step {step}/{steps} (time budget)")
            break
    state = lora_state(model.encoder)
    state["head.weight"] = model.head.weight.detach().numpy()
    state["head.bias"] = model.head.bias.detach().numpy()
    digest = hashlib.sha256()
    for k in sorted(state):
        digest.update(k.encode() + np.ascontiguousarray(state[k], dtype=np.float16).tobytes())
    meta = {"rank": args.rank, "top_layers": TOP_LAYERS, "targets": list(LORA_TARGETS), "max_len": MAX_LEN,
            "stride": STRIDE, "rows": len(rows), "windows": n, "steps": step + 1,
            "seconds": round(time.time() - t0), "lr": args.lr, "batch": args.batch,
            "skip": args.skip, "hard_neg": args.hard_neg, "hard_from": args.hard_from,
            "fingerprint": digest.hexdigest()[:12], "stages": stages,
            "command": "python -m eval.span_reader.train" + (f" --limit {args.limit}" if args.limit else "")
                       + (f" --init {args.init} --skip {args.skip} --lr {args.lr:g}" if args.init else "")
                       + (f" --hard-neg {args.hard_neg:g} --hard-from {args.hard_from}" if args.hard_neg else "")}
    np.savez_compressed(args.out, meta=np.array(json.dumps(meta)),
                        **{k: v.astype(np.float16) for k, v in state.items()})
    print(json.dumps(meta))


if __name__ == "__main__":
    main()
