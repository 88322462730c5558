"""The probability side: factorized prior, Gaussian conditional, integer tables and the coder."""
from .coder import DecodeError, StreamDecoder, StreamEncoder
from .factorized import EntropyBottleneck
from .gaussian import GaussianConditional, default_scale_table
from .quantization import ste_round
from .tables import SymbolTables, quantize_pmf

__all__ = [
    "DecodeError",
    "EntropyBottleneck",
    "GaussianConditional",
    "StreamDecoder",
    "StreamEncoder",
    "SymbolTables",
    "default_scale_table",
    "quantize_pmf",
    "ste_round",
]
