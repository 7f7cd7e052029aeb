"""What travels with the weights, and all that training imports from the service.

The model file formats, the metadata beside each file, preprocessing (bytes to the model's
input) and the classifier (logits to an answer, the rejection rule). Imports nothing else of
ours: `service.engine` and `service.http` build on it, never the other way round.
"""
