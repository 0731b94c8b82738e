"""Type stubs of the spanscope package (the native module and its Python part)."""

import os
from pathlib import Path
from typing import Any, Iterable, Mapping, Optional, Sequence, Union

__version__: str

Record = Union[Mapping[str, Any], Sequence[str]]
PathLike = Union[str, os.PathLike[str]]

class SpanscopeError(Exception):
    """Base class of every error spanscope raises."""

class DataError(SpanscopeError):
    """Bad input data; the first problem's place and reason, and every problem found."""
    file: Optional[str]
    record: Optional[int]
    line: Optional[int]
    part: Optional[str]
    kind: str
    reason: str
    problems: list[Problem]

class ModelError(SpanscopeError):
    """A model could not be loaded, or failed while it ran."""

class Problem:
    """One problem of a dataset or of records; str() is the line `spanscope validate` prints."""
    file: Optional[str]
    record: Optional[int]
    line: Optional[int]
    part: Optional[str]
    kind: str
    reason: str
    message: str

class Model:
    """A spanscope checkpoint, loaded on a device."""
    @staticmethod
    def load(path: Optional[PathLike] = None, device: str = "auto") -> Model:
        """Loads a checkpoint; None: $SPANSCOPE_MODEL, else the bundled CoNLL04 model."""
    def predict(self, records: Iterable[Record], batch_size: int = 8) -> list[dict[str, Any]]:
        """SpERT dicts with the model's entities and relations, as `spanscope predict`."""
    def explain(
        self,
        tokens: Union[str, Sequence[str]],
        span: Sequence[int],
        theta: Optional[float] = None,
        fusion: Optional[str] = None,
    ) -> dict[str, Any]:
        """f_a of the span: {"layers", "heads", "contribution"} as `spanscope heads --json`."""
    @property
    def path(self) -> Path: ...
    @property
    def device(self) -> str: ...
    @property
    def entity_types(self) -> list[str]: ...
    @property
    def relation_types(self) -> list[str]: ...

def validate(*paths: PathLike, types: Optional[PathLike] = None) -> list[Problem]:
    """Every problem of SpERT datasets (and of a types file), as `spanscope validate`."""

class ConversionWarning(UserWarning):
    """Something a format could not carry (the loss report `spanscope convert` prints)."""

class Loss:
    """One kind of thing a conversion could not carry, with a count and the first examples."""
    stage: str
    kind: str
    description: str
    count: int
    examples: list[str]

class Conversion:
    """What `convert` did: counts and every loss (reading, then writing)."""
    from_format: str
    to_format: str
    sentences: int
    entities: int
    relations: int
    losses: list[Loss]

def convert(
    input: PathLike,
    output: PathLike,
    from_format: Optional[str] = None,
    to_format: Optional[str] = None,
) -> Conversion:
    """`spanscope convert IN OUT`: formats from the names' extensions unless given."""

def read(path: PathLike, format: Optional[str] = None) -> list[dict[str, Any]]:
    """A dataset in any format `convert` reads, as SpERT dicts; losses are warned about."""

def write(
    records: Iterable[Record], path: PathLike, format: Optional[str] = None
) -> list[Loss]:
    """SpERT records to `path` in `format` (from the extension unless given), atomically."""

class SpanscopePredictor:
    """Predicts a batch of columns with a `tokens` column (Ray Data, Hugging Face datasets)."""
    model: Model
    batch_size: int
    def __init__(
        self, model: Optional[PathLike] = None, device: str = "auto", batch_size: int = 8
    ) -> None: ...
    def __call__(self, batch: Mapping[str, Any]) -> dict[str, Any]: ...
