"""parityEven7bit, parityOdd7bit, parityZero7bit.

Description: set the high bit of each byte from the parity of the whole byte (as v2 computes
it): even sets bit 7 when that parity is odd, odd sets it when even; zero clears bit 7.
Example: parityZero7bit ``"\\x80\\xff"`` -> ``"\\x00\\x7f"``.
"""

from __future__ import annotations

from bastion.waf.seclang.transformations.registry import register


def _odd_bits(x: int) -> bool:
    # v2 folds the whole byte (bit 7 included) into its parity lookup, so we do too.
    return bin(x).count("1") % 2 == 1


_EVEN = bytes((x | 0x80) if _odd_bits(x) else (x & 0x7F) for x in range(256))
_ODD = bytes((x & 0x7F) if _odd_bits(x) else (x | 0x80) for x in range(256))
_ZERO = bytes(x & 0x7F for x in range(256))


def _apply(value: str, table: bytes) -> str:
    return value.encode("latin-1").translate(table).decode("latin-1")


def parity_even_7bit(value: str) -> str:
    """Even parity in bit 7."""
    return _apply(value, _EVEN)


def parity_odd_7bit(value: str) -> str:
    """Odd parity in bit 7."""
    return _apply(value, _ODD)


def parity_zero_7bit(value: str) -> str:
    """Bit 7 cleared."""
    return _apply(value, _ZERO)


register("parityEven7bit", parity_even_7bit)
register("parityOdd7bit", parity_odd_7bit)
register("parityZero7bit", parity_zero_7bit)
