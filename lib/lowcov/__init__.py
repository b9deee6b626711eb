"""lowcov: does fine-tuning a DeepVariant-style caller on RNA-seq reads rescue low-coverage DNA calls?

One module per pipeline stage; each stage is a function from files to files with a typed config.
"""
import logging

__version__ = "0.1.0"

logging.getLogger(__name__).addHandler(logging.NullHandler())


class InputError(ValueError):
    """Bad input: the message names the file and what is wrong with it."""
