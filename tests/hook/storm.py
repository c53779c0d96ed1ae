"""Build a storm of signed deliveries from the vendored payloads."""

from __future__ import annotations

import random
import uuid

from tests.hook.helpers import EXAMPLES, example_bytes
from tests.kit.webhooks import Delivery, headers


def build_storm(
    total: int, repeat_ratio: float = 0.10, bad_ratio: float = 0.05, seed: int = 7
) -> list[Delivery]:
    """`total` deliveries: a share repeats earlier delivery ids, a share is badly signed."""
    rng = random.Random(seed)
    stems = sorted(EXAMPLES)
    n_repeat = int(total * repeat_ratio)
    n_bad = int(total * bad_ratio)
    originals: list[Delivery] = []
    for i in range(total - n_repeat - n_bad):
        stem = stems[i % len(stems)]
        body = example_bytes(stem)
        did = str(uuid.UUID(int=rng.getrandbits(128)))
        originals.append(
            Delivery(did, EXAMPLES[stem], body, headers(body, did, EXAMPLES[stem]), True)
        )
    repeats = [rng.choice(originals) for _ in range(n_repeat)]
    bad: list[Delivery] = []
    for _ in range(n_bad):
        stem = rng.choice(stems)
        body = example_bytes(stem)
        did = str(uuid.UUID(int=rng.getrandbits(128)))
        hdrs = headers(body, did, EXAMPLES[stem], secret="not-the-secret")
        bad.append(Delivery(did, EXAMPLES[stem], body, hdrs, False))
    storm = originals + repeats + bad
    rng.shuffle(storm)
    return storm
