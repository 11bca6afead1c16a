"""Ask a library of paper abstracts; answers cite the sentences they came from."""

__version__ = "0.1.0"
