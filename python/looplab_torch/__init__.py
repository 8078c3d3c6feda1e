"""looplab_torch: a PyTorch twin of looplab's architectures and training semantics.

- `load(path)`: a model from a looplab checkpoint, a weights-only file or a `looplab export --format torch` folder.
- `LoopLabModel`: every architecture as an nn.Module (model.py); `Trainer`: looplab's training step, AdamW, EMA,
  evaluation and history records (trainer.py); `layout`: looplab's tensor layout and files; `train`: the
  torchrun entry point (`python -m looplab_torch.train`).
"""

from .config import ConfigError, parse as parse_config
from .layout import LayoutError, load, read_data, save_checkpoint
from .model import LoopLabModel
from .trainer import Trainer

__all__ = ["ConfigError", "LayoutError", "LoopLabModel", "Trainer", "load", "parse_config", "read_data",
           "save_checkpoint"]
