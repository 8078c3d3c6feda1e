"""looplab's seeded generator (src/rng.rs, SplitMix64), bit for bit: the fixed random initial states, the
initialization and the batch and depth sampling all derive from the config's seed exactly as in looplab, so a
run here draws the same batches and depths as `looplab train`, and a checkpoint's `batch_rng` continues it."""

import math

import numpy as np

MASK = (1 << 64) - 1
GAMMA = 0x9E3779B97F4A7C15


def _mix(z):
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK
    return z ^ (z >> 31)


class Rng:
    def __init__(self, state):
        self.state = state & MASK

    @staticmethod
    def new(seed):
        return Rng(seed ^ 0x5DEECE66D1CE4E5B)

    @staticmethod
    def fork(seed, stream):
        """An independent stream for one purpose (an FNV-1a-style hash of its name salts the seed)."""
        h = 0xCBF29CE484222325
        for b in stream.encode():
            h = ((h ^ b) * 0x1000000001B3) & MASK  # looplab's constant (not FNV's 0x100000001B3)
        return Rng.new(seed ^ h)

    def next_u64(self):
        self.state = (self.state + GAMMA) & MASK
        return _mix(self.state)

    def uniform(self):
        return (self.next_u64() >> 11) / float(1 << 53)

    def below(self, n):
        return self.next_u64() % n

    def normal(self):
        """Box-Muller, rounded to f32 as looplab returns it."""
        u1 = max(self.uniform(), 1e-300)
        u2 = self.uniform()
        return float(np.float32(math.sqrt(-2.0 * math.log(u1)) * math.cos(2.0 * math.pi * u2)))

    def normals(self, n):
        """`n` successive `normal()` draws as float32, vectorised (SplitMix64's k-th state is state + k*gamma)."""
        k = np.arange(1, 2 * n + 1, dtype=np.uint64)
        with np.errstate(over="ignore"):
            z = np.uint64(self.state) + k * np.uint64(GAMMA)
            z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
            z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
            z = z ^ (z >> np.uint64(31))
        self.state = (self.state + 2 * n * GAMMA) & MASK
        u = (z >> np.uint64(11)).astype(np.float64) / float(1 << 53)
        u1, u2 = np.maximum(u[0::2], 1e-300), u[1::2]
        return (np.sqrt(-2.0 * np.log(u1)) * np.cos(2.0 * np.pi * u2)).astype(np.float32)


def poisson(lam, rng):
    """Knuth's method in chunks of 30, as looplab draws random depths."""
    total, left = 0, lam
    while left > 0.0:
        chunk = min(left, 30.0)
        left -= chunk
        limit = math.exp(-chunk)
        product = rng.uniform()
        while product > limit:
            total += 1
            product *= rng.uniform()
    return total
