"""Metrics of the tasks (numpy in, floats out)."""

from rnnkit.metrics.classification import (
    accuracy,
    classification_report,
    confusion_matrix,
    f1_score,
    roc_auc,
)

__all__ = ["accuracy", "classification_report", "confusion_matrix", "f1_score", "roc_auc"]
