"""Captcha verification (hCaptcha, Turnstile, reCAPTCHA): an outbound call to the vendor's siteverify."""
