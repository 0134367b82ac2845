"""Rate-limit profiles per tenant (strict, standard, relaxed), switchable for a while, enforced with `limits`."""
