#!/usr/bin/python3
"""Quick tests of reference/ (the float64 PyTorch reference).

    /usr/bin/python3 -m unittest discover -s tests/reference -v      (from the repo root)

Unit checks and CLI error handling always run. Model checks need a checkpoint: the one in
$DSV32_REF_MODEL, else one written by build/bin/dsv32 synth (skipped when neither exists).
The full self-test is `reference/selftest.py --model DIR` (minutes on 2 cores).
"""
import os
import subprocess
import sys
import tempfile
import unittest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
REF = os.path.join(ROOT, "reference")
sys.path.insert(0, REF)

import torch  # noqa: E402
import selftest  # noqa: E402
from checkpoint import Checkpoint  # noqa: E402
from model import Model  # noqa: E402
from run import run  # noqa: E402

PY = "/usr/bin/python3"


class UnitTests(unittest.TestCase):
    def test_unit_checks(self):
        selftest.failures.clear()
        selftest.unit_checks()
        self.assertEqual(selftest.failures, [])

    def test_cli_errors_exit_2_with_one_line(self):
        for args in (["--model", "/nonexistent", "--ids", "1,2"],
                     ["--model", "/nonexistent", "--ids", "1,x"],
                     ["--model", "/nonexistent"]):
            p = subprocess.run([PY, os.path.join(REF, "run.py")] + args, capture_output=True,
                               text=True)
            self.assertEqual(p.returncode, 2, args)
            self.assertEqual(len(p.stderr.strip().splitlines()), 1, p.stderr)


def _model_dir():
    d = os.environ.get("DSV32_REF_MODEL")
    if d:
        return d
    exe = os.environ.get("DSV32_BIN") or os.path.join(ROOT, "build", "bin", "dsv32")
    if not os.path.exists(exe):
        return None
    # Its own copy (not the C++ tests' test-models/tiny-fp8-s1), so parallel ctest jobs never
    # write one directory twice.
    d = os.path.join(os.environ.get("DSV32_BUILD_DIR") or tempfile.gettempdir(), "test-models",
                     "tiny-fp8-s1-py")
    if not os.path.exists(os.path.join(d, "config.json")):
        subprocess.run([exe, "synth", "--preset", "tiny", "--seed", "1", "--weights", "fp8",
                        "--out", d], check=True, capture_output=True)
    return d


@unittest.skipIf(_model_dir() is None, "no checkpoint (set DSV32_REF_MODEL or build dsv32)")
class ModelTests(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.ckpt = Checkpoint(_model_dir())
        cls.model = Model(cls.ckpt)
        torch.manual_seed(0)
        cls.ids = torch.randint(0, cls.model.cfg.vocab, (12,)).tolist()

    def logits(self, attn, mla, prefill):
        self.model.set_mode(attn, mla)
        return torch.cat([r["logits"] for r in run(self.model, self.ids, prefill)])

    def test_naive_equals_absorbed_and_decode_equals_prefill(self):
        attn = "sparse" if self.model.cfg.has_indexer else "dense"
        ref = self.logits(attn, "naive", 12)
        for mla, pre in (("absorbed", 12), ("naive", 5), ("absorbed", 5)):
            self.assertLess(selftest.rel_err(self.logits(attn, mla, pre), ref), 1e-10, (mla, pre))

    def test_sparse_equals_dense_short(self):
        if not self.model.cfg.has_indexer:
            self.skipTest("no indexer")
        self.assertLess(selftest.rel_err(self.logits("sparse", "absorbed", 6),
                                         self.logits("dense", "absorbed", 6)), 1e-10)


if __name__ == "__main__":
    unittest.main()
