"""Inference: models, batch inference, products and their evaluation.

Re-exports the pure front-extraction (:mod:`.fronts`) and metric (:mod:`.metrics`) functions.
"""

from ml4earth_stac.inference.fronts import (
    FrontChange,
    FrontPosition,
    FrontResult,
    InferenceError,
    extract_front,
    front_position_change,
)
from ml4earth_stac.inference.metrics import (
    BinaryScores,
    FrontErrors,
    iou,
    mean_distance_error,
    mean_distance_error_many,
    mean_iou,
    overall_accuracy,
    precision_recall_f1,
)

__all__ = [
    "BinaryScores",
    "FrontChange",
    "FrontErrors",
    "FrontPosition",
    "FrontResult",
    "InferenceError",
    "extract_front",
    "front_position_change",
    "iou",
    "mean_distance_error",
    "mean_distance_error_many",
    "mean_iou",
    "overall_accuracy",
    "precision_recall_f1",
]
