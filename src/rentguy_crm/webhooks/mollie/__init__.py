"""Mollie's payment webhook: `POST id=tr_…`, the payment fetched back from Mollie, `payment.received` once."""
