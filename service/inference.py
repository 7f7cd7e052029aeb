"""Where forward passes run: one dedicated thread, never the event loop.

Routes only ever `await runner.predict(tensor)`, so how inference is scheduled can change here
alone. Today each call is one forward pass; dynamic micro-batching (collect the requests that
arrive within a few milliseconds and run them as one batch) would replace `_submit` without
touching any route.
"""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor

import torch

from service.classifier import Classifier, Prediction


class InferenceRunner:
    """Runs a classifier on a single worker thread that uses `threads` torch threads.

    One worker, because torch already spreads each forward pass over the CPUs it is given;
    two passes at once would only fight over the same cores and make both slower.
    """

    def __init__(self, classifier: Classifier, *, threads: int) -> None:
        self.classifier = classifier
        self._executor = ThreadPoolExecutor(
            max_workers=1,
            thread_name_prefix="inference",
            # The intra-op thread count is per calling thread in some torch builds: set it there.
            initializer=torch.set_num_threads,
            initargs=(threads,),
        )

    async def predict(self, tensor: torch.Tensor) -> Prediction:
        """Classify one CHW input tensor."""
        (prediction,) = await self.predict_batch(tensor.unsqueeze(0))
        return prediction

    async def predict_batch(self, batch: torch.Tensor) -> list[Prediction]:
        """Classify an NCHW batch in one forward pass, predictions in input order."""
        return await self._submit(batch)

    async def _submit(self, batch: torch.Tensor) -> list[Prediction]:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, self.classifier.predict, batch)

    def close(self) -> None:
        """Stop the worker once queued passes are done; called at shutdown."""
        self._executor.shutdown(wait=False, cancel_futures=True)
