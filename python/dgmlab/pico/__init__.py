"""PICO: pragmatic compression that keeps what the user acts on (Reddy, Dragan & Levine, NeurIPS 2021).

Modules (imported directly, so that ``dgmlab --help`` does not load torch):

- :mod:`dgmlab.pico.masking`: budgets (randomised rounding), top-k, random and relaxed masks.
- :mod:`dgmlab.pico.bitstream`: the real bitstream (kept latents + mask) on dgmlab's rANS coder.
- :mod:`dgmlab.pico.domain`: what PICO needs of a domain; prior-sample and hold-previous fills.
- :mod:`dgmlab.pico.nets`, :mod:`dgmlab.pico.core`: compressor, discriminator, reward model and the training loop.
- :mod:`dgmlab.pico.evaluate`: agreement vs real bits; :mod:`dgmlab.pico.plots`: figures.
- :mod:`dgmlab.pico.digits`, :mod:`dgmlab.pico.digits_sweep`, :mod:`dgmlab.pico.image_codecs`: the digits domain.
- :mod:`dgmlab.pico.car_racing`, :mod:`dgmlab.pico.car_sweep`: car racing and the closed loop.
- :mod:`dgmlab.pico.human`: query export, keyboard labelling and CSV label ingest for real users.
"""
