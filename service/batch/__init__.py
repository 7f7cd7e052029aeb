"""The batch command's parts (the command itself is `service/batch_command.py`): where photos and
results are stored, how the listing is shared between shards, the results' file formats, running
the listing through the service's engine, and merging shard files.

Imports the engine, the model and the configuration, never `service.http`.
"""
