"""World Models (Ha & Schmidhuber 2018) on Gymnasium CarRacing-v3: VAE, MDN-RNN, CMA-ES controller, dreams.

Run the whole thing with ``dgmlab wm run --config small --run runs/wm``; see ``pipeline`` for the stages and the
run directory layout, and README's "World Models (car racing)" for results. Submodules import torch/gymnasium only
when used.
"""

__all__: list[str] = []
