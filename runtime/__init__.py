"""Light digit-reading runtime: ONNX Runtime + OpenCV + numpy, no torch.

Apps use :class:`DigitClassifier` on 28x28 digits or whole images and
:class:`DigitReader` on photos and video frames.
"""

__version__ = "0.1.0"

from digit_cnn_edge.runtime.classifier import DigitClassifier, ModelError
from digit_cnn_edge.runtime.reader import Digit, DigitReader, Reading

__all__ = ["Digit", "DigitClassifier", "DigitReader", "ModelError", "Reading", "__version__"]
