from .assigners import *  # noqa: F401,F403
from .assigners import __all__ as _assigners
from .coders import *  # noqa: F401,F403
from .coders import __all__ as _coders

__all__ = _assigners + _coders
