"""LeNet-5 as an ONNX file: what export.py writes, and ONNX Runtime reading it back, without torch.

The graph takes what ``preprocess.mnist_like`` makes, uint8 digits (N, 28, 28) white on black,
and gives probabilities (N, classes): the 2-pixel border, the scaling to 0-1, the normalisation with
the training set's mean and std, and the softmax are all inside it. A consumer in any language
needs the file and nothing else; the mean and std are also in its metadata, for reading, and
so are the class names (JSON) of a model that finetune.py taught other classes than 0-9.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from artifacts import DIGITS, ModelFileError, class_names

INPUT_NAME = "digits"
OUTPUT_NAME = "probabilities"
MNIST_SIZE = 28


class OnnxModelError(ModelFileError):
    """An .onnx file is missing, unreadable, or not a LeNet-5 digit model from export.py."""


class OnnxClassifier:
    """Class probabilities for uint8 MNIST-like digits from an .onnx file, on the CPU."""

    def __init__(self, path: Path | str, threads: int | None = None) -> None:
        """``threads``: how many threads one run may use (None: ONNX Runtime's default, one per
        core). A server whose processes read one digit at a time gives 1: at that size the
        runtime's other threads only spin, and take the core another process needs."""
        import onnxruntime as ort

        path = Path(path)
        if not path.is_file():
            raise OnnxModelError(f"ONNX model {path} does not exist")
        if path.stat().st_size == 0:
            raise OnnxModelError(f"ONNX model {path} is empty")
        options = ort.SessionOptions()
        options.log_severity_level = 3  # errors only: a user's terminal gets our one line, not the runtime's
        if threads is not None:
            options.intra_op_num_threads = options.inter_op_num_threads = threads
        try:
            self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises its own pybind classes: InvalidProtobuf, Fail, ...
            reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            raise OnnxModelError(f"{path} is not a readable ONNX model ({reason[:160]})") from None
        inputs, outputs = self.session.get_inputs(), self.session.get_outputs()
        fits = (len(inputs) == 1 and inputs[0].name == INPUT_NAME and inputs[0].type == "tensor(uint8)"
                and list(inputs[0].shape[1:]) == [MNIST_SIZE, MNIST_SIZE]
                and len(outputs) == 1 and outputs[0].name == OUTPUT_NAME)
        if not fits:
            found = ", ".join(f"{i.name} {i.type} {i.shape}" for i in inputs)
            raise OnnxModelError(f"{path} is an ONNX model, but not a LeNet-5 digit model from export.py "
                                 f"(it takes {found or 'nothing'})")
        self.metadata = dict(self.session.get_modelmeta().custom_metadata_map)
        try:
            self.classes = class_names(json.loads(self.metadata["classes"])) if "classes" in self.metadata else DIGITS
        except ValueError as exc:  # json's errors are ValueErrors too
            raise OnnxModelError(f"{path} is not a LeNet-5 model from export.py: {exc}") from None
        if outputs[0].shape[-1] != len(self.classes):
            raise OnnxModelError(f"{path} gives {outputs[0].shape[-1]} probabilities for its {len(self.classes)} "
                                 "classes; export it again with: python export.py")
        self.whole_image = self.metadata.get("whole_image") == "true"

    def probabilities(self, digits: np.ndarray, batch_size: int = 1024) -> np.ndarray:
        digits = np.ascontiguousarray(digits, dtype=np.uint8).reshape(-1, MNIST_SIZE, MNIST_SIZE)
        out = [self.session.run([OUTPUT_NAME], {INPUT_NAME: digits[start:start + batch_size]})[0]
               for start in range(0, len(digits), batch_size)]
        return np.concatenate(out) if out else np.empty((0, len(self.classes)), np.float32)
