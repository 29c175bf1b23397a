"""How ``centroids.npy`` and ``examples/golden/digits-inputs.npz`` were made (run once, by hand, with
scikit-learn installed; the model and the tests need only numpy): the per-class mean of the first 1,500
images of scikit-learn's bundled 8×8 digits (no download), scaled to 0–255, and 16 held-out images."""

import sys
from pathlib import Path

import numpy as np
from sklearn.datasets import load_digits

HERE = Path(__file__).resolve().parent

if __name__ == "__main__":
    digits = load_digits()
    images, labels = digits.images * (255.0 / 16.0), digits.target
    train = slice(0, 1500)
    centroids = np.stack([images[train][labels[train] == k].mean(axis=0) for k in range(10)]).astype(np.float32)
    np.save(HERE / "centroids.npy", centroids)
    held_out = [i for k in range(10) for i in (np.where(labels[1500:] == k)[0][:2] + 1500)][:16]
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else HERE.parents[1] / "golden" / "digits-inputs.npz"
    np.savez(out, IMAGE=np.round(images[held_out]).astype(np.uint8))
