"""spanscope: joint entity and relation extraction with the ASpERT model.

    >>> import spanscope
    >>> model = spanscope.Model.load()          # the bundled CoNLL04 model
    >>> model.predict([["John", "Smith", "lives", "in", "Berlin", "."]])
    [{'tokens': [...], 'entities': [...], 'relations': [...]}]

The model runs in Rust (the same code as the ``spanscope`` command line) with the GIL
released. See docs/PYTHON.md in the repository.
"""

from ._spanscope import (
    Conversion,
    ConversionWarning,
    DataError,
    Loss,
    Model,
    ModelError,
    Problem,
    SpanscopeError,
    __version__,
    convert,
    read,
    validate,
    write,
)
from .predictor import SpanscopePredictor

__all__ = [
    "Conversion",
    "ConversionWarning",
    "DataError",
    "Loss",
    "Model",
    "ModelError",
    "Problem",
    "SpanscopeError",
    "SpanscopePredictor",
    "__version__",
    "convert",
    "read",
    "validate",
    "write",
]
