"""Where readings come from: a :class:`Reader` per device. The simulated ones drift like real
sensors do; a driver for real hardware implements the same two members and replaces them."""

from __future__ import annotations

import math
import random
import time
from typing import Protocol


class Reader(Protocol):
    """A source of readings for one device."""

    metrics: tuple[str, ...]

    def read(self) -> dict[str, float]:
        """One reading of every metric, e.g. ``{"temp": 21.3, "humidity": 44.0}``."""
        ...


class _Drift:
    """A mean-reverting random walk around a slow daily cycle, clamped to a range."""

    def __init__(
        self,
        *,
        rng: random.Random,
        base: float,
        swing: float,
        noise: float,
        low: float,
        high: float,
    ) -> None:
        self.rng = rng
        self.base, self.swing, self.noise = base, swing, noise
        self.low, self.high = low, high
        self.offset = rng.uniform(-swing, swing) / 2
        self.phase = rng.uniform(0, 2 * math.pi)

    def next(self, now: float) -> float:
        daily = self.swing * math.sin(2 * math.pi * now / 86400 + self.phase)
        self.offset += self.rng.gauss(0, self.noise) - 0.05 * self.offset
        return min(self.high, max(self.low, self.base + daily + self.offset))


class SimulatedRaspberryPi:
    """A Raspberry Pi with a DHT22: temperature (°C) and relative humidity (%)."""

    metrics = ("temp", "humidity")

    def __init__(self, *, seed: int | None = None) -> None:
        rng = random.Random(seed)
        self._temp = _Drift(rng=rng, base=22.0, swing=3.0, noise=0.05, low=-40, high=80)
        self._humidity = _Drift(rng=rng, base=45.0, swing=8.0, noise=0.2, low=0, high=100)

    def read(self) -> dict[str, float]:
        now = time.time()
        return {
            "temp": round(self._temp.next(now), 2),
            "humidity": round(self._humidity.next(now), 1),
        }


class SimulatedEdison:
    """An Intel Edison with a temperature sensor and a potentiometer (10-bit ADC, 0..1023)."""

    metrics = ("temp", "pot")

    def __init__(self, *, seed: int | None = None) -> None:
        self._rng = random.Random(seed)
        self._temp = _Drift(rng=self._rng, base=25.0, swing=2.0, noise=0.05, low=-40, high=125)
        self._pot = self._rng.uniform(0, 1023)

    def read(self) -> dict[str, float]:
        if self._rng.random() < 0.02:  # somebody turns the knob
            self._pot = self._rng.uniform(0, 1023)
        self._pot = min(1023.0, max(0.0, self._pot + self._rng.gauss(0, 2)))
        return {"temp": round(self._temp.next(time.time()), 2), "pot": float(round(self._pot))}


READERS: dict[str, type] = {"raspberrypi": SimulatedRaspberryPi, "edison": SimulatedEdison}
