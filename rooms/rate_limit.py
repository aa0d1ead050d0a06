import time


class TokenBucket:
    """Per-connection frame budget: `rate` frames a second on average, bursts up to `burst`."""

    def __init__(self, *, rate: float, burst: int) -> None:
        self.rate = rate
        self.burst = burst
        self.tokens = float(burst)
        self.updated = time.monotonic()
        self.reported = 0.0

    def take(self) -> bool:
        now = time.monotonic()
        self.tokens = min(self.burst, self.tokens + (now - self.updated) * self.rate)
        self.updated = now
        if self.tokens >= 1:
            self.tokens -= 1
            return True
        return False

    def should_report(self) -> bool:
        """Tell a flooding client at most once a second, rather than once per dropped frame."""
        now = time.monotonic()
        if now - self.reported >= 1.0:
            self.reported = now
            return True
        return False
