"""A batch predictor for data engines that map a function over column batches.

``SpanscopePredictor`` loads the model once per instance and predicts a batch given as columns
(``{"tokens": [...], ...}``): Ray Data's ``map_batches`` (one instance per worker, see
docs/SCALE.md) and Hugging Face ``datasets``' ``Dataset.map(batched=True)`` both call it that
way. Every input column is kept; ``entities`` and ``relations`` are the model's.
"""

from ._spanscope import Model


class SpanscopePredictor:
    """Predicts entities and relations for a batch of columns with a ``tokens`` column.

    ``model`` is a checkpoint directory (``None``: the bundled model), ``device`` as for
    ``Model.load``, ``batch_size`` the sentences per forward pass.
    """

    def __init__(self, model=None, device="auto", batch_size=8):
        self.model = Model.load(model, device=device)
        self.batch_size = batch_size

    def __call__(self, batch):
        # Engines hand over numpy or Arrow arrays of str; the model takes lists of str.
        tokens = [[str(token) for token in row] for row in batch["tokens"]]
        predicted = self.model.predict(tokens, batch_size=self.batch_size)
        out = dict(batch)
        # Plain lists: Arrow (Ray's blocks) cannot take numpy arrays of arrays, and falls
        # back to pickled objects that its JSON writer cannot write.
        out["tokens"] = tokens
        out["entities"] = [p["entities"] for p in predicted]
        out["relations"] = [p["relations"] for p in predicted]
        return out
