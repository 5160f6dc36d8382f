"""One torch thread: the coding path must not depend on it, and the shared test machine is busy."""

import torch

torch.set_num_threads(1)
