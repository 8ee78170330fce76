"""Edge formats for a trained model: dynamic int8 quantization and ONNX export.

* :func:`quantize_dynamic_int8` — PyTorch dynamic quantization of every
  ``nn.Linear``: weights stored as int8 with one scale per tensor, activations
  quantized on the fly per batch. No calibration data is needed, which is why it
  is the default for MLPs (static quantization's gain comes from convolutions and
  fused activations, which an MLP lacks). Measured on digits
  (``bench/models_distill.py``): a 64-512-512-10 teacher shrinks to 0.26x, loses
  0.75 point and runs 2.7x faster at batch 256 but 3x slower at batch 1; a
  64-32-10 student loses 1.25 points and gets slower at every batch size (the
  per-batch activation quantization costs more than its tiny matmuls save). So
  quantize wide models, and measure before shipping a quantized small one.
* :func:`export_onnx` — ``torch.onnx.export(dynamo=True)`` (needs ``onnxscript``)
  with a dynamic batch dimension, returned as bytes: the standardisation buffers
  become initializers, so the ONNX model takes raw features as the MLP does.
* :func:`quantize_onnx_int8` — ``onnxruntime.quantization.quantize_dynamic``
  (int8 weights, MatMulInteger) after onnxruntime's recommended shape-inference
  pass: the teacher's file shrinks to 0.26x of fp32 and runs 4.7-4.9x faster than
  fp32 PyTorch (batch 1 and 256), losing 1 point.
* :func:`onnx_session` / :func:`onnx_predict` — an onnxruntime CPU session with
  one intra-op and one inter-op thread (the same budget the torch side gets in
  benchmarks and in the promotion gate), and its logits.
* :func:`check_onnx` — the equivalence check that must pass before an ONNX file
  is published: the largest absolute logit difference from the torch model on
  given inputs must be within ``atol + rtol·|logit|`` (defaults 1e-5 each; float32
  exports of a 64-128-64-10 MLP differ by about 1e-6, a 512-512 teacher's by up to
  1.5e-5 (its logits are larger), so the bound leaves headroom while still
  catching any wrong weight or missing standardisation).

onnxruntime, its quantization tools and torch.export are imported inside the functions.
"""

from __future__ import annotations

import copy
import logging
import tempfile
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import nn

from plexnet.models.errors import ArtifactError, ModelError

if TYPE_CHECKING:
    import onnxruntime

__all__ = ["check_onnx", "export_onnx", "onnx_predict", "onnx_session",
           "quantize_dynamic_int8", "quantize_onnx_int8"]

INPUT_NAME = "x"
OUTPUT_NAME = "logits"


def quantize_dynamic_int8(model: nn.Module) -> nn.Module:
    """A copy of ``model`` with every ``nn.Linear`` dynamically quantized to int8.

    The original is not modified. The copy runs on CPU only and cannot be exported
    to ONNX (quantize the ONNX file with :func:`quantize_onnx_int8` instead).
    """
    from torch.ao.quantization import quantize_dynamic

    model = copy.deepcopy(model).eval()
    with warnings.catch_warnings():
        # torch 2.13 marks torch.ao.quantization as moving to torchao; it still works.
        warnings.simplefilter("ignore")
        return quantize_dynamic(model, {nn.Linear}, dtype=torch.qint8)


def export_onnx(model: nn.Module, example: torch.Tensor, path: Path | str | None = None) -> bytes:
    """ONNX bytes of ``model`` (input ``x``: (batch, features), output ``logits``).

    Args:
        model: an fp32 torch model (put in eval mode; not otherwise modified).
        example: one input batch of the right feature width; the batch dimension is
            exported as dynamic, so any batch size runs.
        path: if given, the bytes are also written there.

    Raises:
        ModelError: if the model cannot be exported (e.g. it is already quantized).
    """
    from torch.export import Dim

    model.eval()
    if example.ndim != 2:
        raise ModelError(f"example must be a (batch, features) tensor, got {tuple(example.shape)}")
    # A batch of one is specialised by torch.export; trace with two rows instead.
    example = example[:1].expand(2, -1).contiguous()
    quiet = logging.getLogger("torch.onnx")
    level = quiet.level
    quiet.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            program = torch.onnx.export(model, (example,), dynamo=True, verbose=False,
                                        input_names=[INPUT_NAME], output_names=[OUTPUT_NAME],
                                        dynamic_shapes=({0: Dim("batch")},))
    except Exception as exc:  # torch.export raises many types
        raise ModelError(f"cannot export {type(model).__name__} to ONNX: {exc}") from None
    finally:
        quiet.setLevel(level)
    if program is None:
        raise ModelError("torch.onnx.export returned no program")
    data = program.model_proto.SerializeToString()
    if path is not None:
        Path(path).write_bytes(data)
    return data


