"""Per-token rate limit of /scim/v2: a token bucket in this process's memory.

Each token may send SCIM_RATE_PER_SECOND requests a second on average with bursts of SCIM_RATE_BURST
(Microsoft Entra sends about 25 a second per tenant); above that the answer is 429 with Retry-After,
which Entra honours. Buckets are per token, so one customer's load never uses up another's.
With several worker processes each keeps its own buckets (the limit is per process).
"""

import math
import threading
import time

MAX_BUCKETS = 10_000  # tokens seen; the least recently used are forgotten beyond this


class TokenBuckets:
    def __init__(self, clock=time.monotonic):
        self.clock = clock
        self.buckets = {}  # token id -> (tokens, last refill)
        self.lock = threading.Lock()

    def take(self, key, rate, burst):
        """0 when a request of `key` may go now; else the seconds until it may (Retry-After)."""
        now = self.clock()
        with self.lock:
            tokens, last = self.buckets.pop(key, (burst, now))
            tokens = min(burst, tokens + (now - last) * rate)
            wait = 0 if tokens >= 1 else math.ceil((1 - tokens) / rate)
            self.buckets[key] = (tokens - 1 if not wait else tokens, now)
            if len(self.buckets) > MAX_BUCKETS:
                self.buckets.pop(next(iter(self.buckets)))
            return wait


BUCKETS = TokenBuckets()
