"""How close the int8 embedder's vectors are to fp32 on this CPU, for full-range (8-bit)
and 7-bit weights (rag/index/e5_onnx.py ONNX_FILES): mean and lowest cosine over real dev
passages. Builds the models under the default models folder if missing; the 8-bit variant
goes to a temporary folder.

    python eval/bench/int8_fidelity.py [--n 60]
"""

from __future__ import annotations

import argparse
import logging
import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # `python eval/bench/x.py` from a checkout
    sys.path.insert(0, str(ROOT))

from rag.eval.sets import load_passages  # noqa: E402
from rag.index.e5_onnx import INT8_KEEP_FP32, ONNX_FILES, OnnxE5Embedder, ensure_default_model  # noqa: E402
from rag.settings import Settings  # noqa: E402

DATA = ROOT.parent / "shared" / "evaldata"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=60, help="passages per pool (KazQAD kk, XQuAD ru)")
    args = ap.parse_args()
    from onnxruntime.quantization import QuantType, quantize_dynamic

    seven = ensure_default_model(Settings.from_env().models_dir)
    fp32 = seven.with_name(ONNX_FILES["fp32"])
    texts = [p.text for pool in ("kazqad.kk", "xquad.ru")
             for p in load_passages([DATA / f"{pool}.passages.jsonl"])[: args.n]]  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        eight = Path(tmp) / "model_qint8.onnx"
        shutil.copy(seven.parent.parent / "tokenizer.json", Path(tmp) / "tokenizer.json")
        logging.disable(logging.WARNING)
        quantize_dynamic(str(fp32), str(eight), weight_type=QuantType.QInt8, per_channel=True,
                         nodes_to_exclude=INT8_KEEP_FP32)  # fmt: skip
        ref = OnnxE5Embedder(fp32).embed_passages(texts)
        for name, path in (("8-bit weights", eight), ("7-bit weights", seven)):
            cos = (OnnxE5Embedder(path).embed_passages(texts) * ref).sum(1)
            print(f"{name}: cosine to fp32 mean {cos.mean():.5f} min {cos.min():.5f} ({len(texts)} passages)")


if __name__ == "__main__":
    main()