def onnx_session(data: bytes) -> onnxruntime.InferenceSession:
    """A single-threaded CPU onnxruntime session for ONNX ``data``.

    Raises:
        ArtifactError: if the bytes are not a valid ONNX model.
    """
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.log_severity_level = 3  # errors only
    try:
        return ort.InferenceSession(bytes(data), sess_options=options,
                                    providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own pybind error types
        raise ArtifactError(f"not a loadable ONNX model: {exc}") from None


def onnx_predict(session: onnxruntime.InferenceSession, x: np.ndarray) -> np.ndarray:
    """Logits (n, classes) of the session on raw features ``x`` (n, features)."""
    name = session.get_inputs()[0].name
    return session.run(None, {name: np.ascontiguousarray(x, dtype=np.float32)})[0]


def quantize_onnx_int8(data: bytes) -> bytes:
    """ONNX ``data`` with its weights dynamically quantized to int8 (onnxruntime).

    Raises:
        ArtifactError: if ``data`` is not an ONNX model onnxruntime can quantize.
    """
    from onnxruntime.quantization import QuantType, quantize_dynamic
    from onnxruntime.quantization.shape_inference import quant_pre_process

    with tempfile.TemporaryDirectory() as tmp:
        src, pre, dst = (Path(tmp) / f"{n}.onnx" for n in ("fp32", "pre", "int8"))
        src.write_bytes(data)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                # Shape inference and graph clean-up first, as onnxruntime recommends
                # (it warns otherwise): quantization needs every tensor's shape.
                quant_pre_process(src, pre)
                quantize_dynamic(pre, dst, weight_type=QuantType.QInt8)
        except Exception as exc:  # onnx and onnxruntime raise many types
            raise ArtifactError(f"cannot quantize this ONNX model: {exc}") from None
        return dst.read_bytes()


def check_onnx(model: nn.Module, data: bytes, x: np.ndarray, atol: float = 1e-5,
               rtol: float = 1e-5) -> float:
    """The largest absolute logit difference between ``model`` and ONNX ``data`` on ``x``.

    Every logit must satisfy ``|onnx - torch| <= atol + rtol * |torch|`` (numpy's
    ``allclose`` rule). The relative part matters for wide models: float32 keeps
    about 7 significant digits, and onnxruntime sums in another order than torch,
    so a 512-512 teacher's (larger) logits differed by up to 1.5e-5.
    Pass ``rtol=0`` for a purely absolute bound.

    Raises:
        ArtifactError: if the ONNX bytes do not load, give another output shape, or
            differ from the torch model by more than ``atol`` anywhere.
        ModelError: if ``x`` does not fit the models' input width.
    """
    x = np.ascontiguousarray(x, dtype=np.float32)
    session = onnx_session(data)
    declared = session.get_inputs()[0].shape  # e.g. ["batch", 64]
    if x.ndim != 2 or (isinstance(declared[-1], int) and x.shape[1] != declared[-1]):
        raise ModelError(f"inputs of shape {x.shape} do not fit the ONNX model's {declared}")
    model.eval()
    try:
        with torch.no_grad():
            expected = model(torch.as_tensor(x)).numpy()
    except RuntimeError as exc:
        raise ModelError(f"the torch model does not run on inputs of shape {x.shape}: "
                         f"{exc}") from None
    try:
        got = onnx_predict(session, x)
    except Exception as exc:  # wrong input name, width or type
        raise ArtifactError(f"the ONNX model does not run on these inputs: {exc}") from None
    if got.shape != expected.shape:
        raise ArtifactError(f"ONNX output shape {got.shape} differs from torch's {expected.shape}")
    err = np.abs(got - expected)
    diff = float(err.max()) if got.size else 0.0
    if not np.all(err <= atol + rtol * np.abs(expected)):  # also catches NaN
        raise ArtifactError(f"ONNX outputs differ from torch by up to {diff:.3g} (beyond atol "
                            f"{atol:g} + rtol {rtol:g} x |logit|); re-export the model")
    return diff
